//! Whole objects: [`unseal`] a SealedSecret into the Secret the controller creates
//! (upstream's `SealedSecret.Unseal`) and [`seal`] a Secret into the SealedSecret kubeseal
//! writes (`kubeseal.Seal` and `NewSealedSecret`).

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, OnceLock},
};

use base64::Engine as _;
use flotilla_template::{Functions, Map as TemplateMap, Template, Value as TemplateValue};
use serde_json::{Map, Value, json};

use super::{
    API_VERSION, KIND, SKIP_SET_OWNER_REFERENCES_ANNOTATION,
    crypto::{CryptoError, hybrid_decrypt, hybrid_encrypt, wipe},
    keys::{ControllerKey, SealingKey},
    scope::Scope,
};

/// One item that failed: which (`encryptedData.<key>` or `template.data.<entry>`) and why.
/// The message never holds plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// `encryptedData.<key>` or `template.data.<entry>`.
    pub item: String,
    /// What went wrong, in upstream's words where it has them.
    pub message: String,
}

/// The items that failed, sorted by item. Displayed as upstream's multierror prints them:
/// one message per distinct error with the items it hit,
/// `no key could decrypt secret (encryptedData.a,encryptedData.b)`, distinct errors joined
/// by `; `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemErrors(pub Vec<ItemError>);

impl ItemErrors {
    /// The failing items, sorted.
    pub fn items(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|e| e.item.as_str())
    }
}

impl fmt::Display for ItemErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for e in &self.0 {
            match groups.iter_mut().find(|(m, _)| *m == e.message) {
                Some((_, items)) => items.push(&e.item),
                None => groups.push((&e.message, vec![&e.item])),
            }
        }
        for (i, (message, items)) in groups.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{message} ({})", items.join(","))?;
        }
        Ok(())
    }
}

/// Why a SealedSecret did not unseal. The three kinds are told apart so a controller can say
/// which in its `Synced=False` message; none includes plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// The object is not a SealedSecret this crate can read (wrong kind, no name, fields of
    /// the wrong type, the deprecated `spec.data`).
    #[error("malformed SealedSecret: {0}")]
    Malformed(String),
    /// Items of `spec.encryptedData` are not base64 or no key opens them (wrong key, moved or
    /// renamed under a narrower scope, altered data). Reported before any template runs.
    #[error("{0}")]
    Decrypt(ItemErrors),
    /// Entries of `spec.template.data` do not parse or fail to execute.
    #[error("{0}")]
    Template(ItemErrors),
}

/// Why a Secret did not seal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The input is not a v1 Secret.
    #[error("input is not a Secret (kind {kind:?})")]
    NotASecret {
        /// The kind found.
        kind: String,
    },
    /// kubeseal's words for a Secret without a name.
    #[error("missing metadata.name in input Secret")]
    MissingName,
    /// Upstream's words: only a cluster-wide Secret may lack a namespace.
    #[error("secret must declare a namespace")]
    MissingNamespace,
    /// A field has the wrong type or a `data` value is not base64.
    #[error("{field}: {reason}")]
    Malformed {
        /// `data.<key>`, `stringData.<key>`, `metadata`, …
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Encrypting an item failed.
    #[error("encryptedData.{item}: {source}")]
    Crypto {
        /// The item key.
        item: String,
        /// The failure.
        #[source]
        source: CryptoError,
    },
}

