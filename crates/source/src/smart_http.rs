//! Git over smart HTTP, in process: the remote check (protocol v0's one `GET
//! info/refs`, what `git ls-remote` sends) and fetches (protocol v2: the capability
//! `GET`, `ls-refs` when the refspec names a ref, then `fetch`), the received pack
//! indexed by gix into the mirror. These are the requests the git CLI makes, without
//! the three to four processes it starts per operation (git, git-remote-http,
//! index-pack, rev-list), which cost more CPU than the transfer of a small repository.
//!
//! The CLI stays for ssh and local paths, when an HTTP proxy is configured (curl
//! honours `http_proxy` and friends; this client does not), and for servers that do not
//! speak protocol v2. HTTPS is verified against the platform's trust store, as curl does, or
//! against the remote's own certificates, presenting a client certificate if configured
//! ([`Tls`]).
//!
//! Everything the server sends is bounded: advertisements and ref lists at
//! [`MAX_LISTING`], the pack at the caller's limit, packets at git's maximum length.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use crate::egress::GuardedConnector;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use parking_lot::Mutex;

use crate::credentials::Credentials;
use crate::git::{GitError, Remote};
use crate::pktline::{self, Packet};
use crate::refs::{AdvertisedRef, Listing, is_full_hex};
use crate::tls::{Tls, TlsError};
use crate::url::{GitUrl, Scheme};

/// Largest advertisement or `ls-refs` answer read into memory.
const MAX_LISTING: usize = 64 * 1024 * 1024;

/// Redirects of the first request followed when no credentials are sent (git's
/// `http.followRedirects=initial`).
const MAX_REDIRECTS: usize = 5;

/// Sent as `User-Agent` and `agent=`: hosted forges answer the smart protocol only to
/// agents starting with `git/`.
const AGENT: &str = concat!("git/flotilla-", env!("CARGO_PKG_VERSION"));

type HttpClient = Client<hyper_rustls::HttpsConnector<GuardedConnector>, Full<Bytes>>;

/// Whether `url` is fetched in process: HTTP(S) without a proxy configured for it.
pub(crate) fn serves(url: &GitUrl) -> bool {
    serves_with(url.scheme(), |name| std::env::var_os(name).is_some())
}

fn serves_with(scheme: Scheme, is_set: impl Fn(&str) -> bool) -> bool {
    let proxies: &[&str] = match scheme {
        Scheme::Http => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
        Scheme::Https => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        Scheme::Ssh | Scheme::File => return false,
    };
    !proxies.iter().any(|name| is_set(name))
}

/// One client (and so one connection pool) for the process, trusting the platform's
/// roots.
pub(crate) fn client() -> &'static HttpClient {
    static CLIENT: OnceLock<HttpClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(b) => b,
            // No trust store on this host: HTTPS fails certificate checks, HTTP works.
            Err(e) => {
                tracing::warn!(error = %e, "no platform trust store; HTTPS remotes will fail");
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("the default provider supports the default versions")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        guarded(builder)
    })
}

/// Distinct TLS settings whose clients (and pools) are kept; past this a client is built
/// per use, so a flood of bundles cannot grow the process.
const MAX_TRUSTS: usize = 64;

/// The client for remotes reached under `tls`: the process's own for the platform's
/// roots without a client certificate, else one per distinct settings (the TLS
/// configuration is built once).
pub(crate) fn client_for(tls: &Tls, origin: &str) -> Result<HttpClient, TlsError> {
    if tls.is_platform() {
        return Ok(client().clone());
    }
    static CLIENTS: OnceLock<Mutex<HashMap<Tls, HttpClient>>> = OnceLock::new();
    let clients = CLIENTS.get_or_init(Mutex::default);
    if let Some(found) = clients.lock().get(tls) {
        return Ok(found.clone());
    }
    let config = tls.client_config(origin)?;
    let built = guarded(hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config));
    let mut clients = clients.lock();
    if clients.len() < MAX_TRUSTS {
        clients.insert(tls.clone(), built.clone());
    }
    Ok(built)
}

/// A client over `builder`'s TLS whose every connection goes through the egress policy
/// (crate::egress).
fn guarded(
    builder: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
) -> HttpClient {
    let connector = builder
        .https_or_http()
        .enable_http1()
        .wrap_connector(GuardedConnector::new());
    Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector)
}

/// What one operation needs to talk to the remote.
struct Session<'a> {
    operation: &'static str,
    remote: &'a Remote<'a>,
    /// The repository's URL without a trailing slash; moved by a followed redirect.
    base: String,
}

