//! `spec.verify` against commits and tags signed by the real `git` with SSH and
//! OpenPGP keys: a trusted key verifies and the artifact is stored with Flux's
//! SourceVerified message; an untrusted key or an unsigned commit fails with
//! InvalidCommitSignature and no new artifact; a Secret that could not be read fails
//! with VerificationError. The tag modes verify the annotated tag a tag checkout came
//! from (signed by the real `git tag -s`).

use std::path::Path;
use std::process::Command;

use flotilla_source::{
    Credentials, GitRef, GitRepository, GitRepositorySpec, LocalReference, MirrorCache,
    TrustedKeys, Verification,
};

use crate::cache;
use crate::support::{WorkRepo, git};

fn object(url: &str, mode: &str) -> GitRepository {
    GitRepository {
        name: "flux-system/signed".into(),
        generation: 1,
        spec: GitRepositorySpec {
            url: url.into(),
            interval: "1m".into(),
            timeout: Some("20s".into()),
            reference: Some(GitRef {
                branch: "main".into(),
                ..Default::default()
            }),
            verify: Some(Verification {
                mode: mode.into(),
                secret_ref: LocalReference {
                    name: "keys".into(),
                },
            }),
            ..Default::default()
        },
        status: Default::default(),
    }
}

fn condition(obj: &GitRepository, type_: &str) -> (String, String, String) {
    let c = obj
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_}: {:?}", obj.status.conditions));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// Runs `program` in `dir` with `env`, expecting success; its stdout.
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    for (k, v) in [
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_AUTHOR_NAME", "Test"),
        ("GIT_AUTHOR_EMAIL", "test@example.com"),
        ("GIT_COMMITTER_NAME", "Test"),
        ("GIT_COMMITTER_EMAIL", "test@example.com"),
    ] {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An ed25519 SSH key pair at `path` (private) and `path.pub`.
fn ssh_key(path: &Path) -> String {
    run(
        path.parent().unwrap(),
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "signer",
            "-f",
            path.to_str().unwrap(),
        ],
        &[],
    );
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

/// `ssh-keygen`'s SHA256 fingerprint of a public key file.
fn ssh_fingerprint(public: &Path) -> String {
    let line = run(
        public.parent().unwrap(),
        "ssh-keygen",
        &["-l", "-f", public.to_str().unwrap()],
        &[],
    );
    line.split_whitespace().nth(1).unwrap().to_string()
}

/// A commit of `file` signed with the SSH key at `key`.
fn ssh_signed_commit(work: &WorkRepo, file: &str, key: &Path) -> String {
    std::fs::write(work.work.join(file), "a: 1\n").unwrap();
    git(&work.work, &["add", "-A"]);
    let key = key.to_str().unwrap();
    run(
        &work.work,
        "git",
        &[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={key}"),
            "commit",
            "-q",
            "-S",
            "-m",
            file,
        ],
        &[],
    );
    git(&work.work, &["rev-parse", "HEAD"])
}

async fn reconcile(
    obj: &mut GitRepository,
    cache: &MirrorCache,
    keys: Result<TrustedKeys, String>,
) -> bool {
    let (_, checkout) = obj.reconcile_verified(cache, Credentials::None, keys).await;
    checkout.is_some()
}

#[tokio::test]
async fn ssh_signed_commits_verify_only_with_a_trusted_key() {
    let tmp = tempfile::tempdir().unwrap();
    let trusted_key = tmp.path().join("trusted");
    let trusted = ssh_key(&trusted_key);
    let other_key = tmp.path().join("other");
    let other = ssh_key(&other_key);
    let work = WorkRepo::new(&tmp.path().join("work"));
    let first = ssh_signed_commit(&work, "a.yaml", &trusted_key);
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let url = format!("file://{}", bare.display());
    let cache = cache(tmp.path());
    let keys = |ssh: &str| TrustedKeys::from_secret_data([("author.sshpub", ssh.as_bytes())]);

    let mut obj = object(&url, "HEAD");
    assert!(reconcile(&mut obj, &cache, Ok(keys(&trusted))).await);
    let fingerprint = ssh_fingerprint(&trusted_key.with_extension("pub"));
    assert_eq!(
        condition(&obj, "SourceVerified"),
        (
            "True".into(),
            "Succeeded".into(),
            format!("verified signature of\n\t- commit '{first}' with key '{fingerprint}'")
        )
    );
    assert_eq!(obj.status.source_verification_mode.as_deref(), Some("HEAD"));
    assert_eq!(condition(&obj, "Ready").0, "True");

    // Signed by a key the Secret does not hold: no new artifact.
    let second = ssh_signed_commit(&work, "b.yaml", &other_key);
    work.publish(&bare);
    push(&cache, &url);
    obj.generation = 2;
    assert!(!reconcile(&mut obj, &cache, Ok(keys(&trusted))).await);
    let (status, reason, message) = condition(&obj, "SourceVerified");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "InvalidCommitSignature")
    );
    assert!(
        message.starts_with(&format!(
            "signature verification of commit '{second}' failed: "
        )),
        "{message}"
    );
    assert_eq!(condition(&obj, "Ready").1, "InvalidCommitSignature");
    assert_eq!(
        obj.status.artifact.as_ref().unwrap().commit,
        first,
        "the last verified artifact is kept"
    );
    // Trusting the other key too verifies it.
    let both = TrustedKeys::from_secret_data([
        ("a.sshpub", trusted.as_bytes()),
        ("b.sshpub", other.as_bytes()),
    ]);
    assert!(reconcile(&mut obj, &cache, Ok(both)).await);
    assert_eq!(obj.status.artifact.as_ref().unwrap().commit, second);

    // An unsigned commit, and a Secret that could not be read.
    work.commit(&[("c.yaml", "c: 1\n")], "unsigned");
    work.publish(&bare);
    obj.generation = 3;
    push(&cache, &url);
    assert!(!reconcile(&mut obj, &cache, Ok(keys(&trusted))).await);
    let (_, reason, message) = condition(&obj, "SourceVerified");
    assert_eq!(reason, "InvalidCommitSignature");
    assert!(
        message.ends_with("the provided signature is empty"),
        "{message}"
    );
    assert!(!reconcile(&mut obj, &cache, Err("secrets \"keys\" not found".into())).await);
    assert_eq!(
        condition(&obj, "SourceVerified"),
        (
            "False".into(),
            "VerificationError".into(),
            "public keys secret error: secrets \"keys\" not found".into()
        )
    );
}

