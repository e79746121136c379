//! The PGP side of a Kustomization's SOPS decryption, as kustomize-controller does it:
//! the `*.asc` entries of `spec.decryption.secretRef` imported into a private GnuPG
//! home, where `gpg` opens the PGP-wrapped data keys (sops's GnuPG path). Keys with a
//! passphrase cannot be used (gpg runs in batch mode, as in Flux). The home, and the
//! agent gpg starts for it, go when the keyring is dropped.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use flotilla_render::sops::PgpKeyring;

/// A GnuPG home holding one decryption Secret's secret keys.
pub struct GnuPgKeyring {
    home: tempfile::TempDir,
    /// Each wrapped data key is opened once per reconcile, however many objects share it.
    opened: Mutex<HashMap<String, Option<Vec<u8>>>>,
}

/// Runs gpg on `home` with `input` on stdin.
fn gpg(home: &Path, args: &[&str], input: &[u8]) -> std::io::Result<Output> {
    let mut child = Command::new("gpg")
        .args([
            "--batch",
            "--no-tty",
            "--quiet",
            "--no-options",
            "--homedir",
        ])
        .arg(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A gpg that exits early closes its stdin; its exit status tells why.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output()
}

impl GnuPgKeyring {
    /// An empty keyring in a fresh private directory.
    pub fn new() -> std::io::Result<GnuPgKeyring> {
        let home = tempfile::Builder::new()
            .prefix("flotilla-gnupg-")
            .tempdir()?;
        Ok(GnuPgKeyring {
            home,
            opened: Mutex::default(),
        })
    }

    /// Imports armored (or binary) OpenPGP key data. The error is gpg's own words,
    /// which name keys, never their secret parts.
    pub fn import(&self, keys: &[u8]) -> Result<(), String> {
        let out = gpg(self.home.path(), &["--import"], keys)
            .map_err(|e| format!("cannot run gpg: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr
            .lines()
            .map(|l| l.trim_start_matches("gpg: ").trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Err(if reason.is_empty() {
            format!("gpg --import failed ({})", out.status)
        } else {
            reason
        })
    }
}

impl PgpKeyring for GnuPgKeyring {
    fn decrypt(&self, armored: &str) -> Option<Vec<u8>> {
        if let Some(known) = crate::lock(&self.opened).get(armored) {
            return known.clone();
        }
        let opened = gpg(self.home.path(), &["--decrypt"], armored.as_bytes())
            .ok()
            .filter(|out| out.status.success())
            .map(|out| out.stdout);
        crate::lock(&self.opened).insert(armored.to_string(), opened.clone());
        opened
    }
}

impl Drop for GnuPgKeyring {
    fn drop(&mut self) {
        // The agent gpg started for this home would outlive it otherwise.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh key pair without passphrase: (fingerprint, armored secret key).
    fn new_key(home: &Path) -> (String, Vec<u8>) {
        let out = gpg(
            home,
            &[
                "--passphrase",
                "",
                "--quick-gen-key",
                "sops@example.com",
                "rsa2048",
                "encr",
                "never",
            ],
            b"",
        )
        .unwrap();
        assert!(out.status.success(), "{out:?}");
        let listing = gpg(home, &["--with-colons", "--list-secret-keys"], b"").unwrap();
        let fingerprint = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|f| f.trim_end_matches(':').to_string())
            .expect("fingerprint");
        let secret = gpg(
            home,
            &["--armor", "--export-secret-keys", &fingerprint],
            b"",
        )
        .unwrap();
        (fingerprint, secret.stdout)
    }

    #[test]
    fn an_imported_secret_key_opens_what_was_encrypted_to_it_and_only_that() {
        let maker = tempfile::tempdir().unwrap();
        let (fingerprint, secret) = new_key(maker.path());
        let sealed = gpg(
            maker.path(),
            &[
                "--armor",
                "--trust-model",
                "always",
                "--encrypt",
                "-r",
                &fingerprint,
            ],
            &[7u8; 32],
        )
        .unwrap();
        assert!(sealed.status.success(), "{sealed:?}");
        let message = String::from_utf8(sealed.stdout).unwrap();

        let keyring = GnuPgKeyring::new().unwrap();
        assert_eq!(keyring.decrypt(&message), None, "no key imported yet");
        let keyring = GnuPgKeyring::new().unwrap();
        keyring.import(&secret).unwrap();
        assert_eq!(keyring.decrypt(&message), Some(vec![7u8; 32]));

        let other = tempfile::tempdir().unwrap();
        let (_, stranger) = new_key(other.path());
        let wrong = GnuPgKeyring::new().unwrap();
        wrong.import(&stranger).unwrap();
        assert_eq!(wrong.decrypt(&message), None);

        let error = keyring.import(b"not a key").unwrap_err();
        assert!(error.contains("no valid OpenPGP data found"), "{error}");
        for dir in [maker.path(), other.path()] {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(dir)
                .args(["--kill", "gpg-agent"])
                .status();
        }
    }
}