impl Session<'_> {
    fn new<'a>(operation: &'static str, remote: &'a Remote<'a>) -> Session<'a> {
        Session {
            operation,
            remote,
            base: remote.url.to_git_arg().trim_end_matches('/').to_string(),
        }
    }

    fn shown(&self) -> String {
        self.remote.url.redacted()
    }

    fn failed(&self, detail: impl Into<String>) -> GitError {
        GitError::Failed {
            operation: self.operation,
            url: self.shown(),
            detail: self.remote.credentials.scrub(&detail.into()),
        }
    }

    fn request(&self, method: hyper::Method, uri: &str) -> hyper::http::request::Builder {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::USER_AGENT, AGENT);
        if let Some(auth) = self.remote.credentials.http_authorization() {
            builder = builder.header(hyper::header::AUTHORIZATION, auth);
        }
        builder
    }

    async fn send(
        &self,
        request: hyper::http::request::Builder,
        body: Vec<u8>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, GitError> {
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.failed(format!("building the request: {e}")))?;
        let client = client_for(self.remote.tls, "the repository's certificates")
            .map_err(|e| self.failed(e.to_string()))?;
        client.request(request).await.map_err(|e| {
            let detail = error_chain(&e);
            // A certificate the trust refuses is the server's answer, not an absent host.
            if e.is_connect() && !detail.contains("invalid peer certificate") {
                GitError::Unreachable {
                    operation: self.operation,
                    url: self.shown(),
                    detail,
                }
            } else {
                self.failed(detail)
            }
        })
    }

    /// `GET info/refs`, following redirects of this first request when no credentials
    /// would travel with them; protocol v2 is asked for with `version2`.
    async fn info_refs(&mut self, version2: bool) -> Result<Vec<u8>, GitError> {
        const SUFFIX: &str = "/info/refs?service=git-upload-pack";
        let mut uri = format!("{}{SUFFIX}", self.base);
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self
                .request(hyper::Method::GET, &uri)
                .header(hyper::header::PRAGMA, "no-cache");
            if version2 {
                request = request.header("Git-Protocol", "version=2");
            }
            let response = self.send(request, Vec::new()).await?;
            if crate::redirect::is_followed(response.status()) {
                let location = response
                    .headers()
                    .get(hyper::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if !matches!(self.remote.credentials, Credentials::None) {
                    return Err(self.failed(format!(
                        "redirected to {}; redirects are not followed with credentials",
                        crate::url::redact_str(&location)
                    )));
                }
                uri = crate::redirect::resolve_location(&uri, &location)
                    .ok_or_else(|| self.failed(format!("bad redirect location {location:?}")))?;
                continue;
            }
            self.check_status(response.status())?;
            let smart = response
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(is_advertisement_type);
            let body = self.read_all(response).await?;
            if !smart {
                return Err(self.failed(
                    "the server does not speak git's smart HTTP protocol (dumb HTTP is not supported)",
                ));
            }
            // Later requests go where the redirect led (what git does).
            if let Some(base) = uri.strip_suffix(SUFFIX) {
                self.base = base.to_string();
            }
            return Ok(body);
        }
        Err(self.failed(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// `POST git-upload-pack` with a protocol v2 command.
    async fn upload_pack(
        &self,
        body: Vec<u8>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, GitError> {
        let uri = format!("{}/git-upload-pack", self.base);
        let request = self
            .request(hyper::Method::POST, &uri)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-git-upload-pack-request",
            )
            .header(
                hyper::header::ACCEPT,
                "application/x-git-upload-pack-result",
            )
            .header("Git-Protocol", "version=2");
        let response = self.send(request, body).await?;
        self.check_status(response.status())?;
        Ok(response)
    }

    fn check_status(&self, status: StatusCode) -> Result<(), GitError> {
        let (operation, url) = (self.operation, self.shown());
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(GitError::AuthenticationFailed { operation, url })
            }
            StatusCode::NOT_FOUND => Err(GitError::RepositoryNotFound { operation, url }),
            s => Err(self.failed(format!("the server answered HTTP {s}"))),
        }
    }

    async fn read_all(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<Vec<u8>, GitError> {
        Limited::new(response.into_body(), MAX_LISTING)
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .map_err(|e| self.failed(format!("reading the answer: {e}")))
    }
}

/// Lists the remote's refs with protocol v0's advertisement: one request, every ref,
/// `HEAD`'s target among the capabilities. The same list as `git ls-remote --symref`.
pub(crate) async fn ls_remote(remote: &Remote<'_>) -> Result<Vec<AdvertisedRef>, GitError> {
    let mut session = Session::new("ls-remote", remote);
    let body = session.info_refs(false).await?;
    parse_advertisement(&body).map_err(|detail| session.failed(detail))
}

/// Fetches one refspec (`[+]<ref or commit id>:<local ref>`) into the bare repository
/// at `git_dir`, shallow when `depth` is set. `Ok(false)` when the server does not
/// speak protocol v2 (the caller uses the CLI instead).
pub(crate) async fn fetch(
    remote: &Remote<'_>,
    git_dir: &Path,
    scratch: &Path,
    refspec: &str,
    depth: Option<u32>,
    max_pack_bytes: u64,
) -> Result<bool, GitError> {
    let mut session = Session::new("fetch", remote);
    let (source, local) = parse_refspec(refspec)
        .ok_or_else(|| session.failed(format!("unsupported refspec {refspec:?}")))?;
    let local = gix::refs::FullName::try_from(local)
        .map_err(|e| session.failed(format!("invalid local ref {local:?}: {e}")))?;
    let known = Known::of(git_dir);
    let pack = tempfile::NamedTempFile::new_in(scratch)
        .map_err(|e| session.failed(format!("creating a scratch file: {e}")))?;
    // Only the transfer is under the timeout: storing the pack is local work that,
    // once begun, finishes (abandoning it would leave it writing under the next fetch).
    let transfer = transfer(
        &mut session,
        source,
        depth,
        &known,
        pack.as_file(),
        max_pack_bytes,
    );
    let Some((want, shallow)) = crate::git::timed("fetch", remote, transfer).await? else {
        return Ok(false);
    };
    let git_dir = git_dir.to_path_buf();
    let thin = !known.tips.is_empty();
    tokio::task::spawn_blocking(move || {
        store(&git_dir, pack.path(), thin, &shallow, &local, &want)
    })
    .await
    .map_err(|e| session.failed(format!("storing the pack: {e}")))?
    .map_err(|detail| session.failed(detail))?;
    Ok(true)
}

/// The network half of a fetch: capabilities, the ref's id when a name was given, and
/// the pack written to `file`. Returns the id fetched and the shallow updates, or `None`
/// when the server does not speak protocol v2.
async fn transfer(
    session: &mut Session<'_>,
    source: &str,
    depth: Option<u32>,
    known: &Known,
    file: &std::fs::File,
    max_pack_bytes: u64,
) -> Result<Option<(String, Vec<ShallowUpdate>)>, GitError> {
    let capabilities = session.info_refs(true).await?;
    let Some(fetch_features) = parse_v2_capabilities(&capabilities) else {
        return Ok(None);
    };
    if depth.is_some() && !fetch_features.iter().any(|f| f == "shallow") {
        return Err(session.failed("the server cannot serve shallow fetches"));
    }
    let want = if is_full_hex(source) {
        source.to_string()
    } else {
        let response = session.upload_pack(ls_refs_request(source)).await?;
        let body = session.read_all(response).await?;
        find_ref(&body, source)
            .map_err(|detail| session.failed(detail))?
            .ok_or_else(|| session.failed(format!("couldn't find remote ref {source}")))?
    };
    let response = session
        .upload_pack(fetch_request(&want, depth, known))
        .await?;
    let shallow = receive_pack(session, response, file, max_pack_bytes).await?;
    Ok(Some((want, shallow)))
}

/// Reads a v2 `fetch` answer: `shallow-info` lines are returned, the side-band pack
/// is written to `file`, errors the server reports become the failure's words.
async fn receive_pack(
    session: &Session<'_>,
    response: hyper::Response<hyper::body::Incoming>,
    file: &std::fs::File,
    max_pack_bytes: u64,
) -> Result<Vec<ShallowUpdate>, GitError> {
    let mut body = response.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    let mut reader = FetchAnswer::default();
    let mut out = std::io::BufWriter::new(file);
    loop {
        // Every whole packet in the buffer.
        let mut used = 0;
        while let Some((packet, n)) =
            pktline::next(&buffer[used..]).map_err(|e| session.failed(e.to_string()))?
        {
            used += n;
            match reader.take(packet).map_err(|d| session.failed(d))? {
                Some(data) => {
                    reader.pack_bytes += data.len() as u64;
                    if reader.pack_bytes > max_pack_bytes {
                        return Err(GitError::PackTooLarge {
                            url: session.shown(),
                            received: reader.pack_bytes,
                            limit: max_pack_bytes,
                        });
                    }
                    out.write_all(data)
                        .map_err(|e| session.failed(format!("writing the pack: {e}")))?;
                }
                None if reader.done => {
                    out.flush()
                        .map_err(|e| session.failed(format!("writing the pack: {e}")))?;
                    return Ok(reader.shallow);
                }
                None => {}
            }
        }
        buffer.drain(..used);
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => return Err(session.failed(format!("reading the pack: {e}"))),
            None => return Err(session.failed("the answer ended before the pack did")),
        }
    }
}

