//! Commit signature verification for a GitRepository's `spec.verify` (mode `HEAD`):
//! the commit's `gpgsig` header checked against the public keys of a Secret, as Flux's
//! source-controller checks it — keys under `*.sshpub` are SSH keys, any other key
//! holds armored OpenPGP keys.
//!
//! The cryptography is the system's own: `gpgv` for OpenPGP (against a keyring made of
//! the Secret's keys only) and `ssh-keygen -Y verify` for SSH signatures (against an
//! allowed-signers file of the Secret's keys only). Parsing the commit is pure.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// The keys a Secret trusts, sorted by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    /// Armored OpenPGP public keys (one or more per entry).
    pub pgp: Vec<String>,
    /// SSH public keys in `authorized_keys` form (one or more lines per entry).
    pub ssh: Vec<String>,
}

impl TrustedKeys {
    /// Sorts a Secret's data by key name: `*.sshpub` is SSH, everything else OpenPGP
    /// (Flux reads unsuffixed keys as OpenPGP for compatibility).
    pub fn from_secret_data<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> TrustedKeys {
        let mut keys = TrustedKeys::default();
        for (name, value) in data {
            let text = String::from_utf8_lossy(value).into_owned();
            if name.ends_with(".sshpub") {
                keys.ssh.push(text);
            } else {
                keys.pgp.push(text);
            }
        }
        keys
    }
}

/// What carries the signature: a commit, or an annotated tag (Flux's messages name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitObject {
    /// A commit (`gpgsig` header).
    Commit,
    /// An annotated tag (the signature ends its message).
    Tag,
}

impl std::fmt::Display for GitObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GitObject::Commit => "commit",
            GitObject::Tag => "tag",
        })
    }
}

/// Why a commit or tag could not be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to verify Git {object}: {failure}")]
pub struct VerifyError {
    /// What was being verified.
    pub object: GitObject,
    /// Why it did not verify.
    pub failure: Failure,
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The object carries no signature.
    #[error("unable to verify payload as the provided signature is empty")]
    Unsigned,
    /// The signature is of a kind neither OpenPGP nor SSH.
    #[error("unknown signature format")]
    UnknownFormat,
    /// No trusted key of the signature's kind.
    #[error("no {0} public keys in the secret")]
    NoKeys(&'static str),
    /// The signature does not verify with any trusted key.
    #[error("{0}")]
    Rejected(String),
    /// The verifying program could not run.
    #[error("running {program}: {detail}")]
    Tool {
        /// `gpgv` or `ssh-keygen`.
        program: &'static str,
        /// Why.
        detail: String,
    },
}

/// A commit or tag object split into the signature and the bytes it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedObject {
    /// The signature (armored OpenPGP or SSH).
    pub signature: String,
    /// The object without its signature: what was signed.
    pub payload: Vec<u8>,
}

/// Takes the signature header out of a raw commit object (git's
/// `parse_signed_commit`): header lines end at the first blank line; a continuation
/// line starts with a space.
pub fn split_signed_commit(object: &[u8]) -> Option<SignedObject> {
    let mut payload = Vec::with_capacity(object.len());
    let mut signature: Option<String> = None;
    let mut in_signature = false;
    let mut in_headers = true;
    for line in object.split_inclusive(|b| *b == b'\n') {
        if in_headers {
            if line == b"\n" {
                in_headers = false;
            } else if in_signature && line.first() == Some(&b' ') {
                if let Some(sig) = signature.as_mut() {
                    sig.push_str(&String::from_utf8_lossy(&line[1..]));
                }
                continue;
            } else {
                in_signature = false;
                let header = line
                    .strip_prefix(b"gpgsig ")
                    .or_else(|| line.strip_prefix(b"gpgsig-sha256 "));
                if let Some(first) = header
                    && signature.is_none()
                {
                    signature = Some(String::from_utf8_lossy(first).into_owned());
                    in_signature = true;
                    continue;
                }
            }
        }
        payload.extend_from_slice(line);
    }
    signature.map(|signature| SignedObject { signature, payload })
}

