//! A real OCI registry for tests: the distribution project's `docker-registry` on
//! 127.0.0.1 with its storage in a test directory, and a chart pushed into it the way
//! `helm push` pushes one (a Helm config blob, the packaged chart as the one layer, an
//! OCI manifest tagged with the version, `+` written `_`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Helm's media types (`pkg/registry/constants.go`).
pub(crate) const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub(crate) const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// A running `docker-registry`, stopped when dropped.
pub(crate) struct Registry {
    /// `127.0.0.1:port`.
    pub(crate) host: String,
    child: Child,
    log: PathBuf,
}

impl Registry {
    /// Starts `docker-registry` over plain HTTP with its storage in `dir/data`; `auth`
    /// is the configuration's `auth:` section (indented by two), empty for none.
    pub(crate) fn start(dir: &Path, auth: &str) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join(format!("registry-{port}.yml"));
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("auth:\n{auth}")
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n{auth}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let log = dir.join(format!("registry-{port}.log"));
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("docker-registry runs (scripts/test installs the docker-registry package)");
        let registry = Registry { host, child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.host).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                std::fs::read_to_string(&registry.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// Pushes a chart package as `repository:version` the way `helm push` does.
    pub(crate) fn push_chart(
        &self,
        repository: &str,
        version: &str,
        package: &[u8],
        authorization: Option<&str>,
    ) -> String {
        let config = format!(r#"{{"apiVersion":"v2","name":"chart","version":"{version}"}}"#);
        self.push(
            repository,
            &version.replace('+', "_"),
            (HELM_CONFIG, config.as_bytes()),
            (CHART_LAYER, package),
            authorization,
        )
    }

    /// Pushes an artifact of one config and one layer (each a media type and its
    /// bytes), tagged `tag`; the manifest's digest.
    pub(crate) fn push(
        &self,
        repository: &str,
        tag: &str,
        config: (&str, &[u8]),
        layer: (&str, &[u8]),
        authorization: Option<&str>,
    ) -> String {
        self.push_layers(repository, tag, config, &[layer], authorization)
    }

    /// Pushes an artifact of one config and `layers`, tagged `tag`; the manifest's
    /// digest.
    pub(crate) fn push_layers(
        &self,
        repository: &str,
        tag: &str,
        config: (&str, &[u8]),
        layers: &[(&str, &[u8])],
        authorization: Option<&str>,
    ) -> String {
        self.push_annotated(repository, tag, config, layers, None, authorization)
    }

    /// [`Registry::push_layers`] with the manifest's `annotations` (as `flux push
    /// artifact --source --revision` writes them).
    pub(crate) fn push_annotated(
        &self,
        repository: &str,
        tag: &str,
        config: (&str, &[u8]),
        layers: &[(&str, &[u8])],
        annotations: Option<serde_json::Value>,
        authorization: Option<&str>,
    ) -> String {
        let mut auth: Vec<(&str, &str)> = Vec::new();
        if let Some(authorization) = authorization {
            auth.push(("Authorization", authorization));
        }
        let mut descriptors = Vec::new();
        for (media_type, bytes) in std::iter::once(config).chain(layers.iter().copied()) {
            let digest = format!("sha256:{}", sha256_hex(bytes));
            let (status, headers, _) = self.request(
                "POST",
                &format!("/v2/{repository}/blobs/uploads/"),
                &auth,
                &[],
            );
            assert_eq!(status, 202, "starting an upload");
            let location = header(&headers, "location").expect("an upload location");
            let path = location
                .strip_prefix(&format!("http://{}", self.host))
                .unwrap_or(&location);
            let separator = if path.contains('?') { '&' } else { '?' };
            let mut headers = auth.clone();
            headers.push(("Content-Type", "application/octet-stream"));
            let (status, _, body) = self.request(
                "PUT",
                &format!("{path}{separator}digest={digest}"),
                &headers,
                bytes,
            );
            assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
            descriptors.push(serde_json::json!({
                "mediaType": media_type, "digest": digest, "size": bytes.len(),
            }));
        }
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptors[0],
            "layers": descriptors[1..],
        });
        if let Some(annotations) = annotations {
            manifest["annotations"] = annotations;
        }
        let manifest = manifest.to_string();
        let mut headers = auth.clone();
        headers.push(("Content-Type", "application/vnd.oci.image.manifest.v1+json"));
        let (status, _, body) = self.request(
            "PUT",
            &format!("/v2/{repository}/manifests/{tag}"),
            &headers,
            manifest.as_bytes(),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        format!("sha256:{}", sha256_hex(manifest.as_bytes()))
    }

    /// One HTTP/1.1 request: the status, headers (names lowercased) and body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut stream = std::net::TcpStream::connect(&self.host).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete answer");
        let text = String::from_utf8_lossy(&answer[..end]).to_string();
        let mut lines = text.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, answer[end + 4..].to_vec())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// An htpasswd file in `dir` holding `user`'s bcrypt hash (the registry reads no other
/// kind), written by `htpasswd -B`.
pub(crate) fn htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd runs (scripts/test installs apache2-utils)");
    assert!(out.status.success(), "{out:?}");
    let path = dir.join("htpasswd");
    std::fs::write(&path, out.stdout).unwrap();
    path
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