/// A commit the server marked as the edge of the shallow history, or no longer one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ShallowUpdate {
    Shallow(String),
    Unshallow(String),
}

/// Where a v2 `fetch` answer is.
#[derive(Debug, Default)]
struct FetchAnswer {
    section: Section,
    shallow: Vec<ShallowUpdate>,
    pack_bytes: u64,
    done: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Section {
    /// Before a section header.
    #[default]
    Header,
    /// Inside a section we read past (`acknowledgments`, `wanted-refs`).
    Skipped,
    ShallowInfo,
    Packfile,
}

impl FetchAnswer {
    /// Takes one packet; returns pack bytes (side band 1) when it carried some.
    fn take<'a>(&mut self, packet: Packet<'a>) -> Result<Option<&'a [u8]>, String> {
        if self.done {
            return Err("data after the end of the answer".into());
        }
        match packet {
            Packet::Flush | Packet::ResponseEnd => {
                if self.section != Section::Packfile {
                    return Err("the answer ended without a pack".into());
                }
                self.done = true;
                Ok(None)
            }
            Packet::Delim => {
                self.section = Section::Header;
                Ok(None)
            }
            Packet::Data(payload) => {
                if let Some(error) = error_packet(payload) {
                    return Err(error);
                }
                match self.section {
                    Section::Header => {
                        self.section = match pktline::text(payload) {
                            "shallow-info" => Section::ShallowInfo,
                            "packfile" => Section::Packfile,
                            "acknowledgments" | "wanted-refs" => Section::Skipped,
                            other => return Err(format!("unexpected section {other:?}")),
                        };
                        Ok(None)
                    }
                    Section::Skipped => Ok(None),
                    Section::ShallowInfo => {
                        let line = pktline::text(payload);
                        let update = match line.split_once(' ') {
                            Some(("shallow", id)) if is_full_hex(id) => {
                                ShallowUpdate::Shallow(id.to_string())
                            }
                            Some(("unshallow", id)) if is_full_hex(id) => {
                                ShallowUpdate::Unshallow(id.to_string())
                            }
                            _ => return Err(format!("malformed shallow-info line {line:?}")),
                        };
                        self.shallow.push(update);
                        Ok(None)
                    }
                    Section::Packfile => match payload.split_first() {
                        Some((1, data)) => Ok(Some(data)),
                        Some((2, _)) => Ok(None),
                        Some((3, message)) => Err(remote_error(message)),
                        _ => Err("malformed side-band packet".into()),
                    },
                }
            }
        }
    }
}

