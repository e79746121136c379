//! Test support: repositories made with the git CLI, and a smart-HTTP git server
//! (`git http-backend` run as CGI behind axum) with optional basic auth that counts
//! the requests it receives. Shared by the integration tests and the benchmark.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

/// Runs git in `dir` with a fixed identity and dates; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A work repository at `dir` (branch `main`) with `files` committed; returns the
/// commit id. `repo.git` next to it is a bare copy for serving.
pub struct WorkRepo {
    pub work: PathBuf,
}

impl WorkRepo {
    pub fn new(work: &Path) -> WorkRepo {
        std::fs::create_dir_all(work).unwrap();
        git(work, &["init", "-q", "-b", "main"]);
        WorkRepo {
            work: work.to_path_buf(),
        }
    }

    /// Writes files (creating directories) and commits them; returns the commit.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, contents) in files {
            let p = self.work.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, contents).unwrap();
        }
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }

    pub fn symlink(&self, link: &str, target: &str) {
        let p = self.work.join(link);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    pub fn remove(&self, path: &str) {
        git(&self.work, &["rm", "-q", "-r", path]);
    }

    /// Pushes every branch and tag to the bare repository `bare` (created if missing).
    pub fn publish(&self, bare: &Path) {
        if !bare.exists() {
            std::fs::create_dir_all(bare).unwrap();
            git(bare, &["init", "-q", "--bare", "-b", "main"]);
            // Commits by id (protocol v2 allows any; say so for v0 too).
            git(bare, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        }
        let url = bare.to_string_lossy().to_string();
        git(
            &self.work,
            &[
                "push",
                "-q",
                "--force",
                &url,
                "refs/heads/*:refs/heads/*",
                "refs/tags/*:refs/tags/*",
            ],
        );
    }
}

/// Counters of a [`GitServer`].
#[derive(Default)]
pub struct Counters {
    /// Every request received (including refused ones).
    pub total: AtomicUsize,
    /// Per `<repo path> <kind>` where kind is `info/refs` (protocol v0: a remote
    /// check), `info/refs-v2` (the start of a fetch), `upload-pack`, or `other`.
    pub by_kind: parking_lot::Mutex<HashMap<String, usize>>,
    /// Requests answered 401.
    pub unauthorized: AtomicUsize,
}

impl Counters {
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
    /// Sum of the counts whose key ends with `kind`.
    pub fn kind(&self, kind: &str) -> usize {
        self.by_kind
            .lock()
            .iter()
            .filter(|(k, _)| k.ends_with(kind))
            .map(|(_, v)| *v)
            .sum()
    }
    /// Count for one repository and kind.
    pub fn get(&self, repo: &str, kind: &str) -> usize {
        *self
            .by_kind
            .lock()
            .get(&format!("{repo} {kind}"))
            .unwrap_or(&0)
    }
}

struct ServerState {
    root: PathBuf,
    /// Whether the backend is told the protocol version the client asks for (else it
    /// answers protocol v0 only, as servers before git 2.18 do).
    v2: bool,
    auth: Option<(String, String)>,
    counters: Arc<Counters>,
    backend: PathBuf,
}

/// Serves `app` over HTTPS on 127.0.0.1 with `authority`'s server certificate; the
/// address and the accepting task.
pub async fn serve_tls(
    app: axum::Router,
    authority: &kubesim::tls::Authority,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    serve_tls_to(app, authority, Clients::Anyone).await
}

/// Whom an HTTPS test server talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    /// Any client.
    Anyone,
    /// Clients presenting a certificate the server's authority signed (mutual TLS).
    Certified,
}

/// [`serve_tls`] for the clients `clients` names.
pub async fn serve_tls_to(
    app: axum::Router,
    authority: &kubesim::tls::Authority,
    clients: Clients,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = match clients {
        Clients::Anyone => authority.acceptor(),
        Clients::Certified => authority.mutual_acceptor().unwrap(),
    };
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    (addr, task)
}

/// A smart-HTTP git server on 127.0.0.1 serving the bare repositories under `root`.
pub struct GitServer {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GitServer {
    /// Starts serving `root`; with `auth`, every request needs that basic auth.
    pub async fn start(root: &Path, auth: Option<(&str, &str)>) -> GitServer {
        let (app, counters) = Self::app(root, auth, true);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        GitServer {
            addr,
            counters,
            task,
        }
    }

