//! The egress policy: which addresses the hub's outbound HTTP — Git, Helm repositories,
//! OCI registries, forge APIs — may connect to. Tenants choose those URLs (a
//! GitRepository, a HelmRepository, a pull request generator's `api`), so without it a
//! tenant could point the hub at a cloud metadata endpoint or at the hub's own API.
//!
//! The check runs after DNS resolution, on the very address the connection is then made
//! to ([`GuardedConnector`]), so a name that resolves to a refused address, or a literal
//! IP, is refused alike, and a second lookup cannot change the answer in between.
//! Link-local addresses (169.254.0.0/16, fe80::/10: where clouds serve instance
//! credentials) are always refused; the controller adds its hub API's address and what
//! `--egress-deny` names.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{OnceLock, RwLock};
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A refused destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Every address of a network (`10.0.0.0/8`, `fd00::/8`).
    Network {
        /// The network's address.
        address: IpAddr,
        /// Its prefix length.
        prefix: u8,
        /// Why, for the error.
        reason: String,
    },
    /// One address and port (the hub's API server).
    Socket {
        /// The address.
        address: SocketAddr,
        /// Why, for the error.
        reason: String,
    },
}

/// Why a `--egress-deny` entry could not be read.
#[derive(Debug, thiserror::Error)]
#[error("egress rule {rule:?}: {reason}")]
pub struct RuleError {
    rule: String,
    reason: String,
}