/// Indexes the received pack into the mirror, records the shallow edge and points
/// `local` at `want`. Blocking.
fn store(
    git_dir: &Path,
    pack: &Path,
    thin: bool,
    shallow: &[ShallowUpdate],
    local: &gix::refs::FullName,
    want: &str,
) -> Result<(), String> {
    let pack_dir = git_dir.join("objects").join("pack");
    std::fs::create_dir_all(&pack_dir)
        .map_err(|e| format!("creating {}: {e}", pack_dir.display()))?;
    let file = std::fs::File::open(pack).map_err(|e| format!("reading the pack: {e}"))?;
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let interrupt = AtomicBool::new(false);
    let repo = gix::open_opts(git_dir, gix::open::Options::isolated())
        .map_err(|e| format!("opening the mirror: {e}"))?;
    // A thin pack's deltas may lean on objects the mirror has: they are read from it
    // and added to the pack, so the pack stands on its own (git's `index-pack --fix-thin`).
    let bases = thin.then(|| repo.objects.clone());
    let outcome = gix_pack::Bundle::write_to_directory(
        &mut reader,
        Some(&pack_dir),
        &mut gix::progress::Discard,
        &interrupt,
        bases,
        gix::hash::Kind::Sha1,
        gix_pack::bundle::write::Options {
            thread_limit: Some(1),
            ..Default::default()
        },
    )
    .map_err(|e| match thin {
        // Its bases come from the mirror: a mirror missing them is broken, and is cloned
        // again (then without `have`s, so the pack stands alone).
        true => format!("indexing the pack: the mirror may be corrupt (a thin pack could not be completed from it): {e}"),
        false => format!("indexing the pack: {e}"),
    })?;
    // The object store looks for packs again when an id is not in those it knows.
    check_connected(&repo, want)?;
    write_shallow(git_dir, shallow)?;
    write_ref(git_dir, local, want)?;
    // The pack was kept from collection until a ref pointed into it.
    if let Some(keep) = outcome.keep_path {
        let _ = std::fs::remove_file(keep);
    }
    Ok(())
}

