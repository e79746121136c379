//! The ssh transport end to end: a real `sshd` on 127.0.0.1 (a child process of the
//! test, running as the current user with generated host and client keys) serves bare
//! repositories on disk, and the cache reaches them with a Flux-style `secretRef`
//! (`identity` + `known_hosts`) through the system ssh client.
//!
//! Each test starts its own server, so a refused login in one cannot slow down or
//! lock out another (newer sshd versions penalise failing sources).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flotilla_source::{Credentials, Error, GitError, GitUrl, Reference, Scheme};

use crate::support::{WorkRepo, git};
use crate::{cache, request};

const SSHD: &str = "/usr/sbin/sshd";

/// An ed25519 key pair made by `ssh-keygen`.
struct Key {
    /// The private key file's text (OpenSSH format).
    private: String,
    /// `ssh-ed25519 AAAA… comment`
    public: String,
}

impl Key {
    fn generate(dir: &Path, name: &str) -> Key {
        let path = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-keygen (package openssh-client)");
        assert!(
            out.status.success(),
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Key {
            private: std::fs::read_to_string(&path).unwrap(),
            public: std::fs::read_to_string(path.with_extension("pub")).unwrap(),
        }
    }

    /// `type base64`, without the comment.
    fn public_blob(&self) -> String {
        self.public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A running `sshd -D` that lets `client` in as the current user. Killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    user: String,
    host_key: Key,
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// Starts a server whose files live under `dir` and which accepts `client`.
    fn start(dir: &Path, client: &Key) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} not found: the ssh transport tests run a real sshd. \
             Install the openssh-server package (scripts/test installs it when missing)."
        );
        std::fs::create_dir_all(dir).unwrap();
        let user = command_output("id", &["-un"]);
        if command_output("id", &["-u"]) == "0" {
            // As root, sshd wants its privilege-separation directory.
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }
        let host_key = Key::generate(dir, "host_key");
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, &client.public).unwrap();
        let config = dir.join("sshd_config");
        let base = format!(
            "ListenAddress 127.0.0.1\n\
             HostKey {host_key}\n\
             AuthorizedKeysFile {authorized}\n\
             PidFile {pid}\n\
             UsePAM no\n\
             StrictModes no\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n\
             AllowUsers {user}\n\
             AcceptEnv GIT_PROTOCOL\n\
             UseDNS no\n\
             PrintMotd no\n\
             LogLevel VERBOSE\n",
            host_key = dir.join("host_key").display(),
            authorized = authorized.display(),
            pid = dir.join("sshd.pid").display(),
        );
        // sshd 9.8+ turns away sources after repeated failures; older versions do not
        // know the option and refuse to start on it, so ask sshd itself (`-t`).
        std::fs::write(&config, format!("{base}PerSourcePenalties no\n")).unwrap();
        let understood = Command::new(SSHD)
            .arg("-t")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run sshd -t");
        if !understood.success() {
            std::fs::write(&config, &base).unwrap();
        }

        let log = dir.join("sshd.log");
        // The port is free when we look; another process could take it before sshd
        // binds, so a failed bind is retried on a new port.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-p", &port.to_string(), "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start sshd");
            match wait_ready(&mut child, port, Duration::from_secs(20)) {
                Ok(()) => {
                    return Sshd {
                        child,
                        port,
                        user,
                        host_key,
                        log,
                    };
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    if !text.contains("Address already in use") {
                        panic!("sshd did not start: {why}\n{text}");
                    }
                    eprintln!("sshd: port {port} taken; trying another");
                }
            }
        }
        panic!("sshd: no free port after 5 attempts");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ssh://USER@127.0.0.1:PORT/abs/path`
    fn url(&self, repo: &Path) -> String {
        assert!(repo.is_absolute());
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// The `known_hosts` line for this server (non-default port: `[host]:port`).
    fn known_hosts(&self) -> String {
        known_hosts_line(self.port, &self.host_key)
    }
}

fn known_hosts_line(port: u16, host_key: &Key) -> String {
    format!("[127.0.0.1]:{port} {}\n", host_key.public_blob())
}

