//! The listener: connections accepted within bounds, so that no client can
//! take the server by opening connections and sending nothing (slowloris).
//!
//! - A request's headers must arrive within `header_timeout`, and an idle
//!   kept-alive connection is closed after as long: hyper's header timer
//!   for HTTP/1, and for HTTP/2 (which hyper never times out) a watchdog
//!   that closes a connection with no request running (a response still
//!   streaming counts as running) for as long — which also ends one whose
//!   request's headers never complete. A client that does not take part in
//!   the closing handshake is cut off after as long again.
//! - At most `max_connections` are open; past it depot stops accepting, and
//!   new connections wait in the kernel's backlog, holding no descriptor.
//! - At most `max_connections_per_address` from one address (trusted proxies
//!   excepted: every client comes through them); the excess is closed at once.
//! - Shutdown stops accepting, lets requests in flight finish, and ends
//!   within `shutdown_grace` whatever they do.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::Cidr;

#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Addresses the per-address bound does not apply to.
    pub trusted_proxies: Vec<Cidr>,
    pub shutdown_grace: Duration,
}

/// Open connections per client address; an address leaves the map with its
/// last connection, so the map is bounded by `max_connections`.
#[derive(Clone, Default)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct AddressSlot {
    map: PerAddress,
    ip: IpAddr,
}

impl PerAddress {
    fn try_take(&self, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut map = self.0.lock().expect("never poisoned");
        let open = map.entry(ip).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(AddressSlot {
            map: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().expect("never poisoned");
        if let Some(open) = map.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// What a connection is doing: how many of its requests are being handled,
/// and when the last one began or ended.
struct Activity {
    opened: Instant,
    running: AtomicUsize,
    /// Milliseconds after `opened`.
    last: AtomicU64,
}

/// A request being handled, until its response's body is sent (or dropped);
/// its end counts as activity too.
struct Running(Arc<Activity>);

/// A response body that keeps its request counted as running.
struct Tracked {
    body: Body,
    _running: Running,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            running: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::Relaxed);
        self.touch();
        Running(self.clone())
    }

    /// Completes once no request has run for `timeout`. A response body
    /// still streaming does not count: closing gracefully lets it finish.
    async fn idle(&self, timeout: Duration) {
        loop {
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let quiet = self.opened.elapsed().saturating_sub(last);
            let running = self.running.load(Ordering::Relaxed) > 0;
            if !running && quiet >= timeout {
                return;
            }
            // A long request ends at its own pace: look again a timeout later,
            // not in a tight loop for every connection that carries one.
            let wait = if running {
                timeout
            } else {
                timeout.saturating_sub(quiet)
            };
            tokio::time::sleep(wait.max(Duration::from_millis(250))).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.touch();
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::default();
    // Told to every connection when shutdown begins.
    let (closing, closed) = watch::channel(false);
    let mut running = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, mostly: wait for some to close.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let trusted = limits.trusted_proxies.iter().any(|c| c.contains(peer.ip()));
        let address_slot = match trusted {
            true => None,
            false => match per_address.try_take(peer.ip(), limits.max_connections_per_address) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%peer, "too many connections from one address; closed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let service = {
            let (router, activity) = (router.clone(), activity.clone());
            tower::service_fn(move |req: Request<Incoming>| {
                let running = activity.begin();
                let mut req = req.map(Body::new);
                super::repos::merge_slashes(&mut req);
                req.extensions_mut().insert(ConnectInfo(peer));
                let response = router.clone().oneshot(req);
                async move {
                    let response = response.await?;
                    Ok::<_, std::convert::Infallible>(response.map(|body| {
                        Body::new(Tracked {
                            body,
                            _running: running,
                        })
                    }))
                }
            })
        };
        let idle_after = limits.header_timeout;
        let builder = builder.clone();
        let mut closed = closed.clone();
        running.spawn(async move {
            let _held = (permit, address_slot);
            let io = TokioIo::new(stream);
            let service = TowerToHyperService::new(service);
            let mut connection =
                std::pin::pin!(builder.serve_connection_with_upgrades(io, service));
            let idle = tokio::select! {
                _ = connection.as_mut() => return,
                _ = closed.wait_for(|closing| *closing) => false,
                () = activity.idle(idle_after) => true,
            };
            connection.as_mut().graceful_shutdown();
            if idle {
                // Nothing runs: the closing handshake (HTTP/2's GOAWAY and
                // PING) is all that is left, and a client may never answer.
                let _ = tokio::time::timeout(idle_after, connection).await;
            } else {
                let _ = connection.await;
            }
        });
        // Reap finished connections as we go, so the set stays small.
        while running.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = running.len(),
            grace = ?limits.shutdown_grace,
            "requests still running at the end of the shutdown grace; closing them"
        );
        running.abort_all();
    }
}

/// Raises the soft limit of open files to the hard limit (as Go does at
/// start): each connection is a descriptor, and distributions' soft default
/// (1024) is far below what a server should accept.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    }
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_its_share() {
        let map = PerAddress::default();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let a = map.try_take(ip, 2).unwrap();
        let _b = map.try_take(ip, 2).unwrap();
        assert!(map.try_take(ip, 2).is_none());
        assert!(map.try_take("127.0.0.1".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(map.try_take(ip, 2).is_some());
    }

    #[test]
    fn addresses_leave_with_their_last_connection() {
        let map = PerAddress::default();
        for i in 0..100u8 {
            drop(map.try_take(IpAddr::from([10, 0, 0, i]), 4).unwrap());
        }
        assert!(map.0.lock().unwrap().is_empty());
    }
}
