//! The listener: connections accepted within bounds, so that no client can
//! take the server by opening connections and sending nothing (slowloris).
//!
//! - A request's headers must arrive within `header_timeout`, and an idle
//!   kept-alive connection is closed after as long (hyper's header timer).
//! - At most `max_connections` are open; past it depot stops accepting, and
//!   new connections wait in the kernel's backlog, holding no descriptor.
//! - At most `max_connections_per_address` from one address (trusted proxies
//!   excepted: every client comes through them); the excess is closed at once.
//! - Shutdown stops accepting, lets requests in flight finish, and ends
//!   within `shutdown_grace` whatever they do.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        let service = router.clone().map_request(move |req: Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let builder = builder.clone();
        let mut closed = closed.clone();
        running.spawn(async move {
            let _held = (permit, address_slot);
            let io = TokioIo::new(stream);
            let service = TowerToHyperService::new(service);
            let mut connection =
                std::pin::pin!(builder.serve_connection_with_upgrades(io, service));
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = closed.wait_for(|closing| *closing) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
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