/// Waits until `port` answers with an SSH banner (so it is this sshd listening, not
/// some other process), or sshd exits.
fn wait_ready(child: &mut Child, port: u16, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("sshd exited with {status}"));
        }
        if let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut banner = [0u8; 4];
            if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("port {port} not answering after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn command_output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Credentials the way a GitRepository's `secretRef` carries them.
fn secret(identity: &Key, known_hosts: &str) -> Credentials {
    let data: BTreeMap<String, Vec<u8>> = [
        ("identity", identity.private.as_bytes().to_vec()),
        ("known_hosts", known_hosts.as_bytes().to_vec()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Credentials::from_secret_data("git-ssh", &data).unwrap()
}

/// A served bare repository with one commit.
struct Fixture {
    tmp: tempfile::TempDir,
    work: WorkRepo,
    bare: PathBuf,
    first: String,
    client: Key,
    sshd: Sshd,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let work = WorkRepo::new(&tmp.path().join("work"));
        let first = work.commit(
            &[
                ("apps/web/deploy.yaml", "kind: Deployment\n"),
                ("README.md", "# over ssh\n"),
            ],
            "first",
        );
        let bare = tmp.path().join("served/team/app.git");
        work.publish(&bare);
        let keys = tmp.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let client = Key::generate(&keys, "client");
        let sshd = Sshd::start(&tmp.path().join("sshd"), &client);
        Fixture {
            tmp,
            work,
            bare,
            first,
            client,
            sshd,
        }
    }

    fn url(&self) -> String {
        self.sshd.url(&self.bare)
    }
}

#[tokio::test]
async fn ssh_checkout_reads_the_commit_and_sees_a_new_push() {
    let f = Fixture::new();
    let cache = cache(f.tmp.path());
    let mut req = request(&f.url(), Reference::Branch("main".into()));
    req.credentials = secret(&f.client, &f.sshd.known_hosts());

    let co = cache
        .checkout(&req)
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", f.sshd.log_text()));
    assert_eq!(co.commit, f.first);
    assert_eq!(co.revision, format!("main@sha1:{}", f.first));
    assert_eq!(co.refname.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        co.snapshot.read("apps/web/deploy.yaml").unwrap(),
        b"kind: Deployment\n"
    );
    assert_eq!(
        co.snapshot.tree_id("").unwrap().unwrap(),
        git(&f.work.work, &["rev-parse", "HEAD^{tree}"])
    );
    // The key lived in a temporary file for the git command only.
    let mirror = cache.mirror_dir(&req.url, &req.credentials).unwrap();
    let config = std::fs::read_to_string(mirror.join("config")).unwrap();
    assert!(!config.contains("PRIVATE KEY"), "{config}");
    assert_no_key_files(&cache);

    // A push: the next check (interval elapsed) sees it.
    let second = f.work.commit(
        &[("apps/web/deploy.yaml", "kind: Deployment\nspec: {}\n")],
        "second",
    );
    f.work.publish(&f.bare);
    req.interval = Duration::ZERO;
    let co2 = cache.checkout(&req).await.unwrap();
    assert_eq!(co2.commit, second);
    assert_eq!(
        co2.snapshot.read("apps/web/deploy.yaml").unwrap(),
        b"kind: Deployment\nspec: {}\n"
    );
    assert_eq!(
        co2.snapshot.changed_paths(&f.first).unwrap(),
        ["apps/web/deploy.yaml"]
    );
}

#[tokio::test]
async fn ssh_unknown_host_key_is_refused_and_nothing_is_cached() {
    let f = Fixture::new();
    let cache = cache(f.tmp.path());
    // The same host and port, but another server's key.
    let impostor = Key::generate(&f.tmp.path().join("keys"), "impostor_host");
    let mut req = request(&f.url(), Reference::Branch("main".into()));
    req.credentials = secret(&f.client, &known_hosts_line(f.sshd.port, &impostor));

    let err = cache.checkout(&req).await.unwrap_err();
    assert!(
        matches!(err, Error::Git(GitError::HostKeyVerificationFailed { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("known_hosts"), "{err}");
    assert!(err.is_auth());
    assert_nothing_fetched(&cache.mirror_dir(&req.url, &req.credentials).unwrap());
    assert_no_key_files(&cache);
    // The client never got as far as logging in.
    assert!(
        !f.sshd.log_text().contains("Accepted publickey"),
        "{}",
        f.sshd.log_text()
    );

    // With the right known_hosts it works (another mirror: other credentials).
    req.credentials = secret(&f.client, &f.sshd.known_hosts());
    assert_eq!(cache.checkout(&req).await.unwrap().commit, f.first);
}

/// Argo CD's `insecure` over SSH: an unverified trust takes a host key no known hosts
/// line names, under a mirror of its own.
#[tokio::test]
async fn an_unverified_trust_takes_any_host_key() {
    let f = Fixture::new();
    let cache = cache(f.tmp.path());
    let impostor = Key::generate(&f.tmp.path().join("keys"), "impostor_host");
    let mut req = request(&f.url(), Reference::Branch("main".into()));
    req.credentials = secret(&f.client, &known_hosts_line(f.sshd.port, &impostor));
    req.tls = flotilla_source::ServerTrust::Unverified.into();
    assert_eq!(cache.checkout(&req).await.unwrap().commit, f.first);
    assert_no_key_files(&cache);

    req.tls = flotilla_source::Tls::default();
    let err = cache.checkout(&req).await.unwrap_err();
    assert!(
        matches!(err, Error::Git(GitError::HostKeyVerificationFailed { .. })),
        "what the unverified fetch read is not served to a verifying one: {err:?}"
    );
}

#[tokio::test]
async fn ssh_wrong_client_key_is_an_auth_error_without_the_key() {
    let f = Fixture::new();
    let cache = cache(f.tmp.path());
    let stranger = Key::generate(&f.tmp.path().join("keys"), "stranger");
    let mut req = request(&f.url(), Reference::Branch("main".into()));
    req.credentials = secret(&stranger, &f.sshd.known_hosts());

    let err = cache.checkout(&req).await.unwrap_err();
    assert!(
        matches!(err, Error::Git(GitError::AuthenticationFailed { .. })),
        "{err:?}"
    );
    assert!(err.is_auth());
    let shown = format!("{err} {err:?} {:?}", req.credentials);
    for line in stranger.private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(line), "private key text in {shown}");
    }
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert_nothing_fetched(&cache.mirror_dir(&req.url, &req.credentials).unwrap());
    assert_no_key_files(&cache);

    // Flux's status says AuthenticationFailed, and quotes no key either.
    let mut obj = flotilla_source::GitRepository {
        name: "flux-system/app".into(),
        generation: 1,
        spec: flotilla_source::GitRepositorySpec {
            url: f.url(),
            secret_ref: Some(flotilla_source::LocalReference {
                name: "git-ssh".into(),
            }),
            interval: "1m".into(),
            timeout: Some("20s".into()),
            reference: Some(flotilla_source::GitRef {
                branch: "main".into(),
                ..Default::default()
            }),
            ignore: None,
            suspend: false,
            ..Default::default()
        },
        status: Default::default(),
    };
    obj.reconcile(&cache, req.credentials.clone()).await;
    let ready = obj.ready().unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "AuthenticationFailed")
    );
    assert!(!ready.message.contains("PRIVATE KEY"), "{}", ready.message);
}

#[test]
fn scp_like_form_names_the_same_repository() {
    // scp-like URLs cannot carry a port, so the server above cannot be reached with
    // one; what matters is that both spellings name one repository for webhooks.
    let ssh = GitUrl::parse("ssh://git@example.com/team/app.git").unwrap();
    let scp = GitUrl::parse("git@example.com:team/app.git").unwrap();
    assert_eq!(scp.scheme(), Scheme::Ssh);
    assert_eq!(scp.to_git_arg(), "git@example.com:team/app.git");
    assert_eq!(scp.identity(), ssh.identity());
    let abs = GitUrl::parse("git@example.com:/srv/git/app.git").unwrap();
    assert_eq!(abs.to_git_arg(), "git@example.com:/srv/git/app.git");
}

/// The key files are written for one git command and removed after it.
fn assert_no_key_files(cache: &flotilla_source::MirrorCache) {
    let scratch = cache.options().dir.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", scratch.display());
}

/// A failed first contact leaves no refs and no objects behind.
fn assert_nothing_fetched(mirror: &Path) {
    if !mirror.exists() {
        return;
    }
    let refs = Command::new("git")
        .arg("--git-dir")
        .arg(mirror)
        .args(["for-each-ref", "--format=%(refname)"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&refs.stdout), "", "refs in mirror");
    let objects = walk_files(&mirror.join("objects"));
    assert!(objects.is_empty(), "objects in mirror: {objects:?}");
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk_files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
