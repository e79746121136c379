//! The network edge: `git ls-remote` and `git fetch` run as child processes with a hard
//! timeout, a hermetic configuration, and credentials passed out of band (an HTTP
//! header in the environment, or key files for ssh), never in the URL or the argv.
//!
//! Over HTTP(S) both run in process instead ([`crate::smart_http`]); the CLI serves
//! ssh, local paths, proxies and servers without protocol v2.
//!
//! Why the git CLI rather than gix's transport: a timeout that really stops the
//! transfer (the process is killed), ssh with the system client and `known_hosts`,
//! and git's own smart-HTTP/ssh/file protocol handling. Objects are read with gix.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::refs::{AdvertisedRef, parse_ls_remote};
use crate::smart_http;
use crate::url::{GitUrl, Scheme};

/// A git operation against a remote failed. Every message names the URL without any
/// secret and never quotes a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// The operation did not finish in time (unreachable host, stalled server).
    #[error("{operation} '{url}': timed out after {after:?}")]
    Timeout {
        /// What was running (`ls-remote`, `fetch`).
        operation: &'static str,
        /// The URL, without secrets.
        url: String,
        /// The limit.
        after: Duration,
    },
    /// The server refused the credentials (or demanded some).
    #[error("{operation} '{url}': authentication failed")]
    AuthenticationFailed {
        /// What was running.
        operation: &'static str,
        /// The URL, without secrets.
        url: String,
    },
    /// The ssh host key is not in `known_hosts`.
    #[error("{operation} '{url}': host key verification failed (check known_hosts)")]
    HostKeyVerificationFailed {
        /// What was running.
        operation: &'static str,
        /// The URL, without secrets.
        url: String,
    },
    /// The host could not be reached.
    #[error("{operation} '{url}': host unreachable: {detail}")]
    Unreachable {
        /// What was running.
        operation: &'static str,
        /// The URL, without secrets.
        url: String,
        /// git's words, scrubbed.
        detail: String,
    },
    /// There is no repository at the URL.
    #[error("{operation} '{url}': repository not found")]
    RepositoryNotFound {
        /// What was running.
        operation: &'static str,
        /// The URL, without secrets.
        url: String,
    },
    /// Anything else git reported.
    #[error("{operation} '{url}': {detail}")]
    Failed {
        /// What was running.
        operation: &'static str,
        /// The URL, without secrets.
        url: String,
        /// git's last lines of error output, scrubbed.
        detail: String,
    },
    /// The server sent a pack larger than the repository may be.
    #[error("fetch '{url}': the pack exceeds {limit} bytes")]
    PackTooLarge {
        /// The URL, without secrets.
        url: String,
        /// Bytes received when the transfer was stopped.
        received: u64,
        /// The limit.
        limit: u64,
    },
    /// git could not be started.
    #[error("cannot run git: {0}")]
    Spawn(String),
}

impl GitError {
    /// Whether the failure is about credentials (Flux's `AuthenticationFailed`).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            GitError::AuthenticationFailed { .. } | GitError::HostKeyVerificationFailed { .. }
        )
    }
}

/// How to reach one remote.
#[derive(Debug, Clone)]
pub(crate) struct Remote<'a> {
    pub(crate) url: &'a GitUrl,
    pub(crate) credentials: &'a Credentials,
    /// Whom an HTTPS server must be, and what we present if it asks.
    pub(crate) tls: &'a crate::tls::Tls,
    pub(crate) timeout: Duration,
}

/// Lists the remote's refs. Over smart HTTP this is exactly one request: protocol v0's
/// advertisement carries every ref (v2 would add an `ls-refs` POST).
pub(crate) async fn ls_remote(
    remote: &Remote<'_>,
    scratch: &Path,
) -> Result<Vec<AdvertisedRef>, GitError> {
    if smart_http::serves(remote.url) {
        return timed("ls-remote", remote, smart_http::ls_remote(remote)).await;
    }
    let url = remote.url.to_git_arg();
    let out = run(
        "ls-remote",
        remote,
        scratch,
        None,
        &[
            "-c",
            "protocol.version=0",
            "ls-remote",
            "--symref",
            "--",
            &url,
        ],
    )
    .await?;
    Ok(parse_ls_remote(&String::from_utf8_lossy(&out)))
}