#[tokio::test]
async fn pgp_signed_commits_verify_with_the_armored_public_key() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let gnupg: &[(&str, &Path)] = &[("GNUPGHOME", &home)];
    run(
        tmp.path(),
        "gpg",
        &[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Signer <signer@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
        gnupg,
    );
    let listing = run(
        tmp.path(),
        "gpg",
        &["--batch", "--with-colons", "--list-keys"],
        gnupg,
    );
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| f.len() == 40))
        .unwrap()
        .to_string();
    let armored = run(
        tmp.path(),
        "gpg",
        &["--batch", "--armor", "--export", &fingerprint],
        gnupg,
    );
    let work = WorkRepo::new(&tmp.path().join("work"));
    std::fs::write(work.work.join("a.yaml"), "a: 1\n").unwrap();
    git(&work.work, &["add", "-A"]);
    run(
        &work.work,
        "git",
        &[
            "-c",
            &format!("user.signingkey={fingerprint}"),
            "commit",
            "-q",
            "-S",
            "-m",
            "signed",
        ],
        gnupg,
    );
    let commit = git(&work.work, &["rev-parse", "HEAD"]);
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let url = format!("file://{}", bare.display());
    let cache = cache(tmp.path());

    let mut obj = object(&url, "head");
    let keys = TrustedKeys::from_secret_data([("signer.asc", armored.as_bytes())]);
    assert!(reconcile(&mut obj, &cache, Ok(keys)).await);
    assert_eq!(
        condition(&obj, "SourceVerified").2,
        format!(
            "verified signature of\n\t- commit '{commit}' with key '{}'",
            &fingerprint[24..]
        )
    );
    assert_eq!(obj.status.source_verification_mode.as_deref(), Some("HEAD"));
    // SSH keys only: nothing to check an OpenPGP signature with.
    let ssh_only = TrustedKeys::from_secret_data([("a.sshpub", b"ssh-ed25519 AAAA".as_slice())]);
    let mut fresh = object(&url, "HEAD");
    assert!(!reconcile(&mut fresh, &cache, Ok(ssh_only)).await);
    assert!(
        condition(&fresh, "SourceVerified")
            .2
            .ends_with("no OpenPGP public keys in the secret"),
        "{:?}",
        condition(&fresh, "SourceVerified")
    );
}

/// `git tag` in the work tree, with `args` before the name; the tag object's id (the
/// commit's for a lightweight tag).
fn tag(work: &WorkRepo, args: &[&str], name: &str) -> String {
    let mut all = args.to_vec();
    all.push(name);
    run(&work.work, "git", &all, &[]);
    git(&work.work, &["rev-parse", &format!("refs/tags/{name}")])
}

#[tokio::test]
async fn the_tag_modes_verify_the_annotated_tag_the_checkout_came_from() {
    tag_modes(false).await;
}

/// The same over smart HTTP (`git http-backend`), where fetches are spoken in process.
#[tokio::test]
async fn the_tag_modes_verify_tags_fetched_over_http() {
    tag_modes(true).await;
}