    /// The CGI router for `root` and its request counters.
    fn app(root: &Path, auth: Option<(&str, &str)>, v2: bool) -> (axum::Router, Arc<Counters>) {
        let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
        let backend = PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim())
            .join("git-http-backend");
        assert!(
            backend.exists(),
            "git-http-backend not found at {}",
            backend.display()
        );
        let counters = Arc::new(Counters::default());
        let state = Arc::new(ServerState {
            root: root.to_path_buf(),
            v2,
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            counters: counters.clone(),
            backend,
        });
        (
            axum::Router::new().fallback(cgi).with_state(state),
            counters,
        )
    }

    /// Starts serving `root` over HTTPS with `authority`'s server certificate (for
    /// `localhost` and `127.0.0.1`); [`GitServer::https_url`] names it.
    pub async fn start_tls(root: &Path, authority: &kubesim::tls::Authority) -> GitServer {
        Self::start_tls_speaking(root, authority, true, Clients::Anyone).await
    }

    /// [`GitServer::start_tls`] for clients presenting a certificate `authority` signed;
    /// `v2` false for a server that speaks protocol v0 only.
    pub async fn start_mutual_tls(
        root: &Path,
        authority: &kubesim::tls::Authority,
        v2: bool,
    ) -> GitServer {
        Self::start_tls_speaking(root, authority, v2, Clients::Certified).await
    }

    /// [`GitServer::start_tls`] for a server that speaks protocol v0 only (clients then
    /// fetch with the git CLI).
    pub async fn start_tls_v0(root: &Path, authority: &kubesim::tls::Authority) -> GitServer {
        Self::start_tls_speaking(root, authority, false, Clients::Anyone).await
    }

    async fn start_tls_speaking(
        root: &Path,
        authority: &kubesim::tls::Authority,
        v2: bool,
        clients: Clients,
    ) -> GitServer {
        let (app, counters) = Self::app(root, None, v2);
        let (addr, task) = serve_tls_to(app, authority, clients).await;
        GitServer {
            addr,
            counters,
            task,
        }
    }

    /// `http://127.0.0.1:PORT/<path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// `https://127.0.0.1:PORT/<path>`, for a server from [`GitServer::start_tls`].
    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

async fn cgi(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.counters.total.fetch_add(1, Ordering::SeqCst);
    let path = uri.path().to_string();
    let v2 = headers
        .get("git-protocol")
        .is_some_and(|v| v.as_bytes().starts_with(b"version=2"));
    let (repo, kind) = if let Some(r) = path.strip_suffix("/info/refs") {
        // A v0 advertisement is a remote check; a v2 one opens a fetch.
        (r.to_string(), if v2 { "info/refs-v2" } else { "info/refs" })
    } else if let Some(r) = path.strip_suffix("/git-upload-pack") {
        (r.to_string(), "upload-pack")
    } else {
        (path.clone(), "other")
    };
    *state
        .counters
        .by_kind
        .lock()
        .entry(format!("{repo} {kind}"))
        .or_default() += 1;
    if let Some((user, pass)) = &state.auth {
        use base64::Engine as _;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let got = headers.get("authorization").and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            state.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("WWW-Authenticate", "Basic realm=\"git\"")
                .body(Body::from("unauthorized"))
                .unwrap();
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut cmd = tokio::process::Command::new(&state.backend);
    cmd.env_clear()
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env(
            "GIT_PROTOCOL",
            if state.v2 {
                header("git-protocol")
            } else {
                String::new()
            },
        )
        .env("REMOTE_USER", "test")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn http-backend");
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.expect("http-backend");
    let _ = writer.await;
    parse_cgi(&out.stdout)
}

fn parse_cgi(out: &[u8]) -> Response {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from("bad CGI output"))
            .unwrap();
    };
    let head = String::from_utf8_lossy(&out[..end]);
    let mut builder = Response::builder();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            let code: u16 = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            builder = builder.status(code);
        } else {
            builder = builder.header(k.trim(), v);
        }
    }
    builder.body(Body::from(out[end + sep..].to_vec())).unwrap()
}

/// `len` printable characters that do not compress (xorshift), so a pack holding them
/// is about as big as they are.
pub fn incompressible(len: usize) -> String {
    let mut state = 0x2545F4914F6CDD1Du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect()
}

/// A TCP listener that accepts connections and never answers (a stalled server).
pub async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    (addr, task)
}