/// Fetches `refspecs` into the bare repository at `git_dir`, shallow when `depth` is set.
/// Over HTTP(S) one refspec is fetched in process, the pack refused past `max_pack_bytes`.
pub(crate) async fn fetch(
    remote: &Remote<'_>,
    git_dir: &Path,
    scratch: &Path,
    refspecs: &[String],
    depth: Option<u32>,
    max_pack_bytes: u64,
) -> Result<(), GitError> {
    if let [refspec] = refspecs
        && smart_http::serves(remote.url)
    {
        // The transfer is timed inside; storing the pack, once begun, finishes.
        if smart_http::fetch(remote, git_dir, scratch, refspec, depth, max_pack_bytes).await? {
            return Ok(());
        }
        tracing::debug!(url = %remote.url.redacted(), "no protocol v2; fetching with the git CLI");
    }
    let url = remote.url.to_git_arg();
    let dir = git_dir.to_string_lossy().into_owned();
    let depth_arg = depth.map(|d| format!("--depth={d}"));
    let mut args: Vec<&str> = vec![
        "--git-dir",
        &dir,
        "-c",
        "protocol.version=2",
        "-c",
        "gc.auto=0",
        "-c",
        "maintenance.auto=false",
        // The mirror is a cache: a pack torn by a crash reads as corrupt and is cloned
        // again, so waiting for the disk to confirm each write buys nothing.
        "-c",
        "core.fsync=none",
        // Keep what arrives as one pack: exploding a small fetch into loose objects costs
        // a file and often a directory per object.
        "-c",
        "fetch.unpackLimit=1",
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
    ];
    if let Some(d) = &depth_arg {
        args.push(d);
    }
    args.push("--");
    args.push(&url);
    args.extend(refspecs.iter().map(String::as_str));
    run("fetch", remote, scratch, Some(git_dir), &args)
        .await
        .map(|_| ())
}

/// Local housekeeping of the bare repository at `git_dir`: `git gc --auto`, which does
/// nothing unless git's own thresholds (loose objects, pack count) say a repack is
/// due. It runs in the foreground (no detached child outliving the timeout).
pub(crate) async fn housekeeping(git_dir: &Path, timeout: Duration) -> Result<(), GitError> {
    let shown = git_dir.display().to_string();
    let mut cmd = hermetic(tokio::process::Command::new("git"));
    cmd.current_dir(git_dir)
        .arg("--git-dir")
        .arg(git_dir)
        .args([
            "-c",
            "gc.autoDetach=false",
            "-c",
            "maintenance.autoDetach=false",
            "gc",
            "--auto",
            "--quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| GitError::Spawn(e.to_string()))?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(GitError::Spawn(e.to_string())),
        Err(_) => {
            return Err(GitError::Timeout {
                operation: "gc",
                url: shown,
                after: timeout,
            });
        }
    };
    if output.status.success() {
        return Ok(());
    }
    Err(GitError::Failed {
        operation: "gc",
        url: shown,
        detail: last_line(&String::from_utf8_lossy(&output.stderr)),
    })
}

/// `operation` within the remote's timeout; dropping the future closes its connection.
pub(crate) async fn timed<T>(
    operation: &'static str,
    remote: &Remote<'_>,
    work: impl std::future::Future<Output = Result<T, GitError>>,
) -> Result<T, GitError> {
    let result = tokio::time::timeout(remote.timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(GitError::Timeout {
                operation,
                url: remote.url.redacted(),
                after: remote.timeout,
            })
        });
    if let Err(e) = &result {
        tracing::debug!(operation, url = %remote.url.redacted(), error = %e, "git failed");
    }
    result
}

/// A command that reads no user or system configuration and never prompts.
fn hermetic(mut cmd: tokio::process::Command) -> tokio::process::Command {
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_SSH",
        "GIT_PROXY_COMMAND",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS_REQUIRE", "never")
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
        .kill_on_drop(true);
    cmd
}

