//! SOPS decryption of a JSON document (what Flux's kustomize-controller does to each
//! built object when a Kustomization sets `spec.decryption.provider: sops`): the data key
//! unwrapped with an age identity, every `ENC[AES256_GCM,…]` value decrypted with the
//! path of its key as additional data, and (for [`decrypt`]) the document's MAC checked
//! before anything decrypted is returned.
//!
//! Data keys are unwrapped from age entries with age identities and from PGP entries
//! with a [`PgpKeyring`] the caller provides (it runs GnuPG; this module starts no
//! process); cloud KMS and Vault entries are not read. YAML comments, which a JSON
//! document cannot hold, are not part of the MAC.

mod comments;
mod dotenv;
mod formats;
mod goyaml;
mod ini;
mod shamir;
mod value;
mod vault;

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha512};

pub use formats::{Format, decrypt_file};
pub use value::ValueError;
pub use vault::{VaultRequest, VaultTransit, data_key_from_answer};

/// Why a document could not be decrypted. Messages never hold a decrypted value.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The document has no `sops` metadata.
    #[error("the document has no sops metadata")]
    NotEncrypted,
    /// The `sops` metadata is missing a field or has a wrong one.
    #[error("sops metadata: {0}")]
    Metadata(String),
    /// No identity opens any of the age entries, and no PGP key any of the PGP ones.
    #[error(
        "failed to get the data key: none of the {age} age identities{} opens the file's recipients",
        if *pgp { " nor the PGP keys" } else { "" }
    )]
    NoIdentity {
        /// How many age identities were tried.
        age: usize,
        /// Whether PGP keys were tried.
        pgp: bool,
    },
    /// A value does not decrypt (its ciphertext or its key path was changed).
    #[error("failed to decrypt the value at '{path}': {source}")]
    Value {
        /// The key path, `:`-joined.
        path: String,
        /// Why.
        source: ValueError,
    },
    /// The MAC does not decrypt (its ciphertext or `lastmodified` was changed).
    #[error("failed to decrypt the MAC: {0}")]
    MacDecrypt(ValueError),
    /// Vault's transit engine did not give the data key.
    #[error("failed to get the data key: {0}")]
    Vault(String),
    /// Fewer key groups opened than the Shamir threshold needs (sops's words).
    #[error("Error getting data key: {required} successful groups required, got {opened}")]
    KeyGroups {
        /// The file's `shamir_threshold`.
        required: usize,
        /// How many groups opened.
        opened: usize,
    },
    /// The values do not match the MAC.
    #[error("MAC mismatch: the file's MAC does not match its values")]
    MacMismatch,
    /// The file does not load as its format (kustomize-controller's words).
    #[error("failed to load encrypted {format} data: {reason}")]
    Load {
        /// The input format's name.
        format: &'static str,
        /// Why.
        reason: String,
    },
    /// The decrypted tree cannot be written in the output format.
    #[error("failed to emit encrypted {input} file as decrypted {output}: {reason}")]
    Emit {
        /// The input format's name.
        input: &'static str,
        /// The output format's name.
        output: &'static str,
        /// Why.
        reason: String,
    },
    /// A format or feature of SOPS files this hub does not decrypt.
    #[error("{0}")]
    Unsupported(String),
}

/// Opens the PGP-wrapped data keys of SOPS files (implemented by the caller over
/// GnuPG, as sops and kustomize-controller do).
pub trait PgpKeyring: Send + Sync {
    /// The plaintext of the armored OpenPGP message, when one of the keyring's secret
    /// keys opens it.
    fn decrypt(&self, armored: &str) -> Option<Vec<u8>>;
}

/// The keys that open data keys: age identities (`AGE-SECRET-KEY-1…` lines; `#`
/// comments and blank lines skipped) and, optionally, a PGP keyring.
#[derive(Default)]
pub struct Identities {
    age: Vec<age::x25519::Identity>,
    pgp: Option<std::sync::Arc<dyn PgpKeyring>>,
    vault: Option<std::sync::Arc<VaultTransit>>,
}