/// Whether every object of the fetched commit's tree is in the mirror now, as git
/// checks after a fetch: the `have`s told the server what to leave out, and a mirror that
/// lost objects must not take a ref to a commit it cannot read (its error reads as
/// corrupt, so the mirror is cloned again). Blobs are looked up in the pack indexes only.
fn check_connected(repo: &gix::Repository, want: &str) -> Result<(), String> {
    let corrupt = |what: String| format!("the mirror is corrupt after the fetch: {what}");
    let id = gix::ObjectId::from_hex(want.as_bytes()).map_err(|e| e.to_string())?;
    let commit = repo
        .find_object(id)
        .map_err(|e| corrupt(format!("commit {want}: {e}")))?
        .peel_to_commit()
        .map_err(|e| corrupt(format!("commit {want}: {e}")))?;
    let root = commit
        .tree_id()
        .map_err(|e| corrupt(format!("tree of {want}: {e}")))?
        .detach();
    let mut trees = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(tree_id) = trees.pop() {
        if !seen.insert(tree_id) {
            continue;
        }
        let tree = repo
            .find_tree(tree_id)
            .map_err(|e| corrupt(format!("tree {tree_id}: {e}")))?;
        let decoded = tree
            .decode()
            .map_err(|e| corrupt(format!("tree {tree_id}: {e}")))?;
        for entry in &decoded.entries {
            let kind = entry.mode.kind();
            if kind == gix::object::tree::EntryKind::Tree {
                trees.push(entry.oid.to_owned());
            } else if kind != gix::object::tree::EntryKind::Commit && !repo.has_object(entry.oid) {
                return Err(corrupt(format!("object {} is missing", entry.oid)));
            }
        }
    }
    Ok(())
}