async fn run(
    operation: &'static str,
    remote: &Remote<'_>,
    scratch: &Path,
    cwd: Option<&Path>,
    args: &[&str],
) -> Result<Vec<u8>, GitError> {
    let shown = remote.url.redacted();
    let mut cmd = hermetic(tokio::process::Command::new("git"));
    cmd.current_dir(cwd.unwrap_or(scratch));
    // curl gives up on its own too, so no transfer outlives the timeout by much.
    let secs = remote.timeout.as_secs().max(1).to_string();
    cmd.args(["-c", "http.lowSpeedLimit=1", "-c"])
        .arg(format!("http.lowSpeedTime={secs}"))
        .args(["-c", "credential.helper="]);
    let mut config: Vec<(String, String)> = Vec::new();
    if let Some(auth) = remote.credentials.http_authorization()
        && matches!(remote.url.scheme(), Scheme::Https | Scheme::Http)
    {
        config.push(("http.extraHeader".into(), format!("Authorization: {auth}")));
        // The header would follow a redirect to another host; refuse redirects instead.
        config.push(("http.followRedirects".into(), "false".into()));
    }
    // Key files live only for this command.
    let _key_dir = match remote.credentials {
        Credentials::Ssh {
            identity,
            known_hosts,
        } if remote.url.scheme() == Scheme::Ssh => {
            let dir = tempfile::Builder::new()
                .prefix("ssh-")
                .tempdir_in(scratch)
                .map_err(|e| GitError::Spawn(format!("creating ssh key directory: {e}")))?;
            let key = dir.path().join("identity");
            let hosts = dir.path().join("known_hosts");
            write_private(&key, identity.as_bytes())?;
            write_private(&hosts, known_hosts.as_bytes())?;
            // Argo CD's `insecure` (`ServerTrust::Unverified`) takes any host key, as
            // its SSH credentials do; the known hosts are then neither read nor added to.
            let host_check = if remote.tls.server == crate::tls::ServerTrust::Unverified {
                "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no".to_string()
            } else {
                format!(
                    "-o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes",
                    hosts.display()
                )
            };
            cmd.env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -i '{}' -o IdentitiesOnly=yes {host_check} -o BatchMode=yes \
                     -o ConnectTimeout={secs}",
                    key.display(),
                ),
            );
            Some(dir)
        }
        _ => {
            cmd.env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout={secs}"
                ),
            );
            None
        }
    };
    // curl reads the remote's own certificates, and a client certificate and its key,
    // from files, which live only for this command. Named by `GIT_SSL_*`: this git did
    // not apply `http.sslCAInfo` given through `GIT_CONFIG_COUNT`
    // (the_git_cli_is_handed_the_trust_as_its_ca_file).
    let mut _tls_files = Vec::new();
    if remote.url.scheme() == Scheme::Https {
        let mut hand = |variable: &str, what: &str, content: &[u8]| {
            let file = tempfile::Builder::new()
                .prefix("tls-")
                .tempfile_in(scratch)
                .map_err(|e| GitError::Spawn(format!("creating the {what} file: {e}")))?;
            std::fs::write(file.path(), content)
                .map_err(|e| GitError::Spawn(format!("writing the {what} file: {e}")))?;
            cmd.env(variable, file.path());
            _tls_files.push(file);
            Ok::<_, GitError>(())
        };
        if let Some(bundle) = remote.tls.server.curl_bundle() {
            hand("GIT_SSL_CAINFO", "CA bundle", &bundle)?;
        }
        if let Some(client) = &remote.tls.client {
            hand("GIT_SSL_CERT", "client certificate", client.chain_pem())?;
            // tempfile creates its files readable by their owner only.
            hand("GIT_SSL_KEY", "client key", client.key_pem())?;
        }
        if remote.tls.server == crate::tls::ServerTrust::Unverified {
            cmd.env("GIT_SSL_NO_VERIFY", "true");
        }
    }
    if !config.is_empty() {
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (k, v)) in config.iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), k);
            cmd.env(format!("GIT_CONFIG_VALUE_{i}"), v);
        }
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| GitError::Spawn(e.to_string()))?;
    // On timeout, dropping the wait kills the child (kill_on_drop).
    let wait = async {
        child
            .wait_with_output()
            .await
            .map_err(|e| GitError::Spawn(e.to_string()))
    };
    let output = timed(operation, remote, wait).await?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = remote
        .credentials
        .scrub(&String::from_utf8_lossy(&output.stderr));
    tracing::debug!(operation, url = %shown, stderr = %stderr, "git failed");
    Err(classify(operation, shown, &stderr))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), GitError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut bytes = bytes.to_vec();
    // ssh refuses a key file without a final newline.
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| GitError::Spawn(format!("writing ssh key file: {e}")))
}

/// Maps git's error output onto the failure kinds callers act on.
fn classify(operation: &'static str, url: String, stderr: &str) -> GitError {
    let lower = stderr.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&["host key verification failed"]) {
        return GitError::HostKeyVerificationFailed { operation, url };
    }
    if has(&[
        "authentication failed",
        "could not read username",
        "could not read password",
        "returned error: 401",
        "returned error: 403",
        "permission denied (publickey",
        "invalid credentials",
    ]) {
        return GitError::AuthenticationFailed { operation, url };
    }
    if has(&[
        "could not resolve host",
        "failed to connect",
        "couldn't connect",
        "connection refused",
        "connection timed out",
        "no route to host",
        "network is unreachable",
        "operation timed out",
        "could not resolve hostname",
    ]) {
        return GitError::Unreachable {
            operation,
            url,
            detail: last_line(stderr),
        };
    }
    if has(&[
        "repository not found",
        "does not appear to be a git repository",
        "returned error: 404",
        "not found",
    ]) && !has(&["couldn't find remote ref"])
    {
        return GitError::RepositoryNotFound { operation, url };
    }
    GitError::Failed {
        operation,
        url,
        detail: last_line(stderr),
    }
}

fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("git exited with an error")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_gits_words() {
        let c = |s: &str| classify("fetch", "u".into(), s);
        assert!(matches!(
            c("fatal: Authentication failed for 'http://h/r/'"),
            GitError::AuthenticationFailed { .. }
        ));
        assert!(matches!(
            c("fatal: could not read Username for 'http://h': terminal prompts disabled"),
            GitError::AuthenticationFailed { .. }
        ));
        assert!(matches!(
            c("fatal: unable to access 'http://h/': Failed to connect to h port 1"),
            GitError::Unreachable { .. }
        ));
        assert!(matches!(
            c("fatal: '/x' does not appear to be a git repository"),
            GitError::RepositoryNotFound { .. }
        ));
        assert!(matches!(
            c("Host key verification failed.\nfatal: Could not read from remote repository."),
            GitError::HostKeyVerificationFailed { .. }
        ));
        assert!(matches!(c("fatal: something odd"), GitError::Failed { .. }));
    }
}
