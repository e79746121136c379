//! The client side of `kubesim fault`: one POST to a running kubesim's admin endpoint, over
//! plain HTTP or over TLS trusting the CA in the kubeconfig `kubesim serve` wrote.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// POST `body` (JSON) to `url`; returns the status and the response body.
pub(crate) async fn post_json(
    url: &str,
    body: Vec<u8>,
    kubeconfig: &Path,
) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("invalid URL {url}"))?;
    let host = uri
        .host()
        .context("the server URL has no host")?
        .to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let req = hyper::Request::post(&uri)
        .header("content-type", "application/json")
        .header("host", format!("{host}:{port}"))
        .body(Full::new(Bytes::from(body)))?;
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let resp = if https {
        let tls = tokio_rustls::TlsConnector::from(Arc::new(client_config(kubeconfig)?))
            .connect(
                ServerName::try_from(host.trim_matches(['[', ']']).to_string())?,
                tcp,
            )
            .await
            .context("TLS handshake")?;
        send(TokioIo::new(tls), req).await?
    } else {
        send(TokioIo::new(tcp), req).await?
    };
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

async fn send<T>(
    io: T,
    req: hyper::Request<Full<Bytes>>,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("admin connection: {e}");
        }
    });
    Ok(sender.send_request(req).await?)
}

/// Trust exactly the CA of the kubeconfig's first cluster (every cluster of one kubesim
/// shares it).
fn client_config(kubeconfig: &Path) -> anyhow::Result<rustls::ClientConfig> {
    use base64::Engine;
    let text = std::fs::read_to_string(kubeconfig)
        .with_context(|| format!("reading the CA from {}", kubeconfig.display()))?;
    let doc: serde_json::Value = serde_saphyr::from_str(&text)
        .with_context(|| format!("parsing {}", kubeconfig.display()))?;
    let Some(data) = doc
        .pointer("/clusters/0/cluster/certificate-authority-data")
        .and_then(serde_json::Value::as_str)
    else {
        bail!(
            "{} has no certificate-authority-data (was kubesim started with --insecure-http?)",
            kubeconfig.display()
        );
    };
    let pem = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .context("decoding certificate-authority-data")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.context("reading the CA certificate")?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