impl Identities {
    /// Reads identity files; a line that is not an identity is an error naming its
    /// number only (it may be a secret).
    pub fn parse<'a>(files: impl IntoIterator<Item = &'a str>) -> Result<Identities, String> {
        let mut out = Vec::new();
        for file in files {
            for (n, line) in file.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let identity = line
                    .parse::<age::x25519::Identity>()
                    .map_err(|_| format!("line {} is not an age identity", n + 1))?;
                out.push(identity);
            }
        }
        Ok(Identities {
            age: out,
            pgp: None,
            vault: None,
        })
    }

    /// No identities (an encrypted document then fails to decrypt).
    pub fn none() -> Identities {
        Identities::default()
    }

    /// Adds `other`'s age identities to these.
    pub fn extend(&mut self, other: Identities) {
        self.age.extend(other.age);
    }

    /// These identities with `keyring` opening PGP entries.
    pub fn with_pgp(mut self, keyring: std::sync::Arc<dyn PgpKeyring>) -> Identities {
        self.pgp = Some(keyring);
        self
    }

    /// These identities with Vault transit answers opening `hc_vault` entries.
    pub fn with_vault(mut self, vault: std::sync::Arc<VaultTransit>) -> Identities {
        self.vault = Some(vault);
        self
    }

    /// The Vault transit answers these identities read, if any.
    pub fn vault(&self) -> Option<&std::sync::Arc<VaultTransit>> {
        self.vault.as_ref()
    }

    /// How many age identities there are.
    pub fn len(&self) -> usize {
        self.age.len()
    }

    /// Whether there are no age identities and no PGP keyring.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.pgp.is_none()
    }
}

/// Whether `doc` carries SOPS metadata.
pub fn is_encrypted(doc: &Value) -> bool {
    doc.get("sops").is_some_and(Value::is_object)
}

/// Decrypts `doc` in place: its values decrypted, the `sops` key removed, the MAC over
/// all values verified (as `sops --decrypt`). On error `doc` is left as it was.
pub fn decrypt(doc: &mut Value, identities: &Identities) -> Result<(), SopsError> {
    decrypt_checked(doc, identities, true).map(drop)
}

/// [`decrypt`] without the MAC check, as kustomize-controller decrypts built objects:
/// kustomize adds namespaces, labels and prefixes to them, which the MAC covers. Each
/// encrypted value still authenticates with its key path.
pub fn decrypt_values(doc: &mut Value, identities: &Identities) -> Result<(), SopsError> {
    decrypt_checked(doc, identities, false).map(drop)
}

/// Decrypts a SOPS dotenv file to plain dotenv text, the MAC verified.
pub fn decrypt_dotenv(text: &str, identities: &Identities) -> Result<String, SopsError> {
    dotenv::decrypt(text, identities, true)
}

/// [`decrypt_dotenv`] without the MAC check (as kustomize-controller decrypts sources).
pub fn decrypt_dotenv_values(text: &str, identities: &Identities) -> Result<String, SopsError> {
    dotenv::decrypt(text, identities, false)
}

/// Decrypts `doc` in place (see [`decrypt`]) and answers the data key, which also
/// opens the file's encrypted comments.
fn decrypt_checked(
    doc: &mut Value,
    identities: &Identities,
    check_mac: bool,
) -> Result<[u8; 32], SopsError> {
    // Decrypted into a copy, so that `doc` stays as it was on any error.
    let mut plain = doc.clone();
    let Value::Object(fields) = &mut plain else {
        return Err(SopsError::NotEncrypted);
    };
    // Kept in order: sops writes the metadata last, but a file may not.
    let Some(Value::Object(metadata)) = fields.shift_remove("sops") else {
        return Err(SopsError::NotEncrypted);
    };
    let rules = Rules::of(&metadata)?;
    let key = data_key(&metadata, identities)?;
    let text = |k: &str| metadata.get(k).and_then(Value::as_str).unwrap_or("");
    let (mac, lastmodified) = (text("mac"), text("lastmodified"));
    let mut hash = Sha512::new();
    for_each_leaf(fields, &mut |leaf, path| {
        let encrypted = rules.encrypts(path);
        if encrypted && !leaf.is_null() {
            let located = |source| SopsError::Value {
                path: path.join(":"),
                source,
            };
            let Value::String(text) = leaf else {
                return Err(located(ValueError::Format));
            };
            let aad = format!("{}:", path.join(":"));
            *leaf = value::decrypt(text, &key, &aad).map_err(located)?;
        }
        if encrypted || !rules.mac_only_encrypted {
            hash.update(value::mac_bytes(leaf));
        }
        Ok(())
    })?;
    if !check_mac {
        *doc = plain;
        return Ok(key);
    }
    if mac.is_empty() {
        return Err(SopsError::Metadata("no mac".into()));
    }
    let stored = match value::decrypt(mac, &key, lastmodified).map_err(SopsError::MacDecrypt)? {
        Value::String(s) => s,
        _ => return Err(SopsError::Metadata("the mac is not a string".into())),
    };
    let computed: String = hash.finalize().iter().map(|b| format!("{b:02X}")).collect();
    if !stored.eq_ignore_ascii_case(&computed) {
        return Err(SopsError::MacMismatch);
    }
    *doc = plain;
    Ok(key)
}

