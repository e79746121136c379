//! `configMapGenerator` and `secretGenerator`: key/value sources (literals, files, env
//! files) into ConfigMaps and Secrets, and the content hash kustomize appends to their
//! names.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::error::{Error, Result};
use super::kustomization::{GeneratorArgs, GeneratorOptions};
use super::resource::{Behavior, Resource};
use super::sha256;

/// What kind of object a generator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ConfigMap,
    Secret,
}

/// Reads a file relative to the kustomization, refusing paths outside it.
pub(crate) type Loader<'a> = dyn Fn(&str) -> Result<Vec<u8>> + 'a;

/// Builds one generated resource.
pub(crate) fn generate(
    file: &str,
    kind: Kind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    load: &Loader<'_>,
) -> Result<Resource> {
    let field = match kind {
        Kind::ConfigMap => "configMapGenerator",
        Kind::Secret => "secretGenerator",
    };
    if args.name.is_empty() {
        return Err(Error::field(
            file,
            format!("{field}.name"),
            "a generator needs a name",
        ));
    }
    let pairs = pairs(file, field, args, load)?;
    let mut data = BTreeMap::new();
    for (k, v) in pairs {
        validate_key(file, field, &args.name, &k)?;
        if data.insert(k.clone(), v).is_some() {
            return Err(Error::field(
                file,
                field,
                format!(
                    "{} {} illegally repeats the key `{k}`",
                    field_kind(kind),
                    args.name
                ),
            ));
        }
    }
    let opts = merge_options(args.options.as_ref(), global);

    let mut meta = Map::new();
    meta.insert("name".into(), json!(args.name));
    if !args.namespace.is_empty() {
        meta.insert("namespace".into(), json!(args.namespace));
    }
    if !opts.labels.is_empty() {
        meta.insert("labels".into(), json!(opts.labels));
    }
    if !opts.annotations.is_empty() {
        meta.insert("annotations".into(), json!(opts.annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert("kind".into(), json!(field_kind(kind)));
    obj.insert("metadata".into(), Value::Object(meta));
    let b64 = |bytes: &[u8]| base64_lines(bytes);
    match kind {
        Kind::ConfigMap => {
            let mut text = Map::new();
            let mut binary = Map::new();
            for (k, v) in data {
                match String::from_utf8(v) {
                    Ok(s) => text.insert(k, Value::String(s)),
                    Err(e) => binary.insert(k, Value::String(b64(e.as_bytes()))),
                };
            }
            if !text.is_empty() {
                obj.insert("data".into(), Value::Object(text));
            }
            if !binary.is_empty() {
                obj.insert("binaryData".into(), Value::Object(binary));
            }
        }
        Kind::Secret => {
            let ty = if args.type_.is_empty() {
                "Opaque"
            } else {
                &args.type_
            };
            obj.insert("type".into(), json!(ty));
            let encoded: Map<String, Value> = data
                .into_iter()
                .map(|(k, v)| (k, Value::String(b64(&v))))
                .collect();
            if !encoded.is_empty() {
                obj.insert("data".into(), Value::Object(encoded));
            }
        }
    }
    if opts.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(obj);
    r.behavior = match args.behavior.as_str() {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => {
            return Err(Error::field(
                file,
                format!("{field}.behavior"),
                format!("unknown behavior {other:?} (expected create, merge or replace)"),
            ));
        }
    };
    r.needs_hash = !opts.disable_name_suffix_hash.unwrap_or(false);
    Ok(r)
}

fn field_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::ConfigMap => "ConfigMap",
        Kind::Secret => "Secret",
    }
}

/// Local options win over `generatorOptions`; labels and annotations merge.
fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        for (k, v) in &g.labels {
            out.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &g.annotations {
            out.annotations
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        if g.disable_name_suffix_hash == Some(true) {
            out.disable_name_suffix_hash = Some(true);
        }
        out.immutable |= g.immutable;
    }
    out
}

fn pairs(
    file: &str,
    field: &str,
    args: &GeneratorArgs,
    load: &Loader<'_>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for env in &args.envs {
        let content = load(env)?;
        out.extend(env_pairs(file, env, &content)?);
    }
    for source in &args.literals {
        let Some((k, v)) = source.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Error::field(
                file,
                format!("{field}.literals"),
                format!("invalid literal source {source:?}, expected key=value"),
            ));
        };
        out.push((k.to_string(), remove_quotes(v).as_bytes().to_vec()));
    }
    for source in &args.files {
        let (key, path) = match source.matches('=').count() {
            0 => (
                source.rsplit('/').next().unwrap_or(source).to_string(),
                source.as_str(),
            ),
            1 => {
                let (k, p) = source.split_once('=').unwrap_or_default();
                if k.is_empty() || p.is_empty() {
                    return Err(Error::field(
                        file,
                        format!("{field}.files"),
                        format!("missing key name or file path in source {source:?}"),
                    ));
                }
                (k.to_string(), p)
            }
            _ => {
                return Err(Error::field(
                    file,
                    format!("{field}.files"),
                    format!("source {source:?} key name or file path contains '='"),
                ));
            }
        };
        out.push((key, load(path)?));
    }
    // Env files first, then literals, then files: the order kustomize loads them in,
    // which decides which duplicate key is reported.
    Ok(out)
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn env_pairs(file: &str, env_file: &str, content: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let text = std::str::from_utf8(content).map_err(|_| {
        Error::field(
            file,
            "envs",
            format!("{env_file}: env file is not valid UTF-8"),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (number, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A key alone takes its value from the environment upstream: empty here.
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        if k.is_empty()
            || k.contains(char::is_whitespace)
            || k.starts_with(|c: char| c.is_ascii_digit())
        {
            // A line without `=` is not quoted: it may be a (decrypted) secret value.
            let shown = if line.contains('=') {
                format!("{k:?}")
            } else {
                format!("on line {}", number + 1)
            };
            return Err(Error::field(
                file,
                "envs",
                format!("{env_file}: invalid environment variable name {shown}"),
            ));
        }
        out.push((k.to_string(), v.as_bytes().to_vec()));
    }
    Ok(out)
}

fn validate_key(file: &str, field: &str, name: &str, key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            file,
            field,
            format!(
                "{name}: invalid key {key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
            ),
        ))
    }
}