/// Unseals a SealedSecret (`bitnami.com/v1alpha1`, as JSON) with the controller's keys into
/// the Secret upstream's `Unseal` builds:
///
/// * `metadata` is `spec.template.metadata` (labels, annotations, …) with name and
///   namespace forced to the SealedSecret's; `type` and `immutable` from `spec.template`;
/// * every `spec.encryptedData` item is opened under the label of the scope that the
///   **SealedSecret's own** `metadata.annotations` select (upstream's `labelFor(smeta)`;
///   `Scope()` reads the template but `Unseal` does not use it) and the SealedSecret's
///   namespace and name;
/// * every `spec.template.data` entry is a Go template (Sprig without `env`, `expandenv`,
///   `getHostByName`) executed over the map of item name → decrypted string; its output
///   becomes `data[entry]`, replacing an item of that name;
/// * `metadata.ownerReferences` is the SealedSecret as controller (`apiVersion`
///   `bitnami.com/v1alpha1`, `kind`, `name`, `uid`, `controller: true`) unless the
///   template's annotations say `sealedsecrets.bitnami.com/skip-set-owner-references:
///   "true"`, as upstream (which sets no `blockOwnerDeletion`).
pub fn unseal(sealed_secret: &Value, keys: &[ControllerKey]) -> Result<Value, UnsealError> {
    let parsed = ParsedSealedSecret::read(sealed_secret)?;
    let (name, namespace, uid, template) =
        (parsed.name, parsed.namespace, parsed.uid, parsed.template);
    let mut data = parsed.decrypt(keys)?;

    if !parsed.template_data.is_empty() {
        let rendered = run_templates(&parsed.template_data, &data)?;
        data.extend(rendered);
    }

    let template_meta = template
        .and_then(|t| t.get("metadata"))
        .and_then(Value::as_object);
    let mut metadata: Map<String, Value> = template_meta
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    metadata.insert("name".into(), name.into());
    metadata.insert("namespace".into(), namespace.into());
    let skip_owner = template_meta
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(SKIP_SET_OWNER_REFERENCES_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true");
    if !skip_owner {
        metadata.insert(
            "ownerReferences".into(),
            json!([{
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": name,
                "uid": uid,
                "controller": true,
            }]),
        );
    }

    let mut secret = Map::new();
    secret.insert("apiVersion".into(), "v1".into());
    secret.insert("kind".into(), "Secret".into());
    secret.insert("metadata".into(), Value::Object(metadata));
    if let Some(t) = template {
        for field in ["type", "immutable"] {
            if let Some(v) = t.get(field).filter(|v| !v.is_null()) {
                secret.insert(field.into(), v.clone());
            }
        }
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    secret.insert(
        "data".into(),
        Value::Object(
            data.iter()
                .map(|(k, v)| (k.clone(), Value::String(b64.encode(v))))
                .collect(),
        ),
    );
    Ok(Value::Object(secret))
}

/// The parts of a SealedSecret that unsealing and re-sealing read, checked.
struct ParsedSealedSecret<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
    /// Selected by the SealedSecret's **own** annotations (upstream's `labelFor(smeta)`).
    scope: Scope,
    template: Option<&'a Map<String, Value>>,
    encrypted: BTreeMap<String, String>,
    template_data: BTreeMap<String, String>,
}

impl<'a> ParsedSealedSecret<'a> {
    fn read(sealed_secret: &'a Value) -> Result<Self, UnsealError> {
        let malformed = |m: String| UnsealError::Malformed(m);
        if let Some(kind) = sealed_secret.get("kind").and_then(Value::as_str)
            && kind != KIND
        {
            return Err(malformed(format!("kind is {kind:?}, not {KIND:?}")));
        }
        let meta = sealed_secret
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or_else(|| malformed("metadata is missing".into()))?;
        let name = string_field(meta, "name")
            .map_err(malformed)?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| malformed("metadata.name is missing".into()))?;
        let namespace = string_field(meta, "namespace")
            .map_err(malformed)?
            .unwrap_or("");
        let uid = string_field(meta, "uid").map_err(malformed)?.unwrap_or("");
        let scope = Scope::of_annotations(meta.get("annotations").unwrap_or(&Value::Null));

        static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
        let spec = match sealed_secret.get("spec") {
            Some(Value::Object(spec)) => spec,
            None | Some(Value::Null) => EMPTY.get_or_init(Map::new),
            Some(_) => return Err(malformed("spec is not an object".into())),
        };
        if spec.get("data").is_some_and(|d| !d.is_null()) {
            return Err(malformed(
                "using deprecated 'data' field, use 'encryptedData' or flip the feature flag"
                    .into(),
            ));
        }
        let template = object_field(spec, "template", "spec.template").map_err(malformed)?;
        let encrypted = string_map(spec, "encryptedData", "encryptedData").map_err(malformed)?;
        let template_data = match template {
            Some(t) => string_map(t, "data", "template.data").map_err(malformed)?,
            None => BTreeMap::new(),
        };
        Ok(ParsedSealedSecret {
            name,
            namespace,
            uid,
            scope,
            template,
            encrypted,
            template_data,
        })
    }

    fn label(&self) -> Vec<u8> {
        self.scope.label(self.namespace, self.name)
    }

    /// Every `encryptedData` item opened with `keys`; all failures reported together.
    fn decrypt(&self, keys: &[ControllerKey]) -> Result<BTreeMap<String, Vec<u8>>, UnsealError> {
        let label = self.label();
        let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut failures = Vec::new();
        for (key, value) in &self.encrypted {
            let item = format!("encryptedData.{key}");
            let opened = go_base64(value)
                .map_err(|e| e.to_string())
                .and_then(|bytes| hybrid_decrypt(keys, &label, &bytes).map_err(|e| e.to_string()));
            match opened {
                Ok(plaintext) => {
                    data.insert(key.clone(), plaintext);
                }
                Err(message) => failures.push(ItemError { item, message }),
            }
        }
        if failures.is_empty() {
            Ok(data)
        } else {
            Err(UnsealError::Decrypt(ItemErrors(failures)))
        }
    }
}