async fn tag_modes(over_http: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let trusted_key = tmp.path().join("trusted");
    let trusted = ssh_key(&trusted_key);
    let other_key = tmp.path().join("other");
    ssh_key(&other_key);
    let work = WorkRepo::new(&tmp.path().join("work"));
    let commit = ssh_signed_commit(&work, "a.yaml", &trusted_key);
    let signing = |key: &Path| format!("user.signingkey={}", key.display());
    let ssh_tag = |key: &Path, name: &str| {
        tag(
            &work,
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &signing(key),
                "tag",
                "-s",
                "-m",
                name,
            ],
            name,
        )
    };
    let v1 = ssh_tag(&trusted_key, "v1");
    let by_other = ssh_tag(&other_key, "v1-other");
    let plain = tag(&work, &["tag", "-a", "-m", "plain"], "v1-plain");
    let light = tag(&work, &["tag"], "v1-light");
    assert_eq!(light, commit);
    let served = tmp.path().join("served");
    let bare = served.join("r.git");
    work.publish(&bare);
    let server = match over_http {
        true => Some(crate::support::GitServer::start(&served, None).await),
        false => None,
    };
    let url = match &server {
        Some(server) => server.url("r.git"),
        None => format!("file://{}", bare.display()),
    };
    let cache = cache(tmp.path());
    let keys = || {
        Ok(TrustedKeys::from_secret_data([(
            "a.sshpub",
            trusted.as_bytes(),
        )]))
    };
    let fingerprint = ssh_fingerprint(&trusted_key.with_extension("pub"));
    let at_tag = |name: &str, mode: &str| {
        let mut obj = object(&url, mode);
        obj.spec.reference = Some(GitRef {
            tag: name.into(),
            ..Default::default()
        });
        obj
    };

    // The mirror holds the commit already (from the branch): the tag object is
    // fetched by name for the check.
    let mut branch = object(&url, "HEAD");
    assert!(reconcile(&mut branch, &cache, keys()).await);
    let mut obj = at_tag("v1", "Tag");
    assert!(
        reconcile(&mut obj, &cache, keys()).await,
        "{:?}",
        obj.status
    );
    assert_eq!(
        condition(&obj, "SourceVerified"),
        (
            "True".into(),
            "Succeeded".into(),
            format!("verified signature of\n\t- tag 'v1@{v1}' with key '{fingerprint}'")
        )
    );
    assert_eq!(obj.status.source_verification_mode.as_deref(), Some("Tag"));
    let mut both = at_tag("v1", "TagAndHEAD");
    assert!(reconcile(&mut both, &cache, keys()).await);
    assert_eq!(
        condition(&both, "SourceVerified").2,
        format!(
            "verified signature of\n\t- tag 'v1@{v1}' with key '{fingerprint}'\n\t- commit '{commit}' with key '{fingerprint}'"
        )
    );
    assert_eq!(
        both.status.source_verification_mode.as_deref(),
        Some("TagAndHEAD")
    );

    let refused = async |name: &str, mode: &str| {
        let mut obj = at_tag(name, mode);
        assert!(!reconcile(&mut obj, &cache, keys()).await, "{name}");
        assert!(obj.status.artifact.is_none(), "{name}: nothing stored");
        let (status, reason, message) = condition(&obj, "SourceVerified");
        assert_eq!(status, "False");
        (reason, message)
    };
    let (reason, message) = refused("v1-other", "Tag").await;
    assert_eq!(reason, "InvalidTagSignature");
    assert!(
        message.starts_with(&format!(
            "signature verification of tag 'v1-other@{by_other}' failed: unable to verify Git tag: "
        )),
        "{message}"
    );
    assert_eq!(
        refused("v1-plain", "TagAndHEAD").await,
        (
            "InvalidGitObject".into(),
            format!("cannot verify signature of tag 'v1-plain@{plain}' since it is not signed")
        )
    );
    assert_eq!(
        refused("v1-light", "Tag").await,
        (
            "InvalidGitObject".into(),
            "cannot verify signature of tag 'v1-light' since it is not signed".into()
        )
    );

    // Checked out from a branch, there is no tag to verify: stalled until the spec
    // changes.
    let mut obj = object(&url, "Tag");
    assert!(!reconcile(&mut obj, &cache, keys()).await);
    let (status, reason, message) = condition(&obj, "Stalled");
    assert_eq!(
        (status.as_str(), reason.as_str(), message.as_str()),
        (
            "True",
            "InvalidVerificationMode",
            "cannot verify tag object's signature if a tag reference is not specified"
        )
    );
}

#[tokio::test]
async fn an_unknown_mode_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut obj = object("https://example.com/r.git", "Everything");
    let cache = cache(tmp.path());
    assert!(!reconcile(&mut obj, &cache, Ok(TrustedKeys::default())).await);
    let (status, reason, message) = condition(&obj, "Stalled");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "UnsupportedSpec")
    );
    assert!(
        message.starts_with("spec.verify.mode \"Everything\" is not supported"),
        "{message}"
    );
}

/// A push announced: the next reconcile checks the remote again.
fn push(cache: &MirrorCache, url: &str) {
    cache.trigger(&flotilla_source::GitUrl::parse(url).unwrap().identity());
}
