//! A slow TCP proxy that cuts one connection: the first to carry more than
//! `cut_after` bytes towards depot (an upload's), once. Every connection's
//! upstream is paced at `rate` bytes a second, so that a browser's upload
//! takes long enough to be watched, cut and reloaded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

pub struct SlowProxy {
    pub addr: SocketAddr,
    /// Connections cut (0 or 1).
    pub cuts: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    pub async fn start(target: SocketAddr, rate: u64, cut_after: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(AtomicU64::new(0));
        let armed = Arc::new(AtomicBool::new(true));
        let counter = cuts.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (cuts, armed) = (counter.clone(), armed.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let up = pace(client_read, server_write, rate, cut_after, &armed);
                    let down = copy(server_read, client_write);
                    tokio::select! {
                        cut = up => if cut { cuts.fetch_add(1, Ordering::Relaxed); },
                        _ = down => {},
                    }
                });
            }
        });
        Self { addr, cuts, task }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Client to depot, at `rate`; true when this connection was the one cut.
async fn pace(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    rate: u64,
    cut_after: u64,
    armed: &AtomicBool,
) -> bool {
    let mut sent = 0u64;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if sent + n as u64 > cut_after && armed.swap(false, Ordering::Relaxed) {
            // Half of what crosses the line gets through: a body cut mid-way.
            let _ = to.write_all(&buf[..n / 2]).await;
            return true;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
        sent += n as u64;
        // Paced from the first byte on: an idle keep-alive connection saves up no burst.
        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
    }
}

async fn copy(mut from: OwnedReadHalf, mut to: OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 << 10];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