/// Re-seals a SealedSecret with `newest` (the controller's `/v1/rotate`, `kubeseal
/// --re-encrypt`): every `spec.encryptedData` item is opened with `keys` and sealed again
/// under the same scope, namespace and name.
///
/// The answer is laid out as [`seal`] writes it — `metadata` rebuilt from the name, the
/// namespace and the scope annotations (upstream's `NewSealedSecret` keeps nothing else
/// of it either) — with `spec.template` kept as sent, `data` templates included: only
/// the ciphertexts change. Templates are not run, so a template that would fail does not
/// stop a re-seal. Errors are [`unseal`]'s: [`UnsealError::Malformed`] and
/// [`UnsealError::Decrypt`]; none carries plaintext.
pub fn reseal(
    sealed_secret: &Value,
    keys: &[ControllerKey],
    newest: &SealingKey,
) -> Result<Value, UnsealError> {
    let parsed = ParsedSealedSecret::read(sealed_secret)?;
    let mut plaintexts = parsed.decrypt(keys)?;
    let label = parsed.label();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut encrypted = Map::new();
    let mut failures = Vec::new();
    for (key, plaintext) in &mut plaintexts {
        match hybrid_encrypt(newest, &label, plaintext) {
            Ok(sealed) => {
                encrypted.insert(key.clone(), Value::String(b64.encode(sealed)));
            }
            Err(e) => failures.push(ItemError {
                item: format!("encryptedData.{key}"),
                message: e.to_string(),
            }),
        }
        // Not needed past here: not left behind in freed memory.
        wipe(plaintext);
    }
    if !failures.is_empty() {
        return Err(UnsealError::Decrypt(ItemErrors(failures)));
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), parsed.name.into());
    if !parsed.namespace.is_empty() {
        metadata.insert("namespace".into(), parsed.namespace.into());
    }
    metadata.insert("creationTimestamp".into(), Value::Null);
    let mut annotations = Value::Null;
    parsed.scope.annotate(&mut annotations);
    if annotations.as_object().is_some_and(|a| !a.is_empty()) {
        metadata.insert("annotations".into(), annotations);
    }
    let mut spec = Map::new();
    if let Some(template) = parsed.template {
        spec.insert("template".into(), Value::Object(template.clone()));
    }
    spec.insert("encryptedData".into(), Value::Object(encrypted));
    Ok(json!({
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": metadata,
        "spec": spec,
    }))
}

/// Sprig's generic functions without those that read the controller's environment
/// (upstream deletes `env`, `expandenv` and `getHostByName` "to avoid allowing the user to
/// learn things about the environment").
fn template_functions() -> Arc<Functions> {
    static FUNCTIONS: OnceLock<Arc<Functions>> = OnceLock::new();
    FUNCTIONS
        .get_or_init(|| {
            let mut f = Functions::sprig();
            f.remove("env").remove("expandenv").remove("getHostByName");
            Arc::new(f)
        })
        .clone()
}