/// What [`for_each_leaf`] calls: a leaf and its key path.
type LeafFn<'a, E> = dyn FnMut(&mut Value, &[String]) -> Result<(), E> + 'a;

/// Calls `f` on every leaf of `fields` with its key path, in document order (SOPS's
/// walk: list items take their list's path).
fn for_each_leaf<E>(fields: &mut Map<String, Value>, f: &mut LeafFn<'_, E>) -> Result<(), E> {
    fn visit<E>(value: &mut Value, path: &mut Vec<String>, f: &mut LeafFn<'_, E>) -> Result<(), E> {
        match value {
            Value::Object(map) => map.iter_mut().try_for_each(|(name, child)| {
                path.push(name.clone());
                let visited = visit(child, path, f);
                path.pop();
                visited
            }),
            Value::Array(items) => items.iter_mut().try_for_each(|item| visit(item, path, f)),
            leaf => f(leaf, path),
        }
    }
    let mut path = Vec::new();
    fields.iter_mut().try_for_each(|(name, value)| {
        path.push(name.clone());
        let visited = visit(value, &mut path, f);
        path.pop();
        visited
    })
}

/// Which values are encrypted: SOPS's `unencrypted_suffix`, `encrypted_suffix`,
/// `unencrypted_regex` and `encrypted_regex` (at most one is set), matched against every
/// key of the path.
struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<regex::Regex>,
    encrypted_regex: Option<regex::Regex>,
    mac_only_encrypted: bool,
}