/// The lines that start a signature (git's `sigs` table: OpenPGP, X.509, SSH).
const SIGNATURE_STARTS: &[&[u8]] = &[
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN PGP MESSAGE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
    b"-----BEGIN SSH SIGNATURE-----",
];

/// Takes the signature off the end of a raw tag object (git's `parse_signed_buffer`:
/// it starts at the last line that begins a signature).
pub fn split_signed_tag(object: &[u8]) -> Option<SignedObject> {
    let mut start = None;
    let mut offset = 0;
    for line in object.split_inclusive(|b| *b == b'\n') {
        if SIGNATURE_STARTS.iter().any(|s| line.starts_with(s)) {
            start = Some(offset);
        }
        offset += line.len();
    }
    let start = start?;
    Some(SignedObject {
        signature: String::from_utf8_lossy(&object[start..]).into_owned(),
        payload: object[..start].to_vec(),
    })
}

/// Verifies the signature of `raw`, a raw commit or annotated tag object, with `keys`;
/// returns the signing key as Flux names it (an OpenPGP key id, or an SSH key's
/// `SHA256:` fingerprint). `scratch` is an empty directory for the keyring and the
/// signature files.
pub fn verify_object(
    object: GitObject,
    raw: &[u8],
    keys: &TrustedKeys,
    scratch: &Path,
) -> Result<String, VerifyError> {
    let signed = match object {
        GitObject::Commit => split_signed_commit(raw),
        GitObject::Tag => split_signed_tag(raw),
    };
    verify_signed(signed, keys, scratch).map_err(|failure| VerifyError { object, failure })
}

fn verify_signed(
    signed: Option<SignedObject>,
    keys: &TrustedKeys,
    scratch: &Path,
) -> Result<String, Failure> {
    let signed = signed.ok_or(Failure::Unsigned)?;
    if signed.signature.trim().is_empty() {
        return Err(Failure::Unsigned);
    }
    if signed
        .signature
        .starts_with("-----BEGIN PGP SIGNATURE-----")
    {
        verify_pgp(&signed, keys, scratch)
    } else if signed
        .signature
        .starts_with("-----BEGIN SSH SIGNATURE-----")
    {
        verify_ssh(&signed, keys, scratch)
    } else {
        Err(Failure::UnknownFormat)
    }
}

fn tool_error(program: &'static str, e: impl std::fmt::Display) -> Failure {
    Failure::Tool {
        program,
        detail: e.to_string(),
    }
}

fn verify_pgp(
    signed: &SignedObject,
    keys: &TrustedKeys,
    scratch: &Path,
) -> Result<String, Failure> {
    if keys.pgp.is_empty() {
        return Err(Failure::NoKeys("OpenPGP"));
    }
    // gpgv reads binary keyrings: each armored key dearmored into one file.
    let keyring = scratch.join("trusted.gpg");
    let mut binary = Vec::new();
    for armored in &keys.pgp {
        let out = run(
            Command::new("gpg")
                .args(["--batch", "--quiet", "--no-options", "--homedir"])
                .arg(scratch)
                .arg("--dearmor"),
            armored.as_bytes(),
            "gpg",
        )?;
        binary.extend_from_slice(&out.stdout);
    }
    std::fs::write(&keyring, &binary).map_err(|e| tool_error("gpgv", e))?;
    let signature = scratch.join("commit.sig");
    let payload = scratch.join("commit.payload");
    std::fs::write(&signature, &signed.signature).map_err(|e| tool_error("gpgv", e))?;
    std::fs::write(&payload, &signed.payload).map_err(|e| tool_error("gpgv", e))?;
    let out = run(
        Command::new("gpgv")
            .arg("--homedir")
            .arg(scratch)
            .arg("--keyring")
            .arg(&keyring)
            .args(["--status-fd", "1"])
            .arg(&signature)
            .arg(&payload),
        b"",
        "gpgv",
    )?;
    let status = String::from_utf8_lossy(&out.stdout);
    // VALIDSIG <signing fpr> … <primary key fpr>: the primary key's id, as Flux reports.
    let valid = status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .and_then(|rest| rest.split_whitespace().last().map(str::to_string));
    match valid {
        Some(fingerprint) if out.status.success() => {
            Ok(fingerprint[fingerprint.len().saturating_sub(16)..].to_string())
        }
        _ => {
            let why = status
                .lines()
                .find_map(|l| {
                    l.strip_prefix("[GNUPG:] NO_PUBKEY ")
                        .map(|id| {
                            format!(
                                "signature made by key {id}, which is not among the trusted keys"
                            )
                        })
                        .or_else(|| {
                            l.strip_prefix("[GNUPG:] BADSIG ")
                                .map(|_| "bad signature".to_string())
                        })
                })
                .unwrap_or_else(|| "the OpenPGP signature does not verify".to_string());
            Err(Failure::Rejected(why))
        }
    }
}

