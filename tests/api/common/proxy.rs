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
