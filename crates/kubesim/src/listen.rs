//! Accepting and serving connections, plain or TLS, each in its own task and each cuttable.
//!
//! kubesim serves connections itself (instead of `axum::serve`) for the "unreachable" fault:
//! a cluster that goes unreachable must look like a dead network peer, not like a slow server.
//! Every request carries its [`Connection`] as an extension; a cluster remembers the
//! connections that spoke to it ([`Connections`]) and cuts them all when it becomes
//! unreachable, and a request that arrives for an unreachable cluster cuts its own
//! connection without answering. Clients see the TCP connection close (an I/O error, "EOF"
//! or "connection reset") at once. With a listener per cluster ([`crate::ServeOptions`])
//! that listener is also closed, so new connections are refused as with a stopped server.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::tls::Authority;

/// How long a client may take to finish its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Inner {
    id: u64,
    cut: Notify,
    /// The one cluster a per-cluster listener serves; `None` on the shared listener.
    only: Option<String>,
    /// What the client's certificate says, when it presented one: the user it names
    /// when the CA signed it, else why it is not taken.
    certificate: Option<Result<crate::auth::UserInfo, String>>,
}

/// One client connection, as seen by the requests it carries.
#[derive(Clone)]
pub struct Connection(Arc<Inner>);

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.0.id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(
        only: Option<String>,
        certificate: Option<Result<crate::auth::UserInfo, String>>,
    ) -> Connection {
        Connection(Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            cut: Notify::new(),
            only,
            certificate,
        }))
    }

    /// The user this connection's client certificate names (x509 authentication: the
    /// subject's common name, its organizations as groups) when the CA signed it, or why
    /// it is not taken; `None` without a certificate or a common name.
    pub fn client_certificate(&self) -> Option<Result<&crate::auth::UserInfo, &str>> {
        self.0
            .certificate
            .as_ref()
            .map(|c| c.as_ref().map_err(String::as_str))
    }

    /// Close the connection without answering whatever is in flight on it.
    pub fn cut(&self) {
        // A stored permit: the serving task sees it even if it is not waiting right now.
        self.0.cut.notify_one();
    }

    /// Whether requests for `cluster` may use this connection (a per-cluster listener
    /// serves only its own cluster, like a separate API server).
    pub fn serves(&self, cluster: &str) -> bool {
        self.0.only.as_deref().is_none_or(|c| c == cluster)
    }
}

/// The connections that have carried requests for one cluster, weakly held.
#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<u64, Weak<Inner>>>,
}

impl Connections {
    /// Remember `conn` (cheap when it is already known).
    pub fn track(&self, conn: &Connection) {
        let mut open = self.open.lock();
        if open.contains_key(&conn.0.id) {
            return;
        }
        // Forget closed connections now and then, so the map stays as small as the live set.
        if open.len() >= 64 && open.len().is_power_of_two() {
            open.retain(|_, w| w.strong_count() > 0);
        }
        open.insert(conn.0.id, Arc::downgrade(&conn.0));
    }

    /// Cut every connection still open.
    pub fn cut_all(&self) {
        let open = std::mem::take(&mut *self.open.lock());
        for inner in open.values().filter_map(Weak::upgrade) {
            Connection(inner).cut();
        }
    }
}

/// Accept on `listener` until `stop` completes, serving each connection with `app`. Returning
/// drops every connection accepted here.
pub(crate) async fn accept(
    listener: &TcpListener,
    tls: Option<&Arc<Authority>>,
    app: &Router,
    only: Option<&str>,
    stop: impl Future<Output = ()>,
) {
    let mut conns = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let only = only.map(String::from);
                    conns.spawn(serve_one(tcp, peer, tls.cloned(), app.clone(), only));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("kubesim accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn serve_one(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<Authority>>,
    app: Router,
    only: Option<String>,
) {
    let _ = tcp.set_nodelay(true);
    let Some(authority) = tls else {
        return serve_io(tcp, app, Connection::new(only, None)).await;
    };
    let acceptor = authority.acceptor();
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            // The handshake took any certificate; the chain is checked against the CA here,
            // once per connection, and its subject is who.
            let certificate = authority
                .client_user(stream.get_ref().1.peer_certificates())
                .map(|checked| {
                    checked.map(|(name, groups)| {
                        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
                        crate::auth::UserInfo::user(&name, &groups)
                    })
                });
            serve_io(stream, app, Connection::new(only, certificate)).await
        }
        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
    }
}

async fn serve_io<I>(io: I, app: Router, conn: Connection)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = conn.0.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(conn.clone());
        app.clone().oneshot(req)
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let served = builder.serve_connection(TokioIo::new(io), service);
    tokio::select! {
        result = served => {
            if let Err(e) = result {
                tracing::debug!("connection ended: {e}");
            }
        }
        // Dropping the connection closes the socket with nothing more said.
        () = inner.cut.notified() => tracing::debug!("connection {} cut", inner.id),
    }
}

/// Bind `addr` again after it was closed, retrying briefly (the port is ours, but the
/// kernel may take a moment to release it).
pub(crate) async fn rebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("rebind failed")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cut_all_reaches_live_connections_and_forgets_them() {
        let set = Connections::default();
        let a = Connection::new(None, None);
        set.track(&a);
        set.track(&a);
        {
            let gone = Connection::new(None, None);
            set.track(&gone);
        }
        assert_eq!(set.open.lock().len(), 2);
        set.cut_all();
        assert!(set.open.lock().is_empty());
        // The permit is stored: a later wait completes at once.
        tokio::time::timeout(Duration::from_secs(1), a.0.cut.notified())
            .await
            .expect("cut was signalled");
    }

    #[test]
    fn a_per_cluster_connection_serves_only_its_cluster() {
        assert!(Connection::new(None, None).serves("x"));
        let own = Connection::new(Some("a".into()), None);
        assert!(own.serves("a") && !own.serves("b"));
    }
}