impl Denied {
    /// Reads `CIDR`, a bare IP (the whole address) or `IP:PORT` (`[v6]:port`).
    pub fn parse(rule: &str) -> Result<Denied, RuleError> {
        let error = |reason: &str| RuleError {
            rule: rule.to_string(),
            reason: reason.to_string(),
        };
        let reason = format!("denied by --egress-deny {rule}");
        if let Ok(address) = rule.parse::<SocketAddr>() {
            return Ok(Denied::Socket { address, reason });
        }
        let (address, prefix) = match rule.split_once('/') {
            Some((address, prefix)) => (
                address,
                Some(
                    prefix
                        .parse::<u8>()
                        .map_err(|_| error("the prefix length is not a number"))?,
                ),
            ),
            None => (rule, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| error("expected CIDR, IP or IP:PORT"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(error(&format!("the prefix length exceeds {max}")));
        }
        Ok(Denied::Network {
            address,
            prefix,
            reason,
        })
    }

    fn matches(&self, target: SocketAddr) -> Option<&str> {
        match self {
            Denied::Socket { address, reason } => (canonical(address.ip())
                == canonical(target.ip())
                && address.port() == target.port())
            .then_some(reason),
            Denied::Network {
                address,
                prefix,
                reason,
            } => in_network(canonical(target.ip()), canonical(*address), *prefix).then_some(reason),
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The addresses outbound connections may not reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    denied: Vec<Denied>,
}

impl Default for EgressPolicy {
    /// Link-local only (IPv4 and IPv6).
    fn default() -> Self {
        let link_local = |address: IpAddr, prefix| Denied::Network {
            address,
            prefix,
            reason: "link-local addresses (cloud instance metadata) are never reached".into(),
        };
        EgressPolicy {
            denied: vec![
                link_local(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16),
                link_local(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
            ],
        }
    }
}

impl EgressPolicy {
    /// The default policy and `denied` besides.
    pub fn with(denied: impl IntoIterator<Item = Denied>) -> Self {
        let mut policy = EgressPolicy::default();
        policy.denied.extend(denied);
        policy
    }

    /// Why `target` is refused, if it is.
    pub fn refuses(&self, target: SocketAddr) -> Option<&str> {
        self.denied.iter().find_map(|d| d.matches(target))
    }

    /// Why `target` is refused by a network rule (link-local, a CIDR or a bare IP), if it
    /// is: what a Kubernetes API server a tenant names is checked against (the socket
    /// rules are services sources must not call, such as the hub's API, which a
    /// kubeconfig may rightly name).
    pub fn refuses_network(&self, target: SocketAddr) -> Option<&str> {
        self.denied
            .iter()
            .filter(|d| matches!(d, Denied::Network { .. }))
            .find_map(|d| d.matches(target))
    }
}

/// Checks a Kubernetes API server a tenant names (a Flux `kubeConfig`): every address
/// `server` resolves to against the network rules; the first refusal. The connection
/// itself is made later by the Kubernetes client, which resolves the name again.
pub async fn check_api_server(server: &Uri) -> Result<(), String> {
    let Some(host) = server.host() else {
        return Ok(());
    };
    let addresses = addresses_of(server)
        .await
        .map_err(|e| format!("resolving {host}: {e}"))?;
    let policy = policy();
    for address in addresses {
        if let Some(reason) = policy.refuses_network(address) {
            return Err(format!(
                "the egress policy refuses {host} ({address}: {reason})"
            ));
        }
    }
    Ok(())
}

fn current() -> &'static RwLock<EgressPolicy> {
    static POLICY: OnceLock<RwLock<EgressPolicy>> = OnceLock::new();
    POLICY.get_or_init(|| RwLock::new(EgressPolicy::default()))
}

/// Sets the policy every outbound connection of this process is checked against (the
/// controller does once, at start).
pub fn set_policy(policy: EgressPolicy) {
    *current().write().unwrap_or_else(|e| e.into_inner()) = policy;
}

/// The policy in force.
pub fn policy() -> EgressPolicy {
    current().read().unwrap_or_else(|e| e.into_inner()).clone()
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An HTTP connector that resolves the host itself, refuses what the policy refuses, and
/// connects to the address it checked.
#[derive(Clone)]
pub(crate) struct GuardedConnector {
    inner: HttpConnector,
}

impl GuardedConnector {
    pub(crate) fn new() -> Self {
        let mut inner = HttpConnector::new();
        // TLS wraps this connector; it sees https URIs too.
        inner.enforce_http(false);
        GuardedConnector { inner }
    }
}

/// The addresses `host` stands for: itself when it is an IP literal, else its DNS answers.
async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    Ok(tokio::net::lookup_host((bare, port)).await?.collect())
}

/// The addresses `uri`'s host stands for, at its port (else 80 for `http`, 443
/// otherwise); none without a host.
pub async fn addresses_of(uri: &Uri) -> std::io::Result<Vec<SocketAddr>> {
    let Some(host) = uri.host() else {
        return Ok(Vec::new());
    };
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    resolve(host, port).await
}

/// The first address of `addresses` the policy allows, or why none is.
fn choose(
    policy: &EgressPolicy,
    host: &str,
    addresses: &[SocketAddr],
) -> Result<SocketAddr, String> {
    let mut refusals = Vec::new();
    for address in addresses {
        match policy.refuses(*address) {
            None => return Ok(*address),
            Some(reason) => refusals.push(format!("{address}: {reason}")),
        }
    }
    if refusals.is_empty() {
        return Err(format!("{host} resolved to no address"));
    }
    Err(format!(
        "the egress policy refuses {host} ({})",
        refusals.join("; ")
    ))
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.inner, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let host = uri.host().ok_or("the URI has no host")?.to_string();
            let addresses = addresses_of(&uri).await?;
            let address = choose(&policy(), &host, &addresses).map_err(|message| {
                std::io::Error::new(std::io::ErrorKind::PermissionDenied, message)
            })?;
            // The checked address, not the name: no second lookup can answer otherwise.
            let target: Uri = format!("http://{address}/").parse()?;
            let stream = tower_service::Service::<Uri>::call(&mut inner, target).await?;
            Ok(stream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn link_local_is_refused_in_every_spelling() {
        let policy = EgressPolicy::default();
        for target in [
            "169.254.169.254:80",
            "169.254.0.1:443",
            "[fe80::1]:80",
            "[::ffff:169.254.169.254]:80",
        ] {
            assert!(policy.refuses(addr(target)).is_some(), "{target}");
        }
        for target in [
            "127.0.0.1:80",
            "10.0.0.1:443",
            "[::1]:80",
            "93.184.216.34:443",
        ] {
            assert_eq!(policy.refuses(addr(target)), None, "{target}");
        }
    }

    #[test]
    fn rules_name_networks_addresses_and_sockets() {
        let policy = EgressPolicy::with([
            Denied::parse("10.0.0.0/8").unwrap(),
            Denied::parse("127.0.0.1:6443").unwrap(),
            Denied::parse("fd00::/8").unwrap(),
            Denied::parse("192.0.2.7").unwrap(),
        ]);
        assert!(policy.refuses(addr("10.1.2.3:443")).is_some());
        assert!(policy.refuses(addr("11.0.0.1:443")).is_none());
        assert_eq!(
            policy.refuses(addr("127.0.0.1:6443")),
            Some("denied by --egress-deny 127.0.0.1:6443")
        );
        assert!(
            policy.refuses(addr("127.0.0.1:8080")).is_none(),
            "another port of the same host"
        );
        assert!(policy.refuses(addr("[fd12::1]:80")).is_some());
        assert!(policy.refuses(addr("192.0.2.7:1")).is_some());
        assert!(policy.refuses(addr("192.0.2.8:1")).is_none());
        for bad in ["10.0.0.0/33", "fd00::/129", "example.com", "10.0.0.0/x", ""] {
            assert!(Denied::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_allowed_address_is_chosen_and_refusals_explained() {
        let policy = EgressPolicy::default();
        let both = [addr("169.254.169.254:80"), addr("127.0.0.1:80")];
        assert_eq!(choose(&policy, "mixed", &both), Ok(addr("127.0.0.1:80")));
        let message = choose(&policy, "metadata.internal", &both[..1]).unwrap_err();
        assert_eq!(
            message,
            "the egress policy refuses metadata.internal (169.254.169.254:80: link-local addresses (cloud instance metadata) are never reached)"
        );
        assert!(choose(&policy, "none", &[]).is_err());
    }
}