/// Merges the server's shallow updates into `shallow` (sorted, one id per line, as
/// git writes it), replacing the file atomically.
fn write_shallow(git_dir: &Path, updates: &[ShallowUpdate]) -> Result<(), String> {
    if updates.is_empty() {
        return Ok(());
    }
    let path = git_dir.join("shallow");
    let mut ids: std::collections::BTreeSet<String> = match std::fs::read_to_string(&path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    for update in updates {
        match update {
            ShallowUpdate::Shallow(id) => ids.insert(id.clone()),
            ShallowUpdate::Unshallow(id) => ids.remove(id),
        };
    }
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    replace_file(git_dir, &path, text.as_bytes())
}

/// Points the loose ref `name` at `id`, atomically (a loose ref wins over a packed one).
fn write_ref(git_dir: &Path, name: &gix::refs::FullName, id: &str) -> Result<(), String> {
    let path = git_dir.join(name.as_bstr().to_string());
    let parent = path.parent().unwrap_or(git_dir);
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    replace_file(parent, &path, format!("{id}\n").as_bytes())
}

fn replace_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    temp.write_all(bytes)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    temp.persist(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// The v2 `ls-refs` request for exactly `name` (and, as git asks, whatever else starts
/// with it).
fn ls_refs_request(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    pktline::push(&mut out, "command=ls-refs\n");
    pktline::push(&mut out, &format!("agent={AGENT}\n"));
    out.extend_from_slice(b"0001");
    pktline::push(&mut out, "peel\n");
    pktline::push(&mut out, &format!("ref-prefix {name}\n"));
    out.extend_from_slice(b"0000");
    out
}

/// The v2 `fetch` request for one object: no negotiation rounds (`done` at once), no
/// progress. What the mirror holds goes along as `have` (its ref tips) and `shallow` (its
/// shallow edge), and a thin pack is accepted, so the server leaves out the objects the
/// mirror already has, as git's own fetch into a shallow repository does (without
/// `thin-pack`, git's server sends the whole tree again whatever the `have`s say).
fn fetch_request(want: &str, depth: Option<u32>, known: &Known) -> Vec<u8> {
    let mut out = Vec::new();
    pktline::push(&mut out, "command=fetch\n");
    pktline::push(&mut out, &format!("agent={AGENT}\n"));
    out.extend_from_slice(b"0001");
    pktline::push(&mut out, "ofs-delta\n");
    pktline::push(&mut out, "no-progress\n");
    if !known.tips.is_empty() {
        pktline::push(&mut out, "thin-pack\n");
    }
    for id in &known.shallow {
        pktline::push(&mut out, &format!("shallow {id}\n"));
    }
    if let Some(depth) = depth {
        pktline::push(&mut out, &format!("deepen {depth}\n"));
    }
    pktline::push(&mut out, &format!("want {want}\n"));
    for id in &known.tips {
        pktline::push(&mut out, &format!("have {id}\n"));
    }
    pktline::push(&mut out, "done\n");
    out.extend_from_slice(b"0000");
    out
}

/// Most ref tips sent as `have`: a mirror holds a few branches and the commits fetched by
/// id; past this many the saving no longer grows.
const MAX_HAVES: usize = 256;

/// What a mirror already holds, as a fetch tells the server.
#[derive(Debug, Default, PartialEq, Eq)]
struct Known {
    /// Commits its refs point at (loose refs and `packed-refs`), each once.
    tips: Vec<String>,
    /// Its shallow edge (the `shallow` file).
    shallow: Vec<String>,
}

impl Known {
    /// Read from the mirror at `git_dir`; anything unreadable is left out (the server
    /// then sends more, never less).
    fn of(git_dir: &Path) -> Known {
        let mut tips = std::collections::BTreeSet::new();
        crate::mirror::visit_files(&git_dir.join("refs"), |entry, metadata| {
            if metadata.is_file()
                && let Ok(text) = std::fs::read_to_string(entry.path())
            {
                tips.insert(text.trim().to_string());
            }
        });
        if let Ok(packed) = std::fs::read_to_string(git_dir.join("packed-refs")) {
            // `<id> <name>` lines; `^<id>` peels the tag above; `#` starts a comment.
            for line in packed.lines().filter(|l| !l.starts_with(['#', '^'])) {
                if let Some((id, _)) = line.split_once(' ') {
                    tips.insert(id.to_string());
                }
            }
        }
        let shallow = std::fs::read_to_string(git_dir.join("shallow"))
            .map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default();
        Known {
            tips: tips
                .into_iter()
                .filter(|id| is_full_hex(id))
                .take(MAX_HAVES)
                .collect(),
            shallow: shallow.into_iter().filter(|id| is_full_hex(id)).collect(),
        }
    }
}

/// The `fetch` capability's features when the advertisement is protocol v2's, else
/// `None`. An optional `# service=` packet and flush may come first.
fn parse_v2_capabilities(body: &[u8]) -> Option<Vec<String>> {
    let packets = pktline::all(body).ok()?;
    let mut lines = packets.iter().filter_map(|p| match p {
        Packet::Data(d) => Some(pktline::text(d)),
        _ => None,
    });
    let mut first = lines.next()?;
    if first.starts_with("# service=") {
        first = lines.next()?;
    }
    if first != "version 2" {
        return None;
    }
    let fetch = lines.find_map(|l| {
        l.strip_prefix("fetch=")
            .map(str::to_string)
            .or_else(|| (l == "fetch").then(String::new))
    })?;
    Some(
        fetch
            .split(' ')
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect(),
    )
}

/// The id `name` has in an `ls-refs` answer (`<id> <name>[ attributes]` lines).
fn find_ref(body: &[u8], name: &str) -> Result<Option<String>, String> {
    for packet in pktline::all(body).map_err(|e| e.to_string())? {
        let Packet::Data(payload) = packet else {
            continue;
        };
        if let Some(error) = error_packet(payload) {
            return Err(error);
        }
        let line = pktline::text(payload);
        let mut fields = line.split(' ');
        let (Some(id), Some(refname)) = (fields.next(), fields.next()) else {
            return Err(format!("malformed ls-refs line {line:?}"));
        };
        if refname == name && is_full_hex(id) {
            return Ok(Some(id.to_string()));
        }
    }
    Ok(None)
}

/// Reads a protocol v0 advertisement into the refs `git ls-remote --symref` lists.
fn parse_advertisement(body: &[u8]) -> Result<Vec<AdvertisedRef>, String> {
    let packets = pktline::all(body).map_err(|e| e.to_string())?;
    let mut listing = Listing::default();
    let mut first = true;
    for packet in packets {
        let Packet::Data(payload) = packet else {
            continue;
        };
        if let Some(error) = error_packet(payload) {
            return Err(error);
        }
        let line = pktline::text(payload);
        if line.starts_with("# service=") {
            continue;
        }
        let (line, capabilities) = match line.split_once('\0') {
            Some((l, c)) => (l, Some(c)),
            None => (line, None),
        };
        if let Some(capabilities) = capabilities.filter(|_| first) {
            for capability in capabilities.split(' ') {
                if let Some((name, target)) = capability
                    .strip_prefix("symref=")
                    .and_then(|s| s.split_once(':'))
                {
                    listing.symref(name, target);
                }
            }
        }
        first = false;
        let Some((id, name)) = line.split_once(' ').filter(|(id, _)| is_full_hex(id)) else {
            return Err(format!("malformed advertisement line {line:?}"));
        };
        // An empty repository advertises only its capabilities.
        if name != "capabilities^{}" {
            listing.entry(id, name);
        }
    }
    Ok(listing.finish())
}

/// The server's words when `payload` is an `ERR` packet.
fn error_packet(payload: &[u8]) -> Option<String> {
    payload.strip_prefix(b"ERR ").map(remote_error)
}

/// A message the server sent as an error (an `ERR` packet, side band 3).
fn remote_error(message: &[u8]) -> String {
    format!("remote error: {}", pktline::text(message))
}

/// `[+]<source>:<destination>` of a fetch refspec.
fn parse_refspec(refspec: &str) -> Option<(&str, &str)> {
    let (source, local) = refspec.trim_start_matches('+').split_once(':')?;
    (!source.is_empty() && !local.is_empty()).then_some((source, local))
}

/// Whether a `Content-Type` is the smart advertisement's; parameters (`; charset=…`)
/// are ignored, as git does.
fn is_advertisement_type(value: &str) -> bool {
    let media_type = value.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/x-git-upload-pack-advertisement")
}

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            match *line {
                "0000" | "0001" | "0002" => out.extend_from_slice(line.as_bytes()),
                l => pktline::push(&mut out, l),
            }
        }
        out
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";

    #[test]
    fn a_v0_advertisement_reads_as_ls_remote_lists_it() {
        let body = packets(&[
            "# service=git-upload-pack\n",
            "0000",
            &format!("{A} HEAD\0multi_ack symref=HEAD:refs/heads/main agent=git/2.47\n"),
            &format!("{A} refs/heads/main\n"),
            &format!("{B} refs/tags/v1\n"),
            &format!("{C} refs/tags/v1^{{}}\n"),
            "0000",
        ]);
        let refs = parse_advertisement(&body).unwrap();
        let listed = crate::refs::parse_ls_remote(&format!(
            "ref: refs/heads/main\tHEAD\n{A}\tHEAD\n{A}\trefs/heads/main\n{B}\trefs/tags/v1\n{C}\trefs/tags/v1^{{}}\n"
        ));
        assert_eq!(refs, listed);
        assert_eq!(refs[0].symref_target.as_deref(), Some("refs/heads/main"));
        assert_eq!(refs[2].commit(), C);
    }

    #[test]
    fn an_empty_repository_advertises_no_refs() {
        let zero = "0".repeat(40);
        let body = packets(&[
            "# service=git-upload-pack\n",
            "0000",
            &format!("{zero} capabilities^{{}}\0agent=git/2.47\n"),
            "0000",
        ]);
        assert_eq!(parse_advertisement(&body).unwrap(), []);
    }

    #[test]
    fn a_malformed_advertisement_is_an_error_not_an_empty_list() {
        for body in [
            packets(&["not a ref line\n", "0000"]),
            packets(&["zz refs/heads/main\n"]),
            b"00zz".to_vec(),
            packets(&["ERR access denied\n"]),
        ] {
            assert!(parse_advertisement(&body).is_err(), "{body:?}");
        }
        assert_eq!(
            parse_advertisement(&packets(&["ERR access denied\n"])).unwrap_err(),
            "remote error: access denied"
        );
    }

    #[test]
    fn v2_capabilities_with_or_without_a_service_line() {
        let plain = packets(&[
            "version 2\n",
            "agent=git/2.47\n",
            "ls-refs=unborn\n",
            "fetch=shallow wait-for-done\n",
            "0000",
        ]);
        assert_eq!(
            parse_v2_capabilities(&plain),
            Some(vec!["shallow".to_string(), "wait-for-done".to_string()])
        );
        let with_service = packets(&[
            "# service=git-upload-pack\n",
            "0000",
            "version 2\n",
            "fetch\n",
            "0000",
        ]);
        assert_eq!(parse_v2_capabilities(&with_service), Some(vec![]));
        // A v0 server answers with refs: not v2, so the CLI takes over.
        let v0 = packets(&[
            "# service=git-upload-pack\n",
            "0000",
            &format!("{A} HEAD\0agent=git/2.0\n"),
            "0000",
        ]);
        assert_eq!(parse_v2_capabilities(&v0), None);
    }

    #[test]
    fn ls_refs_finds_exactly_the_name_asked_for() {
        let body = packets(&[
            &format!("{A} refs/heads/main-old\n"),
            &format!("{B} refs/heads/main peeled:{C}\n"),
            "0000",
        ]);
        assert_eq!(
            find_ref(&body, "refs/heads/main").unwrap(),
            Some(B.to_string())
        );
        assert_eq!(find_ref(&body, "refs/heads/mai").unwrap(), None);
        assert!(find_ref(&packets(&["ERR no such repo\n"]), "HEAD").is_err());
    }

    #[test]
    fn a_fetch_answer_yields_the_shallow_edge_and_the_pack_bytes() {
        let mut answer = FetchAnswer::default();
        let mut pack = Vec::new();
        let body = [
            packets(&[
                "shallow-info\n",
                &format!("shallow {A}\n"),
                "0001",
                "packfile\n",
            ]),
            {
                let mut band = Vec::new();
                for payload in [&b"\x02Counting objects\n"[..], b"\x01PACK", b"\x01rest"] {
                    band.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
                    band.extend_from_slice(payload);
                }
                band
            },
            b"0000".to_vec(),
        ]
        .concat();
        for packet in pktline::all(&body).unwrap() {
            if let Some(data) = answer.take(packet).unwrap() {
                pack.extend_from_slice(data);
            }
        }
        assert!(answer.done);
        assert_eq!(pack, b"PACKrest");
        assert_eq!(answer.shallow, [ShallowUpdate::Shallow(A.to_string())]);
    }

    #[test]
    fn a_fetch_answer_with_an_error_or_without_a_pack_fails() {
        let run = |lines: &[&str]| -> Result<(), String> {
            let mut answer = FetchAnswer::default();
            for packet in pktline::all(&packets(lines)).unwrap() {
                answer.take(packet)?;
            }
            Ok(())
        };
        assert_eq!(
            run(&["ERR upload-pack: not our ref 1111\n"]).unwrap_err(),
            "remote error: upload-pack: not our ref 1111"
        );
        assert!(run(&["shallow-info\n", "0000"]).is_err(), "no pack");
        assert!(run(&["surprise\n"]).is_err());
        assert!(run(&["shallow-info\n", "shallow nothex\n"]).is_err());
        assert_eq!(
            run(&["packfile\n", "\u{3}fatal: out of memory\n"]).unwrap_err(),
            "remote error: fatal: out of memory"
        );
        assert!(
            run(&["packfile\n", "0000", "packfile\n"]).is_err(),
            "data after the end"
        );
    }

    #[test]
    fn requests_are_what_git_sends() {
        let known = Known {
            tips: vec![B.to_string()],
            shallow: vec![C.to_string()],
        };
        let fetch = fetch_request(A, Some(1), &known);
        let lines: Vec<String> = pktline::all(&fetch)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Packet::Data(d) => pktline::text(d).to_string(),
                Packet::Delim => "0001".into(),
                Packet::Flush => "0000".into(),
                Packet::ResponseEnd => "0002".into(),
            })
            .collect();
        assert_eq!(
            lines,
            [
                "command=fetch",
                &format!("agent={AGENT}"),
                "0001",
                "ofs-delta",
                "no-progress",
                "thin-pack",
                &format!("shallow {C}"),
                "deepen 1",
                &format!("want {A}"),
                &format!("have {B}"),
                "done",
                "0000"
            ]
        );
        assert!(AGENT.starts_with("git/"));
    }

    #[test]
    fn refspecs_name_source_and_destination() {
        assert_eq!(
            parse_refspec("+refs/heads/main:refs/heads/main"),
            Some(("refs/heads/main", "refs/heads/main"))
        );
        let by_commit = format!("{A}:refs/flotilla/commits/{A}");
        let local = format!("refs/flotilla/commits/{A}");
        assert_eq!(parse_refspec(&by_commit), Some((A, local.as_str())));
        assert_eq!(parse_refspec("main"), None);
    }

    #[test]
    fn what_a_mirror_holds_is_read_from_its_refs_packed_refs_and_shallow_file() {
        let dir = tempfile::tempdir().unwrap();
        let git_dir = dir.path();
        let write = |rel: &str, text: &str| {
            let path = git_dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("refs/heads/main", &format!("{A}\n"));
        write(&format!("refs/flotilla/commits/{B}"), &format!("{B}\n"));
        write("refs/remotes/origin/HEAD", "ref: refs/heads/main\n");
        write(
            "packed-refs",
            &format!(
                "# pack-refs with: peeled fully-peeled sorted\n{C} refs/tags/v1\n^{A}\n{A} refs/heads/old\n"
            ),
        );
        write("shallow", &format!("{A}\nnot-an-id\n"));
        let known = Known::of(git_dir);
        assert_eq!(known.tips, [A, B, C]);
        assert_eq!(known.shallow, [A]);
        assert_eq!(Known::of(&git_dir.join("missing")), Known::default());
    }

    #[test]
    fn the_advertisement_type_is_matched_without_its_parameters() {
        assert!(is_advertisement_type(
            "application/x-git-upload-pack-advertisement"
        ));
        assert!(is_advertisement_type(
            "application/x-git-upload-pack-advertisement; charset=utf-8"
        ));
        assert!(!is_advertisement_type("text/plain"));
        assert!(!is_advertisement_type(
            "application/x-git-upload-pack-advertisement-not"
        ));
    }

    #[test]
    fn a_proxy_in_the_environment_leaves_the_url_to_the_cli() {
        let none = |_: &str| false;
        assert!(serves_with(Scheme::Https, none));
        assert!(serves_with(Scheme::Http, none));
        assert!(!serves_with(Scheme::Ssh, none));
        assert!(!serves_with(Scheme::File, none));
        assert!(!serves_with(Scheme::Https, |n| n == "HTTPS_PROXY"));
        assert!(!serves_with(Scheme::Http, |n| n == "all_proxy"));
        // A proxy for the other scheme does not matter.
        assert!(serves_with(Scheme::Http, |n| n == "https_proxy"));
    }
}
