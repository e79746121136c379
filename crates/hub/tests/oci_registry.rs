//! The OCI chart client against a real registry that authenticates by tokens (the
//! Docker registry token protocol, as Docker Hub and GHCR do): the registry answers
//! 401 with a `Bearer` challenge naming a realm, the client asks the realm for a token
//! with the repository's credentials and retries with it. The registry is the
//! distribution project's `docker-registry`, verifying ES256 tokens against a
//! certificate it trusts; the token server here issues them as that protocol
//! documents (`docs/spec/auth/token.md` of distribution).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use flotilla_source::{Credentials, oci};
use support::registry::Registry;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SERVICE: &str = "charts.test";
const ISSUER: &str = "flotilla-test-token-issuer";

/// The token server's signing key and the certificate the registry trusts for it.
struct Issuer {
    key: rcgen::KeyPair,
    certificate: rcgen::Certificate,
}

impl Issuer {
    fn new() -> Issuer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let certificate = rcgen::CertificateParams::new(vec![ISSUER.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        Issuer { key, certificate }
    }

    /// A JWT granting `actions` on the repositories of `scope`
    /// (`repository:<name>:<actions>`), its certificate in `x5c`.
    fn token(&self, subject: &str, scope: &str) -> String {
        use rcgen::SigningKey as _;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let x5c = base64::engine::general_purpose::STANDARD.encode(self.certificate.der());
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<_> = scope
            .split(' ')
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({"type": kind, "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300,
            "nbf": now - 10, "iat": now - 10, "jti": format!("{now}-{subject}"),
            "access": access,
        });
        let signed = format!(
            "{}.{}",
            url.encode(header.to_string()),
            url.encode(claims.to_string())
        );
        let signature = fixed_width(&self.key.sign(signed.as_bytes()).unwrap());
        format!("{signed}.{}", url.encode(signature))
    }
}

/// An ECDSA signature from its DER form (`SEQUENCE { r INTEGER, s INTEGER }`) to the
/// 64 bytes `r || s` JWS uses.
fn fixed_width(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = &der[2..];
    for _ in 0..2 {
        assert_eq!(rest[0], 0x02, "an INTEGER");
        let len = rest[1] as usize;
        let value = &rest[2..2 + len];
        let value = &value[value.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - value.len()));
        out.extend_from_slice(value);
        rest = &rest[2 + len..];
    }
    out
}

/// Each request the token server saw: its query and `Authorization` header.
type Asked = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// The token server: `GET /token?service=…&scope=…` answered with a token for the
/// scope when the request carries `authorization`, else 401.
async fn token_server(issuer: Arc<Issuer>, authorization: &'static str, asked: Asked) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (issuer, asked) = (issuer.clone(), asked.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                }
                let text = String::from_utf8_lossy(&request).to_string();
                let target = text.split(' ').nth(1).unwrap_or_default().to_string();
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
                let given = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or_else(|| l.strip_prefix("Authorization: "))
                    })
                    .map(str::to_string);
                asked
                    .lock()
                    .unwrap()
                    .push((query.to_string(), given.clone()));
                let scope = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("scope="))
                    .map(percent_decode)
                    .unwrap_or_default();
                let answer = if given.as_deref() == Some(authorization) {
                    let body =
                        serde_json::json!({"token": issuer.token("robot", &scope)}).to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                };
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{address}/token")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Charts pushed to the registry's storage, then read through a registry that
/// demands tokens: with the repository's credentials the client earns a token from
/// the challenge's realm (scope `repository:charts/web:pull`, the service named) and
/// lists and pulls with it; without credentials the realm refuses and so does the
/// client, naming the realm and not the credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_demands_tokens_is_read_with_a_token_from_its_realm() {
    let dir = tempfile::tempdir().unwrap();
    let package = b"a chart package".to_vec();
    {
        let open = Registry::start(dir.path(), "");
        open.push_chart("charts/web", "1.0.0", &package, None);
        open.push_chart("charts/web", "1.1.0+b.2", &package, None);
    }
    let issuer = Arc::new(Issuer::new());
    let bundle = dir.path().join("issuer.pem");
    std::fs::write(&bundle, issuer.certificate.pem()).unwrap();
    let asked = Asked::default();
    // `robot:s3cr3t`, base64.
    let basic = "Basic cm9ib3Q6czNjcjN0";
    let realm = token_server(issuer.clone(), basic, asked.clone()).await;
    let registry = Registry::start(
        dir.path(),
        &format!(
            "  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            bundle.display()
        ),
    );
    let web = oci::RepositoryReference::new(&format!("{}/charts", registry.host), "web").unwrap();
    let robot = oci::Access {
        credentials: Credentials::Basic {
            username: "robot".into(),
            password: "s3cr3t".into(),
        },
        plain_http: true,
        http_fallback: false,
        tls: flotilla_source::Tls::default(),
    };
    let timeout = Duration::from_secs(20);

    let mut versions = oci::versions(&web, &robot, timeout).await.unwrap();
    versions.sort();
    assert_eq!(versions, ["1.0.0", "1.1.0+b.2"]);
    let pulled = oci::pull_chart(&web, "1.1.0+b.2", &robot, 1 << 20, timeout)
        .await
        .unwrap();
    assert_eq!(pulled, package);
    {
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 2, "one token per operation: {asked:?}");
        for (query, authorization) in asked.iter() {
            assert_eq!(
                query,
                &format!("service={SERVICE}&scope=repository%3Acharts%2Fweb%3Apull")
            );
            assert_eq!(authorization.as_deref(), Some(basic));
        }
    }

    let anonymous = oci::Access {
        credentials: Credentials::None,
        plain_http: true,
        http_fallback: false,
        tls: flotilla_source::Tls::default(),
    };
    let refused = oci::versions(&web, &anonymous, timeout)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.ends_with(&format!(
            "asking {realm} for a token: HTTP 401 Unauthorized"
        )),
        "{refused}"
    );
    // A token the registry does not trust (another issuer's key) is refused by it.
    let stranger = Arc::new(Issuer::new());
    let forged = oci::Access {
        credentials: Credentials::Bearer {
            token: stranger.token("robot", "repository:charts/web:pull"),
        },
        plain_http: true,
        http_fallback: false,
        tls: flotilla_source::Tls::default(),
    };
    let refused = oci::versions(&web, &forged, timeout)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("HTTP 401 Unauthorized"), "{refused}");
    assert!(!refused.contains("s3cr3t"), "{refused}");
}
