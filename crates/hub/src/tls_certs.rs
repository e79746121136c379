//! Argo CD's `argocd-tls-certs-cm`: certificates that HTTPS repository servers are
//! verified against, keyed by the server's host name (the URL's host without its port).
//! A host with certificates is trusted by them alone, as Argo CD's repo-server builds
//! the pool from that host's file only; any other host by the platform's roots.
//!
//! Deviation: Argo CD falls back to the platform's roots when a host's certificates
//! cannot be read; here fetches from that host fail, naming the ConfigMap key, so a
//! typo cannot quietly widen the trust.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use flotilla_source::{GitUrl, Scheme, ServerTrust};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

/// The ConfigMap's name, in Argo CD's namespace.
pub const ARGOCD_TLS_CERTS_CM: &str = "argocd-tls-certs-cm";

/// What one host's key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostCertificates {
    /// A readable bundle.
    Trusted(ServerTrust),
    /// Why the key cannot be used.
    Unreadable(String),
}

/// The certificates by host (lower case, as hosts compare).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsCerts {
    by_host: BTreeMap<String, HostCertificates>,
}

impl TlsCerts {
    /// The ConfigMap's `data` (and `binaryData`, which Argo CD mounts alike).
    pub fn from_config_map(config_map: &ConfigMap) -> TlsCerts {
        let text = config_map
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k, v.as_bytes().to_vec()));
        let binary = config_map
            .binary_data
            .iter()
            .flatten()
            .map(|(k, v)| (k, v.0.clone()));
        let mut by_host = BTreeMap::new();
        for (host, pem) in text.chain(binary) {
            let trust = ServerTrust::Only(pem);
            let origin = format!("{ARGOCD_TLS_CERTS_CM}: key {host:?}");
            let entry = match trust.check(&origin) {
                Ok(()) => HostCertificates::Trusted(trust),
                Err(e) => {
                    tracing::warn!(error = %e, "unusable TLS certificates");
                    HostCertificates::Unreadable(e.to_string())
                }
            };
            by_host.insert(host.to_ascii_lowercase(), entry);
        }
        TlsCerts { by_host }
    }

    /// Whom an HTTPS server at `url` must be: its host's certificates, else the
    /// platform's roots; why not, when its host's certificates cannot be read. Other
    /// schemes are not TLS.
    pub fn trust_for(&self, url: &str) -> Result<ServerTrust, String> {
        // Asked for every source of every reconcile: no parsing when nothing is named.
        if self.by_host.is_empty() {
            return Ok(ServerTrust::Platform);
        }
        let Ok(parsed) = GitUrl::parse(url) else {
            return Ok(ServerTrust::Platform);
        };
        if parsed.scheme() != Scheme::Https {
            return Ok(ServerTrust::Platform);
        }
        self.trust_for_host(parsed.host())
    }

    /// Whom the HTTPS server `host` (a port, if any, ignored) must be: what
    /// [`TlsCerts::trust_for`] gives a URL of that host. For registries, named by host.
    pub fn trust_for_host(&self, host: &str) -> Result<ServerTrust, String> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        match self.by_host.get(&name.to_ascii_lowercase()) {
            None => Ok(ServerTrust::Platform),
            Some(HostCertificates::Trusted(trust)) => Ok(trust.clone()),
            Some(HostCertificates::Unreadable(why)) => Err(why.clone()),
        }
    }
}

/// Keeps `certs` as the ConfigMap in `namespace` says (none when it is absent).
pub async fn run(hub: kube::Client, namespace: String, certs: Arc<RwLock<TlsCerts>>) {
    let api: Api<ConfigMap> = Api::namespaced(hub, &namespace);
    let mut events = std::pin::pin!(crate::controller::watch_named(api, ARGOCD_TLS_CERTS_CM));
    while let Some(seen) = events.next().await {
        let read = seen
            .as_ref()
            .map(TlsCerts::from_config_map)
            .unwrap_or_default();
        *certs.write().unwrap_or_else(|e| e.into_inner()) = read;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    fn config_map(data: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn an_https_host_named_by_a_key_trusts_its_certificates_alone() {
        let pem = ca_pem();
        let certs = TlsCerts::from_config_map(&config_map(&[("git.example.com", &pem)]));
        let only = Ok(ServerTrust::Only(pem.into_bytes()));
        assert_eq!(
            certs.trust_for("https://git.example.com/team/repo.git"),
            only
        );
        assert_eq!(
            certs.trust_for("https://git.example.com:8443/team/repo.git"),
            only,
            "the key is the host without its port"
        );
        assert_eq!(certs.trust_for("https://GIT.example.com/repo"), only);
        assert_eq!(certs.trust_for_host("git.example.com:5000"), only);
        assert_eq!(certs.trust_for_host("git.example.com"), only);
        for other in [
            "https://github.com/team/repo.git",
            "http://git.example.com/team/repo.git",
            "git@git.example.com:team/repo.git",
            "not a url",
        ] {
            assert_eq!(certs.trust_for(other), Ok(ServerTrust::Platform), "{other}");
        }
    }

    #[test]
    fn a_key_without_a_certificate_fails_that_host_by_name() {
        let certs = TlsCerts::from_config_map(&config_map(&[
            (
                "git.example.com",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
            ("charts.example.com", "no pem here"),
        ]));
        let err = certs
            .trust_for("https://git.example.com/r.git")
            .unwrap_err();
        assert!(
            err.starts_with("argocd-tls-certs-cm: key \"git.example.com\": invalid certificate: "),
            "{err}"
        );
        assert_eq!(
            certs.trust_for("https://charts.example.com/r.git"),
            Err("argocd-tls-certs-cm: key \"charts.example.com\": no PEM certificate found".into())
        );
    }

    #[test]
    fn binary_data_is_read_as_argo_cd_mounts_it() {
        let pem = ca_pem();
        let cm = ConfigMap {
            binary_data: Some(BTreeMap::from([(
                "git.example.com".to_string(),
                k8s_openapi::ByteString(pem.clone().into_bytes()),
            )])),
            ..Default::default()
        };
        assert_eq!(
            TlsCerts::from_config_map(&cm).trust_for("https://git.example.com/r"),
            Ok(ServerTrust::Only(pem.into_bytes()))
        );
    }
}