/// The principal every trusted SSH key is allowed to sign as, in the allowed-signers
/// file: the Secret trusts keys, not identities.
const PRINCIPAL: &str = "trusted";

fn verify_ssh(
    signed: &SignedObject,
    keys: &TrustedKeys,
    scratch: &Path,
) -> Result<String, Failure> {
    let lines: Vec<&str> = keys
        .ssh
        .iter()
        .flat_map(|k| k.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.is_empty() {
        return Err(Failure::NoKeys("SSH"));
    }
    let allowed = scratch.join("allowed_signers");
    let text: String = lines
        .iter()
        .map(|key| format!("{PRINCIPAL} namespaces=\"git\" {key}\n"))
        .collect();
    std::fs::write(&allowed, text).map_err(|e| tool_error("ssh-keygen", e))?;
    let signature = scratch.join("commit.sig");
    std::fs::write(&signature, &signed.signature).map_err(|e| tool_error("ssh-keygen", e))?;
    let out = run(
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", "git", "-I", PRINCIPAL, "-f"])
            .arg(&allowed)
            .arg("-s")
            .arg(&signature),
        &signed.payload,
        "ssh-keygen",
    )?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // `Good "git" signature for trusted with ED25519 key SHA256:…`
        let fingerprint = text
            .split_whitespace()
            .find(|w| w.starts_with("SHA256:"))
            .unwrap_or("")
            .to_string();
        Ok(fingerprint)
    } else {
        Err(Failure::Rejected(
            "the SSH signature was not made by a trusted key".to_string(),
        ))
    }
}

/// Runs `command` with `input` on stdin, collecting its output.
fn run(
    command: &mut Command,
    input: &[u8],
    program: &'static str,
) -> Result<std::process::Output, Failure> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| tool_error(program, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits early closes its stdin; its exit status tells why.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().map_err(|e| tool_error(program, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@example.com> 1700000000 +0000\n\
committer A <a@example.com> 1700000000 +0000\n\
gpgsig -----BEGIN SSH SIGNATURE-----\n \
U1NIU0lH\n \
-----END SSH SIGNATURE-----\n\
\n\
first\n";

    #[test]
    fn the_signature_header_is_taken_out_of_what_was_signed() {
        let signed = split_signed_commit(SIGNED).expect("signed");
        assert_eq!(
            signed.signature,
            "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"
        );
        assert_eq!(
            String::from_utf8(signed.payload).unwrap(),
            "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@example.com> 1700000000 +0000\n\
committer A <a@example.com> 1700000000 +0000\n\
\n\
first\n"
        );
    }

    #[test]
    fn a_signature_line_in_the_message_is_not_a_header() {
        let unsigned = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\ngpgsig in the message\n";
        assert_eq!(split_signed_commit(unsigned), None);
        let keys = TrustedKeys::default();
        let scratch = tempfile::tempdir().unwrap();
        assert_eq!(
            verify_object(GitObject::Commit, unsigned, &keys, scratch.path()),
            Err(VerifyError {
                object: GitObject::Commit,
                failure: Failure::Unsigned
            })
        );
    }

    #[test]
    fn keys_are_sorted_by_their_name() {
        let keys = TrustedKeys::from_secret_data([
            ("alice.asc", b"pgp-a".as_slice()),
            ("bob.sshpub", b"ssh-b".as_slice()),
            ("legacy", b"pgp-c".as_slice()),
        ]);
        assert_eq!(keys.pgp, ["pgp-a", "pgp-c"]);
        assert_eq!(keys.ssh, ["ssh-b"]);
    }
}