impl Rules {
    fn of(metadata: &Map<String, Value>) -> Result<Rules, SopsError> {
        let text = |k: &str| {
            metadata
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let regex = |k: &str| {
            text(k)
                .map(|r| {
                    regex::Regex::new(&r).map_err(|e| SopsError::Metadata(format!("{k}: {e}")))
                })
                .transpose()
        };
        Ok(Rules {
            unencrypted_suffix: text("unencrypted_suffix"),
            encrypted_suffix: text("encrypted_suffix"),
            unencrypted_regex: regex("unencrypted_regex")?,
            encrypted_regex: regex("encrypted_regex")?,
            mac_only_encrypted: metadata
                .get("mac_only_encrypted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    fn encrypts(&self, path: &[String]) -> bool {
        if let Some(suffix) = &self.unencrypted_suffix {
            return !path.iter().any(|p| p.ends_with(suffix.as_str()));
        }
        if let Some(suffix) = &self.encrypted_suffix {
            return path.iter().any(|p| p.ends_with(suffix.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex {
            return !path.iter().any(|p| re.is_match(p));
        }
        if let Some(re) = &self.encrypted_regex {
            return path.iter().any(|p| re.is_match(p));
        }
        true
    }
}

/// Where sops keeps master keys, at the top of the metadata or in each key group.
const KEY_KINDS: &[&str] = &[
    "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age", "pgp",
];

/// The 32-byte data key (sops's `GetDataKeyWithKeyServices`): the master keys at the
/// top of the metadata are one key group, else each of `key_groups` is; a group opens
/// when one of its age entries opens with an age identity or one of its PGP entries
/// with the keyring. One group holds the key itself; several hold Shamir parts of it,
/// of which `shamir_threshold` must open.
fn data_key(metadata: &Map<String, Value>, identities: &Identities) -> Result<[u8; 32], SopsError> {
    let has_keys = |group: &Map<String, Value>| {
        KEY_KINDS.iter().any(|k| {
            group
                .get(*k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
    };
    let groups: Vec<&Map<String, Value>> = if has_keys(metadata) {
        vec![metadata]
    } else {
        metadata
            .get("key_groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .collect()
    };
    if groups.is_empty() {
        return Err(SopsError::Metadata("No keys found in file".into()));
    }
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut vault_error = None;
    for opened in groups
        .iter()
        .filter_map(|group| open_group(group, identities))
    {
        match opened {
            Ok(part) => parts.push(part),
            Err(e) => vault_error = vault_error.or(Some(e)),
        }
    }
    let none_opened = || match &vault_error {
        Some(e) => SopsError::Vault(e.clone()),
        None => SopsError::NoIdentity {
            age: identities.age.len(),
            pgp: identities.pgp.is_some(),
        },
    };
    let key = if groups.len() == 1 {
        parts.into_iter().next().ok_or_else(none_opened)?
    } else {
        let threshold = match metadata.get("shamir_threshold") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
            // dotenv and INI metadata holds it as text.
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            _ => 0,
        };
        if parts.is_empty() || parts.len() < threshold {
            return Err(SopsError::KeyGroups {
                required: threshold,
                opened: parts.len(),
            });
        }
        shamir::combine(&parts).map_err(|e| {
            SopsError::Metadata(format!("could not get data key from shamir parts: {e}"))
        })?
    };
    key.try_into()
        .map_err(|_| SopsError::Metadata("the data key is not 32 bytes".into()))
}

/// What one key group's entries give: the data key or a Shamir part of it, or Vault's
/// refusal; `None` when no entry opened (Vault entries not asked yet are left wanted).
fn open_group(
    group: &Map<String, Value>,
    identities: &Identities,
) -> Option<Result<Vec<u8>, String>> {
    let wrapped = |kind: &str| -> Vec<&str> {
        group
            .get(kind)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.get("enc").and_then(Value::as_str))
            .collect()
    };
    let from_age = || {
        wrapped("age")
            .into_iter()
            .find_map(|armored| unwrap_age(armored, &identities.age))
    };
    let from_pgp = || {
        let keyring = identities.pgp.as_ref()?;
        wrapped("pgp")
            .into_iter()
            .find_map(|armored| keyring.decrypt(armored))
    };
    let from_vault = || {
        let vault = identities.vault.as_ref()?;
        group
            .get("hc_vault")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(VaultRequest::of)
            .find_map(|request| match vault.lookup(request)? {
                Ok(key) => Some(Ok(key)),
                Err(e) => Some(Err(e)),
            })
    };
    match from_age().or_else(from_pgp) {
        Some(key) => Some(Ok(key)),
        None => from_vault(),
    }
}

fn unwrap_age(armored: &str, identities: &[age::x25519::Identity]) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new(reader).ok()?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .ok()?;
    let mut key = Vec::new();
    reader.read_to_end(&mut key).ok()?;
    Some(key)
}

/// Whom [`encrypt`] wraps the data key for.
pub enum Recipient<'a> {
    /// An age X25519 recipient (`age1…`).
    Age(&'a str),
    /// An OpenPGP key: its fingerprint, and the caller's encryption of a data key to it
    /// (an armored OpenPGP message; the caller runs GnuPG).
    Pgp {
        /// The key's fingerprint (sops's `fp`).
        fingerprint: &'a str,
        /// Encrypts the data key to that key.
        wrap: &'a dyn Fn(&[u8]) -> Result<String, String>,
    },
}

/// Encrypts `doc` in place for `recipients` as `sops --encrypt` does for a JSON
/// document: a fresh data key wrapped for each recipient, every value whose key path
/// `encrypted_regex` selects (all values without one) sealed with its path as
/// additional data, and the MAC over all values sealed with `lastmodified` (RFC 3339).
pub fn encrypt(
    doc: &mut Value,
    recipients: &[Recipient<'_>],
    encrypted_regex: Option<&str>,
    lastmodified: &str,
) -> Result<(), SopsError> {
    use aes_gcm::aead::rand_core::RngCore as _;
    let Value::Object(fields) = doc else {
        return Err(SopsError::Metadata("the document is not a mapping".into()));
    };
    let mut metadata = Map::new();
    if let Some(re) = encrypted_regex {
        metadata.insert("encrypted_regex".into(), Value::String(re.into()));
    }
    let rules = Rules::of(&metadata)?;
    let mut key = [0u8; 32];
    aes_gcm::aead::OsRng.fill_bytes(&mut key);
    let mut hash = Sha512::new();
    for_each_leaf::<std::convert::Infallible>(fields, &mut |leaf, path| {
        hash.update(value::mac_bytes(leaf));
        if rules.encrypts(path) && !leaf.is_null() {
            let aad = format!("{}:", path.join(":"));
            *leaf = Value::String(value::encrypt(leaf, &key, &aad));
        }
        Ok(())
    })
    .unwrap_or_else(|never| match never {});
    let mac: String = hash.finalize().iter().map(|b| format!("{b:02X}")).collect();
    let (mut age_entries, mut pgp_entries) = (Vec::new(), Vec::new());
    for recipient in recipients {
        match recipient {
            Recipient::Age(recipient) => {
                let parsed: age::x25519::Recipient = recipient
                    .parse()
                    .map_err(|e| SopsError::Metadata(format!("age recipient {recipient}: {e}")))?;
                age_entries.push(serde_json::json!({
                    "recipient": recipient,
                    "enc": wrap_key(&key, parsed)?,
                }));
            }
            Recipient::Pgp { fingerprint, wrap } => {
                let enc = wrap(&key)
                    .map_err(|e| SopsError::Metadata(format!("pgp key {fingerprint}: {e}")))?;
                pgp_entries.push(serde_json::json!({
                    "created_at": lastmodified,
                    "enc": enc,
                    "fp": fingerprint,
                }));
            }
        }
    }
    for (kind, entries) in [("age", age_entries), ("pgp", pgp_entries)] {
        if !entries.is_empty() {
            metadata.insert(kind.into(), Value::Array(entries));
        }
    }
    metadata.insert("lastmodified".into(), Value::String(lastmodified.into()));
    metadata.insert(
        "mac".into(),
        Value::String(value::encrypt(&Value::String(mac), &key, lastmodified)),
    );
    metadata.insert("version".into(), Value::String("3.10.2".into()));
    fields.insert("sops".into(), Value::Object(metadata));
    Ok(())
}

fn wrap_key(key: &[u8], recipient: age::x25519::Recipient) -> Result<String, SopsError> {
    use std::io::Write as _;
    let fail = |e: &dyn std::fmt::Display| SopsError::Metadata(format!("age: {e}"));
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| fail(&e))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| fail(&e))?;
    writer.write_all(key).map_err(|e| fail(&e))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| fail(&e))?;
    String::from_utf8(out).map_err(|e| fail(&e))
}

#[cfg(test)]
mod key_group_tests {
    use super::*;
    use age::secrecy::ExposeSecret as _;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Data keys split by sops's own `shamir.Split` (`tests/data/sops_shamir_splits.json`,
    /// made by `tests/oracle/sops_shamir_split.go`) open from `threshold` key groups
    /// and not from fewer.
    #[test]
    fn key_groups_give_the_data_key_from_threshold_parts() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sops_shamir_splits.json"
        );
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let key = hex(fixture["key"].as_str().unwrap());
        for split in fixture["splits"].as_array().unwrap() {
            let threshold = split["threshold"].as_u64().unwrap() as usize;
            let mut groups = Vec::new();
            let mut secrets = Vec::new();
            for part in split["parts"].as_array().unwrap() {
                let identity = age::x25519::Identity::generate();
                let enc = wrap_key(&hex(part.as_str().unwrap()), identity.to_public()).unwrap();
                groups.push(serde_json::json!({"age": [{"recipient": identity.to_public().to_string(), "enc": enc}]}));
                secrets.push(identity.to_string().expose_secret().to_string());
            }
            let metadata: Map<String, Value> = serde_json::from_value(serde_json::json!({
                "key_groups": groups,
                "shamir_threshold": threshold,
            }))
            .unwrap();
            // The groups that open are the last `threshold` ones: any will do.
            let opening = Identities::parse(
                secrets[secrets.len() - threshold..]
                    .iter()
                    .map(String::as_str),
            )
            .unwrap();
            assert_eq!(data_key(&metadata, &opening).unwrap().to_vec(), key);
            let short =
                Identities::parse(secrets[..threshold - 1].iter().map(String::as_str)).unwrap();
            assert_eq!(
                data_key(&metadata, &short).unwrap_err().to_string(),
                format!(
                    "Error getting data key: {threshold} successful groups required, got {}",
                    threshold - 1
                )
            );
        }
    }

    #[test]
    fn a_single_key_group_holds_the_key_itself() {
        let identity = age::x25519::Identity::generate();
        let key = [7u8; 32];
        let enc = wrap_key(&key, identity.to_public()).unwrap();
        let metadata: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "key_groups": [{"age": [{"recipient": identity.to_public().to_string(), "enc": enc}]}],
        }))
        .unwrap();
        let ids = Identities::parse([identity.to_string().expose_secret()]).unwrap();
        assert_eq!(data_key(&metadata, &ids).unwrap(), key);
        let none: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"lastmodified": "x"})).unwrap();
        assert_eq!(
            data_key(&none, &ids).unwrap_err().to_string(),
            "sops metadata: No keys found in file"
        );
    }
}