/// Executes every `spec.template.data` entry over the decrypted items.
fn run_templates(
    entries: &BTreeMap<String, String>,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, UnsealError> {
    // Go passes map[string]string; a Rust string must be UTF-8, so invalid bytes of a
    // binary item become U+FFFD inside templates (the item itself stays exact).
    let values: BTreeMap<String, TemplateValue> = data
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                TemplateValue::from(String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect();
    let input = TemplateValue::Map(TemplateMap::new(values));
    let functions = template_functions();

    let mut out = BTreeMap::new();
    let mut failures = Vec::new();
    for (entry, text) in entries {
        let result = Template::new(entry)
            .functions(functions.clone())
            .parse(text)
            .and_then(|t| t.execute(&input));
        match result {
            Ok(rendered) => {
                out.insert(entry.clone(), rendered.into_bytes());
            }
            Err(e) => failures.push(ItemError {
                item: format!("template.data.{entry}"),
                message: scrub(&e.to_string(), data),
            }),
        }
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(UnsealError::Template(ItemErrors(failures)))
    }
}

/// Masks decrypted values that a function's error message might quote (a date that does not
/// parse, say): a template error must not carry a secret into a status condition.
fn scrub(message: &str, data: &BTreeMap<String, Vec<u8>>) -> String {
    let mut values: Vec<String> = data
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| v.len() >= 4)
        .collect();
    // Longest first, so a value containing another is masked whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut message = message.to_string();
    for v in &values {
        if message.contains(v.as_str()) {
            message = message.replace(v.as_str(), "*****");
        }
    }
    message
}

/// Seals a v1 Secret (as JSON; `data` base64 and `stringData` both read, `stringData` last
/// as the API server merges them) into the SealedSecret kubeseal writes for `scope`:
///
/// * the scope annotations on the template and on the SealedSecret say `scope`
///   (`UpdateScopeAnnotations`); the caller picks the scope as kubeseal does (its `--scope`
///   when not strict, else [`Scope::of_annotations`] of the Secret);
/// * `spec.template.metadata` is the Secret's metadata without read-only server fields
///   (`uid`, `resourceVersion`, `selfLink`, `generation`, `creationTimestamp`,
///   `deletionTimestamp`, `deletionGracePeriodSeconds`), owner references, or the
///   `kubectl.kubernetes.io/last-applied-configuration` and
///   `kubecfg.ksonnet.io/last-applied-configuration` annotations (which hold the plaintext);
///   `type` and `immutable` are carried over;
/// * every item is sealed under the scope's label into `spec.encryptedData`.
///
/// The layout is kubeseal's JSON: `kind`, `apiVersion`, `metadata` (with
/// `creationTimestamp: null`), `spec.template`, `spec.encryptedData` sorted by key.
pub fn seal(secret: &Value, key: &SealingKey, scope: Scope) -> Result<Value, SealError> {
    let malformed = |field: &str, reason: &str| SealError::Malformed {
        field: field.into(),
        reason: reason.into(),
    };
    let kind = secret
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Secret");
    if kind != "Secret" {
        return Err(SealError::NotASecret { kind: kind.into() });
    }
    let meta = match secret.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(malformed("metadata", "not an object")),
    };
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or(SealError::MissingName)?
        .to_string();
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if scope != Scope::ClusterWide && namespace.is_empty() {
        return Err(SealError::MissingNamespace);
    }

    let mut items: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Some(data) = secret.get("data").filter(|d| !d.is_null()) {
        let data = data
            .as_object()
            .ok_or_else(|| malformed("data", "not an object"))?;
        for (k, v) in data {
            let field = format!("data.{k}");
            let text = v
                .as_str()
                .ok_or_else(|| malformed(&field, "not a string"))?;
            let bytes = go_base64(text).map_err(|e| malformed(&field, &e.to_string()))?;
            items.insert(k.clone(), bytes);
        }
    }
    if let Some(data) = secret.get("stringData").filter(|d| !d.is_null()) {
        let data = data
            .as_object()
            .ok_or_else(|| malformed("stringData", "not an object"))?;
        for (k, v) in data {
            let text = v
                .as_str()
                .ok_or_else(|| malformed(&format!("stringData.{k}"), "not a string"))?;
            items.insert(k.clone(), text.as_bytes().to_vec());
        }
    }

    let label = scope.label(&namespace, &name);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut encrypted = Map::new();
    for (k, v) in &items {
        let sealed = hybrid_encrypt(key, &label, v).map_err(|source| SealError::Crypto {
            item: k.clone(),
            source,
        })?;
        encrypted.insert(k.clone(), Value::String(b64.encode(sealed)));
    }

    let mut template = Map::new();
    template.insert("metadata".into(), template_metadata(&meta, scope));
    for field in ["type", "immutable"] {
        if let Some(v) = secret.get(field).filter(|v| !v.is_null()) {
            template.insert(field.into(), v.clone());
        }
    }

    let mut sealed_meta = Map::new();
    sealed_meta.insert("name".into(), name.into());
    if !namespace.is_empty() {
        sealed_meta.insert("namespace".into(), namespace.into());
    }
    sealed_meta.insert("creationTimestamp".into(), Value::Null);
    let mut annotations = Value::Null;
    scope.annotate(&mut annotations);
    if annotations.as_object().is_some_and(|a| !a.is_empty()) {
        sealed_meta.insert("annotations".into(), annotations);
    }

    Ok(json!({
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": sealed_meta,
        "spec": {
            "template": template,
            "encryptedData": encrypted,
        },
    }))
}