/// kustomize's name suffix for a ConfigMap or Secret (or any object): the first ten
/// hex digits of the SHA-256 of a JSON encoding, with a few digits swapped for letters
/// so the suffix never looks like a number or a bad word.
pub(crate) fn hash_suffix(obj: &Map<String, Value>) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    // Upstream looks the name up as one field literally called `metadata/name`, which
    // never exists: the name always enters the hash as "". Matching that keeps the
    // suffixes identical to kustomize's.
    let name = "";
    let field = |k: &str| -> Value {
        match obj.get(k) {
            None | Some(Value::Null) => Value::String(String::new()),
            Some(v) => v.clone(),
        }
    };
    // Go's json.Marshal of a map sorts keys; build the object in sorted order.
    let mut m = BTreeMap::new();
    let encoded = match kind {
        "ConfigMap" => {
            m.insert("data", field("data"));
            m.insert("kind", json!("ConfigMap"));
            m.insert("name", json!(name));
            if let Some(b @ Value::Object(_)) = obj.get("binaryData") {
                m.insert("binaryData", b.clone());
            }
            flotilla_core::gofmt::marshal(&json!(m))
        }
        "Secret" => {
            m.insert("data", field("data"));
            m.insert("kind", json!("Secret"));
            m.insert("name", json!(name));
            m.insert("type", field("type"));
            if let Some(s @ Value::Object(_)) = obj.get("stringData") {
                m.insert("stringData", s.clone());
            }
            flotilla_core::gofmt::marshal(&json!(m))
        }
        _ => flotilla_core::gofmt::marshal(&Value::Object(obj.clone())),
    };
    let hex = sha256::hex_digest(encoded.as_bytes());
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// The builtin `IAMPolicyGenerator` (kustomize's `iampolicygenerator` filter): for
/// `cloud: gke`, a ServiceAccount bound to a Google service account through Workload
/// Identity's `iam.gke.io/gcp-service-account` annotation. `config` is the plugin
/// configuration; other clouds are refused, as upstream refuses them.
pub(crate) fn iam_policy(file: &str, config: &Map<String, Value>) -> Result<Resource> {
    let text = |section: &str, key: &str| {
        config
            .get(section)
            .and_then(|v| if key.is_empty() { Some(v) } else { v.get(key) })
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let cloud = text("cloud", "");
    if cloud != "gke" {
        return Err(Error::field(
            file,
            "generators",
            format!("IAMPolicyGenerator: cloud provider {cloud} not supported yet"),
        ));
    }
    let mut metadata = Map::new();
    metadata.insert(
        "annotations".into(),
        json!({"iam.gke.io/gcp-service-account": format!(
            "{}@{}.iam.gserviceaccount.com",
            text("serviceAccount", "name"),
            text("serviceAccount", "projectId")
        )}),
    );
    metadata.insert("name".into(), json!(text("kubernetesService", "name")));
    let namespace = text("kubernetesService", "namespace");
    if !namespace.is_empty() {
        metadata.insert("namespace".into(), json!(namespace));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert("kind".into(), json!("ServiceAccount"));
    obj.insert("metadata".into(), Value::Object(metadata));
    Ok(Resource::new(obj))
}

/// Base64 as kustomize writes generated bytes (kyaml's `encodeBase64`): in lines of 70
/// characters, each ending in a line break, once the text is 70 characters or more.
/// The break-free form holds the same bytes (the API server skips line breaks), but the
/// name suffix hashes this text, so it must be kustomize's.
fn base64_lines(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        // Base64 is ASCII, so any chunk of it is text.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_line_without_equals_is_a_key_and_never_quoted_when_invalid() {
        let pairs = env_pairs("k.yaml", "a.env", b"# comment\nONLY_KEY\nA=1\n").unwrap();
        assert_eq!(
            pairs,
            [
                ("ONLY_KEY".to_string(), Vec::new()),
                ("A".to_string(), b"1".to_vec())
            ]
        );
        let error = env_pairs("k.yaml", "a.env", b"A=1\nhunter2 is the password\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a.env: invalid environment variable name on line 2"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        let error = env_pairs("k.yaml", "a.env", b"BAD KEY=v\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"BAD KEY\""), "{error}");
    }

    #[test]
    fn iam_policy_generator_serves_gke_only() {
        let config = |cloud: &str| {
            json!({"cloud": cloud, "kubernetesService": {"name": "app"},
                "serviceAccount": {"name": "gsa", "projectId": "proj"}})
            .as_object()
            .cloned()
            .expect("object")
        };
        let r = iam_policy("k.yaml", &config("gke")).expect("gke");
        assert_eq!(
            Value::Object(r.obj),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
                "name": "app",
                "annotations": {"iam.gke.io/gcp-service-account": "gsa@proj.iam.gserviceaccount.com"}}})
        );
        let error = iam_policy("k.yaml", &config("aws")).expect_err("aws");
        assert!(
            error
                .to_string()
                .contains("cloud provider aws not supported yet"),
            "{error}"
        );
    }

    #[test]
    fn base64_breaks_into_lines_of_70_from_70_characters_on() {
        // 51 bytes encode to 68 characters: one line, no break.
        let short = base64_lines(&[b'x'; 51]);
        assert_eq!(short.len(), 68);
        assert!(!short.contains('\n'));
        // 52 bytes encode to 72: 70, a break, 2, a break (kyaml's encodeBase64).
        let long = base64_lines(&[b'x'; 52]);
        let lines: Vec<&str> = long.split_terminator('\n').collect();
        assert_eq!(lines.iter().map(|l| l.len()).collect::<Vec<_>>(), [70, 2]);
        assert!(long.ends_with('\n'));
        assert_eq!(
            lines.concat(),
            base64::engine::general_purpose::STANDARD.encode([b'x'; 52])
        );
    }

    #[test]
    fn hash_matches_kustomize() {
        // Suffixes kustomize v5.5.0 printed (conformance case TestBaseWithGeneratorsAlone).
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"foo": "bar"}});
        let Value::Object(cm) = cm else {
            unreachable!()
        };
        assert_eq!(hash_suffix(&cm), "798k5k7g9f");
        let secret = json!({"kind": "Secret", "type": "Opaque", "metadata": {"name": "b"},
            "data": {"password": "c29tZXB3", "username": "YWRtaW4="}});
        let Value::Object(secret) = secret else {
            unreachable!()
        };
        assert_eq!(hash_suffix(&secret), "bgd6bkgdm2");
    }
}
