//! A logging stand-in for the object store: a TCP relay in front of it that
//! keeps every byte clients send it, so a test can prove what reached the
//! store (no Basic or Bearer credential of depot's users, ever).
//!
//! It relays bytes unchanged: a presigned URL signed for the relay's address
//! stays valid, since S3 checks the signature against the `Host` it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The bytes one client connection sent.
type Connection = Arc<Mutex<Vec<u8>>>;

pub struct StoreRecorder {
    pub addr: SocketAddr,
    /// What each connection sent, one buffer per connection: concurrent
    /// connections (depot's own S3 calls among them) must not interleave.
    sent: Arc<Mutex<Vec<Connection>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StoreRecorder {
    /// Relays to `target` (`http://HOST:PORT` of the store).
    pub async fn start(target: &str) -> Self {
        let target: SocketAddr = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the store's endpoint is http://ADDRESS:PORT");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = {
                    let connection = Arc::new(Mutex::new(Vec::new()));
                    log.lock().unwrap().push(connection.clone());
                    connection
                };
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        relay(client, server, log).await;
                    }
                });
            }
        });
        Self { addr, sent, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every header line clients sent (bodies included, read as lines: a
    /// header split over reads is still one line here).
    /// Every connection's bytes, each ending with a line break.
    fn sent(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for connection in self.sent.lock().unwrap().iter() {
            all.extend_from_slice(&connection.lock().unwrap());
            all.extend_from_slice(b"\r\n");
        }
        all
    }

    pub fn header_lines(&self) -> Vec<String> {
        let sent = self.sent();
        String::from_utf8_lossy(&sent)
            .split("\r\n")
            .filter(|l| l.contains(": ") && l.len() < 8192)
            .map(str::to_string)
            .collect()
    }

    /// Request lines (`GET /bucket/key?X-Amz-… HTTP/1.1`).
    pub fn request_lines(&self) -> Vec<String> {
        let sent = self.sent();
        String::from_utf8_lossy(&sent)
            .split("\r\n")
            .filter(|l| {
                ["GET ", "HEAD ", "PUT ", "POST ", "DELETE "]
                    .iter()
                    .any(|m| l.starts_with(m))
                    && l.ends_with(" HTTP/1.1")
            })
            .map(str::to_string)
            .collect()
    }

    /// Whether `needle` appears anywhere in what clients sent.
    pub fn saw(&self, needle: &str) -> bool {
        let sent = self.sent();
        sent.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// The `Authorization` headers that reached the store with a scheme other
    /// than S3's own signatures (`AWS4-HMAC-SHA256`): there must be none.
    pub fn foreign_authorizations(&self) -> Vec<String> {
        self.header_lines()
            .into_iter()
            .filter(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .filter(|l| !l.contains("AWS4-HMAC-SHA256"))
            .collect()
    }
}

impl Drop for StoreRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, log: Connection) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            log.lock().unwrap().extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
