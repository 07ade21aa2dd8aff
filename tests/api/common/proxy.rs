//! A TCP proxy that cuts every connection after it carried a number of
//! bytes (either way): a bad network, reproducibly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct CuttingProxy {
    pub addr: SocketAddr,
    /// Connections cut so far.
    pub cuts: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// Forwards to `target`; each connection dies once it carried `budget` bytes.
    pub async fn start(target: SocketAddr, budget: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(AtomicU64::new(0));
        let counter = cuts.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let cuts = counter.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    if relay(client, server, budget).await {
                        cuts.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        Self { addr, cuts, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays both ways; returns whether the budget (bytes either way) ran out
/// and the connection was cut.
async fn relay(client: TcpStream, server: TcpStream, budget: u64) -> bool {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let used = AtomicU64::new(0);
    tokio::select! {
        cut = pump(client_read, server_write, &used, budget) => cut,
        cut = pump(server_read, client_write, &used, budget) => cut,
    }
    // Dropping all four halves closes both connections.
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    used: &AtomicU64,
    budget: u64,
) -> bool {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n as u64,
        };
        let before = used.fetch_add(n, Ordering::Relaxed);
        let allowed = budget.saturating_sub(before).min(n) as usize;
        if to.write_all(&buf[..allowed]).await.is_err() {
            return false;
        }
        if before + n >= budget {
            return true;
        }
    }
}

/// What makes `StallingProxy` stall a connection.
#[derive(Clone, Copy)]
pub enum Stall {
    /// More than this many bytes sent by the client on it.
    After(u64),
    /// A request on it that carries this (a header's name, say).
    On(&'static str),
}

impl Stall {
    fn fires(self, sent: u64, read: &[u8]) -> bool {
        match self {
            Stall::After(bytes) => sent > bytes,
            Stall::On(text) => read.windows(text.len()).any(|w| w == text.as_bytes()),
        }
    }
}

/// A TCP proxy in front of a server that stops reading: the first `stalls`
/// connections on which the client sends what `when` names are no longer
/// relayed from that point on, as a store too busy to read a request, which
/// never answers it. Other connections pass untouched.
pub struct StallingProxy {
    pub addr: SocketAddr,
    /// Connections stalled so far.
    pub stalled: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl StallingProxy {
    pub async fn start(target: SocketAddr, when: Stall, stalls: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stalled = Arc::new(AtomicU64::new(0));
        let counter = stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let stalled = counter.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client_read, client_write) = client.into_split();
                    let (server_read, mut server_write) = server.into_split();
                    let upstream = async {
                        let mut buf = vec![0u8; 16 << 10];
                        let mut sent = 0u64;
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            sent += n as u64;
                            if when.fires(sent, &buf[..n])
                                && stalled
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                                        (s < stalls).then_some(s + 1)
                                    })
                                    .is_ok()
                            {
                                // Held open and unread well past any client's patience.
                                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                                return;
                            }
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let relayed = AtomicU64::new(0);
                    let downstream = pump(server_read, client_write, &relayed, u64::MAX);
                    tokio::select! {
                        () = upstream => {},
                        _ = downstream => {},
                    }
                });
            }
        });
        Self {
            addr,
            stalled,
            task,
        }
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
