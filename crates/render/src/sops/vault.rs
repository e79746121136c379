//! Data keys wrapped by HashiCorp Vault's transit engine (sops's `hc_vault` entries).
//! This crate does no I/O: a build asks [`VaultTransit`] for each entry it meets, and
//! what is not known yet is recorded as wanted. The caller (the hub) then asks Vault —
//! `POST <vault_address>/v1/<engine_path>/decrypt/<key_name>` with the ciphertext, as
//! sops's `hcvault` key source does — answers, and builds again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// One transit decryption a file asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VaultRequest {
    /// `vault_address` of the entry (the file's author chose it: the caller's egress
    /// policy decides whether it may be reached).
    pub address: String,
    /// `<engine_path>/decrypt/<key_name>`, cleaned as Go's `path.Join` cleans it.
    pub path: String,
    /// The entry's `enc` (`vault:v1:…`).
    pub ciphertext: String,
}

impl VaultRequest {
    /// The request of an `hc_vault` entry, if it has the fields.
    pub(crate) fn of(entry: &serde_json::Value) -> Option<VaultRequest> {
        let field = |k: &str| entry.get(k).and_then(serde_json::Value::as_str);
        Some(VaultRequest {
            address: field("vault_address")?.to_string(),
            path: join_clean(&[field("engine_path")?, "decrypt", field("key_name")?]),
            ciphertext: field("enc")?.to_string(),
        })
    }

    /// The URL to `POST` to.
    pub fn url(&self) -> String {
        format!("{}/v1/{}", self.address.trim_end_matches('/'), self.path)
    }
}

/// Go's `path.Join`: the non-empty parts joined with `/`, then `.`, `..` and repeated
/// slashes resolved lexically.
fn join_clean(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let rooted = joined.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." if out.last().is_some_and(|s| *s != "..") => {
                out.pop();
            }
            ".." if rooted => {}
            other => out.push(other),
        }
    }
    let cleaned = out.join("/");
    if rooted {
        format!("/{cleaned}")
    } else {
        cleaned
    }
}

/// The transit decryptions known so far and those a build wanted, with the token the
/// caller asks Vault with (never printed).
#[derive(Default)]
pub struct VaultTransit {
    token: String,
    known: Mutex<BTreeMap<VaultRequest, Result<Vec<u8>, String>>>,
    wanted: Mutex<BTreeSet<VaultRequest>>,
}

impl std::fmt::Debug for VaultTransit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultTransit").finish_non_exhaustive()
    }
}

impl VaultTransit {
    /// Nothing known yet, no token.
    pub fn new() -> VaultTransit {
        VaultTransit::default()
    }

    /// Nothing known yet; Vault is asked with `token`.
    pub fn with_token(token: String) -> VaultTransit {
        VaultTransit {
            token,
            ..VaultTransit::default()
        }
    }

    /// The token to ask Vault with.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The requests builds met that have no answer yet (cleared by the call).
    pub fn take_wanted(&self) -> Vec<VaultRequest> {
        let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *wanted).into_iter().collect()
    }

    /// Records Vault's answer: the data key (or the part of it), or why there is none.
    pub fn answer(&self, request: VaultRequest, result: Result<Vec<u8>, String>) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request, result);
    }

    /// The answer to `request`, if known; an unknown one is recorded as wanted.
    pub(crate) fn lookup(&self, request: VaultRequest) -> Option<Result<Vec<u8>, String>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match known.get(&request) {
            Some(result) => Some(result.clone()),
            None => {
                drop(known);
                self.wanted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(request);
                None
            }
        }
    }
}

/// sops's reading of Vault's answer (`dataKeyFromSecret`): `data.plaintext`, base64.
pub fn data_key_from_answer(body: &[u8]) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "transit backend is empty".to_string())?;
    let data = answer
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("transit backend is empty")?;
    let plaintext = data.get("plaintext").ok_or("no decrypted data")?;
    let plaintext = plaintext
        .as_str()
        .ok_or("decrypted plaintext data cannot be cast to string")?;
    base64::engine::general_purpose::STANDARD
        .decode(plaintext)
        .map_err(|_| "cannot decode base64 plaintext into data key bytes".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_as_go_joins_them() {
        assert_eq!(
            join_clean(&["transit", "decrypt", "sops"]),
            "transit/decrypt/sops"
        );
        assert_eq!(
            join_clean(&["/transit/", "decrypt", "sops"]),
            "/transit/decrypt/sops"
        );
        assert_eq!(join_clean(&["a/../b", "decrypt", "k"]), "b/decrypt/k");
        assert_eq!(join_clean(&["", "decrypt", "k"]), "decrypt/k");
    }

    #[test]
    fn answers_are_read_as_sops_reads_them() {
        assert_eq!(
            data_key_from_answer(br#"{"data":{"plaintext":"AAEC"}}"#).unwrap(),
            vec![0, 1, 2]
        );
        assert_eq!(
            data_key_from_answer(br#"{"errors":[]}"#).unwrap_err(),
            "transit backend is empty"
        );
        assert_eq!(
            data_key_from_answer(br#"{"data":{}}"#).unwrap_err(),
            "no decrypted data"
        );
        assert_eq!(
            data_key_from_answer(br#"{"data":{"plaintext":"%%"}}"#).unwrap_err(),
            "cannot decode base64 plaintext into data key bytes"
        );
    }

    #[test]
    fn unknown_requests_are_wanted_once() {
        let vault = VaultTransit::new();
        let request = VaultRequest::of(&serde_json::json!({
            "vault_address": "http://vault:8200", "engine_path": "sops", "key_name": "k", "enc": "vault:v1:x"
        }))
        .unwrap();
        assert_eq!(request.url(), "http://vault:8200/v1/sops/decrypt/k");
        assert!(vault.lookup(request.clone()).is_none());
        assert!(vault.lookup(request.clone()).is_none());
        assert_eq!(vault.take_wanted(), vec![request.clone()]);
        vault.answer(request.clone(), Ok(vec![1]));
        assert_eq!(vault.lookup(request), Some(Ok(vec![1])));
        assert!(vault.take_wanted().is_empty());
    }
}
