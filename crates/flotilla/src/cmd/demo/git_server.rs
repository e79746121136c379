//! A Git smart-HTTP server for the demo: every request is handed to `git http-backend`
//! (Git's own CGI program) for the repositories under one directory, so clients talk to
//! real Git. Each request's path and status are counted, so a caller can see how often
//! the fleet asked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

/// The largest request body accepted (a push of the demo's repositories is far smaller).
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// A running server.
pub(crate) struct GitServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

struct Backend {
    root: PathBuf,
    program: PathBuf,
    requests: Arc<AtomicU64>,
}

impl GitServer {
    /// Serves the bare repositories under `root` on `listen` (port 0 picks one).
    pub(crate) async fn start(root: &Path, listen: SocketAddr) -> anyhow::Result<GitServer> {
        let program = http_backend_path()?;
        let requests = Arc::new(AtomicU64::new(0));
        let backend = Arc::new(Backend {
            root: root.to_path_buf(),
            program,
            requests: requests.clone(),
        });
        let app = axum::Router::new().fallback(serve).with_state(backend);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the Git server to {listen}"))?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            // The demo runs until interrupted; a failing accept loop ends the server.
            let _ = axum::serve(listener, app).await;
        });
        Ok(GitServer {
            addr,
            requests,
            task,
        })
    }

    /// `http://127.0.0.1:PORT/`: the base that replaces the seed manifests' Git host.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// How many requests were served so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where Git keeps `git-http-backend` (`git --exec-path`).
fn http_backend_path() -> anyhow::Result<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("--exec-path")
        .output()
        .context("running `git --exec-path` (is git installed?)")?;
    if !out.status.success() {
        bail!("`git --exec-path` failed");
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let program = Path::new(&dir).join("git-http-backend");
    if !program.exists() {
        bail!(
            "{} does not exist: this git has no smart HTTP backend",
            program.display()
        );
    }
    Ok(program)
}

async fn serve(
    State(backend): State<Arc<Backend>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    backend.requests.fetch_add(1, Ordering::Relaxed);
    match run_cgi(&backend, &method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
    }
}

async fn run_cgi(
    backend: &Backend,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> anyhow::Result<Response> {
    let path = uri.path();
    // http-backend refuses `..` itself; refusing here too keeps the rule visible.
    if path.split('/').any(|segment| segment == "..") {
        return Ok((
            StatusCode::BAD_REQUEST,
            "path escapes the repository root\n",
        )
            .into_response());
    }
    let body: Bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .context("reading the request body")?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut command = tokio::process::Command::new(&backend.program);
    command
        .env_clear()
        .env("GIT_PROJECT_ROOT", &backend.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().context("starting git http-backend")?;
    let mut stdin = child.stdin.take().context("http-backend stdin")?;
    // Write the body while the output is read, or a large response could deadlock.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child
        .wait_with_output()
        .await
        .context("running git http-backend")?;
    let _ = writer.await;
    parse_cgi_output(&output.stdout)
}

/// A CGI response: header lines (`Status:` among them), a blank line, the body.
fn parse_cgi_output(out: &[u8]) -> anyhow::Result<Response> {
    let split = find_header_end(out).context("git http-backend wrote no CGI headers")?;
    let (head, body) = (&out[..split.0], &out[split.1..]);
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().unwrap_or("500");
            *response.status_mut() = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}

/// (end of headers, start of body): the first blank line, `\r\n\r\n` or `\n\n`.
fn find_header_end(out: &[u8]) -> Option<(usize, usize)> {
    let crlf = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = out
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Creates (or replaces) the bare repository `root/<path>.git`… as `root/<path>` with one
/// commit on `main` holding `files`, using the git CLI.
pub(crate) fn create_repository(
    root: &Path,
    path: &str,
    files: &[(String, String)],
    message: &str,
) -> anyhow::Result<()> {
    let bare = root.join(path);
    let work = root.join(".work").join(path);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    write_files(&work, files)?;
    git(&work, &["init", "-q", "-b", "main"])?;
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "-q", "-m", message])?;
    let _ = std::fs::remove_dir_all(&bare);
    std::fs::create_dir_all(bare.parent().unwrap_or(root))?;
    let bare_str = bare.to_string_lossy().to_string();
    git(&work, &["clone", "-q", "--bare", ".", &bare_str])?;
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

/// Commits `files` (path, new contents) to `main` of the bare repository `root/<path>`
/// through a temporary clone, as a developer's push would.
pub(crate) fn commit_change(
    root: &Path,
    path: &str,
    files: &[(String, String)],
    message: &str,
) -> anyhow::Result<()> {
    let bare = root.join(path);
    let work = root.join(".work").join(path);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.parent().unwrap_or(root))?;
    let bare_str = bare.to_string_lossy().to_string();
    let work_str = work.to_string_lossy().to_string();
    git(root, &["clone", "-q", &bare_str, &work_str])?;
    write_files(&work, files)?;
    git(&work, &["commit", "-q", "-a", "-m", message])?;
    git(&work, &["push", "-q", "origin", "HEAD:main"])?;
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

/// Writes each (path, contents) below `dir`, creating directories as needed.
fn write_files(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (file, contents) in files {
        let target = dir.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, contents)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Flotilla Demo",
            "-c",
            "user.email=demo@flotilla.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_output_is_split_into_status_headers_and_body() {
        let r = parse_cgi_output(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope")
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["content-type"], "text/plain");
        let r =
            parse_cgi_output(b"Content-Type: application/x-git-upload-pack-advertisement\n\n001e#")
                .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(parse_cgi_output(b"no headers at all").is_err());
    }

    /// The real `git clone` over the server gets the committed files.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn git_clone_over_the_server_sees_the_commit() {
        let dir = std::env::temp_dir().join(format!("flotilla-git-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("repos");
        create_repository(
            &root,
            "platform/app-registry",
            &[("apps/a/config.yaml".into(), "values: {}\n".into())],
            "first",
        )
        .unwrap();
        let server = GitServer::start(&root, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = format!("{}platform/app-registry", server.base_url());
        let clone = dir.join("clone");
        let status = tokio::process::Command::new("git")
            .args(["clone", "-q", &url, &clone.to_string_lossy()])
            .env("GIT_TERMINAL_PROMPT", "0")
            .status()
            .await
            .unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read_to_string(clone.join("apps/a/config.yaml")).unwrap(),
            "values: {}\n"
        );
        assert!(server.requests() >= 2, "ref advertisement and upload-pack");
        let missing = tokio::process::Command::new("git")
            .args(["ls-remote", &format!("{}nope/nothing", server.base_url())])
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .await
            .unwrap();
        assert!(!missing.status.success());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