/// The Secret's metadata as kubeseal puts it into the template: Go's ObjectMeta field order,
/// server-set fields and owner references dropped, last-applied annotations stripped, scope
/// annotations set.
fn template_metadata(meta: &Map<String, Value>, scope: Scope) -> Value {
    const LAST_APPLIED: [&str; 2] = [
        "kubectl.kubernetes.io/last-applied-configuration",
        "kubecfg.ksonnet.io/last-applied-configuration",
    ];
    let mut out = Map::new();
    for field in ["name", "generateName", "namespace"] {
        if let Some(v) = meta.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    out.insert("creationTimestamp".into(), Value::Null);
    if let Some(v) = meta.get("labels").filter(|v| !v.is_null()) {
        out.insert("labels".into(), v.clone());
    }
    let mut annotations = meta.get("annotations").cloned().unwrap_or(Value::Null);
    scope.annotate(&mut annotations);
    if let Some(a) = annotations.as_object_mut() {
        for k in LAST_APPLIED {
            a.remove(k);
        }
        if !a.is_empty() {
            out.insert("annotations".into(), annotations);
        }
    }
    for field in ["finalizers", "managedFields"] {
        if let Some(v) = meta.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// An optional string field.
fn string_field<'a>(m: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, String> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("metadata.{field} is not a string")),
    }
}

/// An optional object field.
fn object_field<'a>(
    m: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(format!("{path} is not an object")),
    }
}

/// An optional map of strings; `path` names it and its items in errors.
fn string_map(
    m: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, String> {
    let Some(o) = object_field(m, field, path)? else {
        return Ok(BTreeMap::new());
    };
    o.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("{path}.{k} is not a string")),
        })
        .collect()
}

/// A base64 error in Go's words (`encoding/base64.CorruptInputError`).
#[derive(Debug)]
struct CorruptInput(usize);

impl fmt::Display for CorruptInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "illegal base64 data at input byte {}", self.0)
    }
}

/// Go's `base64.StdEncoding.DecodeString`: padded standard alphabet, `\r` and `\n` ignored.
fn go_base64(text: &str) -> Result<Vec<u8>, CorruptInput> {
    use base64::DecodeError;
    let cleaned: String;
    let input = if text.contains(['\r', '\n']) {
        cleaned = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        cleaned.as_str()
    } else {
        text
    };
    base64::engine::general_purpose::STANDARD
        .decode(input)
        .map_err(|e| match e {
            DecodeError::InvalidByte(offset, _) | DecodeError::InvalidLastSymbol(offset, _) => {
                CorruptInput(offset)
            }
            DecodeError::InvalidLength(_) | DecodeError::InvalidPadding => {
                CorruptInput(input.len() / 4 * 4)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_errors_group_like_multierror() {
        let e = ItemErrors(vec![
            ItemError {
                item: "encryptedData.a".into(),
                message: "no key could decrypt secret".into(),
            },
            ItemError {
                item: "encryptedData.b".into(),
                message: "illegal base64 data at input byte 3".into(),
            },
            ItemError {
                item: "encryptedData.c".into(),
                message: "no key could decrypt secret".into(),
            },
        ]);
        assert_eq!(
            e.to_string(),
            "no key could decrypt secret (encryptedData.a,encryptedData.c); \
             illegal base64 data at input byte 3 (encryptedData.b)"
        );
    }

    #[test]
    fn base64_reads_as_go_does() {
        assert_eq!(go_base64("aGk=").unwrap(), b"hi");
        assert_eq!(go_base64("aG\nk=").unwrap(), b"hi");
        assert_eq!(
            go_base64("aG!k").unwrap_err().to_string(),
            "illegal base64 data at input byte 2"
        );
        assert!(go_base64("aGk").is_err());
    }

    #[test]
    fn scrub_masks_values_quoted_by_errors() {
        let data = BTreeMap::from([("d".to_string(), b"2024-99-99".to_vec())]);
        assert_eq!(
            scrub("parsing time \"2024-99-99\": month out of range", &data),
            "parsing time \"*****\": month out of range"
        );
    }
}
