//! The ApplicationSet `plugin` generator, as Argo CD's `PluginGenerator`
//! (`applicationset/generators/plugin.go`, `applicationset/services/plugin`): the ConfigMap
//! `configMapRef.name` in the controller's namespace gives the plugin's `baseUrl`, its
//! `token` (a `$key` of the `argocd-secret` Secret, or `$secret:key` of another Secret, as
//! `ParseSecretKey` and `settings.ReplaceStringSecret` read it) and an optional
//! `requestTimeout`; the generator POSTs `{"applicationSetName", "input": {"parameters"}}`
//! to `<baseUrl>/api/v1/getparams.execute` with `Authorization: Bearer <token>`, and each
//! object of the answer's `output.parameters` is one parameter set, with
//! `generator.input.parameters` and the generator's `values` added.
//!
//! The HTTP call goes through [`PluginServices`]; everything else — the checks, the token,
//! the answer's decoding and Argo CD's error texts — is here. The token never appears in an
//! error: every message of this generator has it replaced by `******`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::cluster_decision::ControllerObjects;
use super::params::{Params, flatten, go_sprint};

/// The Secret a `$key` token reference without a Secret name reads (`common.ArgoCDSecretName`).
pub const ARGOCD_SECRET: &str = "argocd-secret";

/// The path of the one call a plugin answers, relative to its `baseUrl`.
pub const GETPARAMS_PATH: &str = "api/v1/getparams.execute";

/// The `User-Agent` upstream's plugin client sends.
pub const USER_AGENT: &str = "argocd-applicationset";

/// How long a call may take without `requestTimeout` (upstream's `defaultTimeout`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Argo CD's `DefaultPluginRequeueAfter`: how often a set with a plugin generator is
/// generated again without `requeueAfterSeconds`.
pub const DEFAULT_PLUGIN_REQUEUE_AFTER: Duration = Duration::from_secs(30 * 60);

/// Longest part of an answer's body quoted in an error message.
const QUOTED_BODY: usize = 1024;

/// One call to a plugin.
#[derive(Clone, PartialEq, Eq)]
pub struct PluginRequest {
    /// `<baseUrl>/api/v1/getparams.execute`.
    pub url: String,
    /// The bearer token (none when it resolved to the empty string).
    pub token: Option<String>,
    /// The JSON body, as Go's encoder writes it (with its trailing newline).
    pub body: Vec<u8>,
    /// How long the whole call may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for PluginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRequest")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "******"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A plugin's answer: its status and (bounded) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Makes the HTTP call of the plugin generator. The error is why no answer came (Go's
/// `net/http` would say `dial tcp …: connection refused`), without the token.
pub trait PluginServices: Send + Sync {
    /// POSTs `request.body` to `request.url` as `application/json`, with the token as a
    /// bearer token and [`USER_AGENT`].
    fn post(&self, request: &PluginRequest) -> Result<PluginResponse, String>;
}

/// `ParseSecretKey`: `$name:key` reads `key` of the Secret `name` (only the text between
/// the first and second colon is the key); anything else is a key of `argocd-secret`. The
/// key comes back with its `$`, as `ReplaceStringSecret` wants it.
pub fn parse_secret_key(reference: &str) -> (String, String) {
    if reference.contains(':') {
        let mut parts = reference.split(':');
        let name = parts.next().unwrap_or_default();
        let key = parts.next().unwrap_or_default();
        (
            name.get(1..).unwrap_or_default().to_string(),
            format!("${key}"),
        )
    } else {
        (ARGOCD_SECRET.to_string(), reference.to_string())
    }
}

/// `settings.ReplaceStringSecret`: `$key` becomes the Secret's value under `key`, trimmed;
/// a key the Secret lacks leaves the text as written (upstream only logs it).
pub fn replace_string_secret(text: &str, values: &BTreeMap<String, String>) -> String {
    let Some(key) = text.strip_prefix('$') else {
        return text.to_string();
    };
    match values.get(key) {
        Some(value) => value.trim().to_string(),
        None => text.to_string(),
    }
}

/// Go's `strconv.Atoi` errors.
fn atoi(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {text:?}: invalid syntax"));
    }
    text.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {text:?}: value out of range"))
}

/// `text` with every occurrence of `token` replaced.
fn scrub(text: String, token: &str) -> String {
    if token.is_empty() {
        text
    } else {
        text.replace(token, "******")
    }
}

/// Object keys in byte order at every level, as Go's encoder writes maps.
fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// The request body upstream's `ServiceRequest` encodes to: `parameters` omitted when it
/// is empty (`omitempty`), HTML characters not escaped, a newline at the end.
pub fn request_body(appset_name: &str, parameters: &Value) -> Vec<u8> {
    let mut input = serde_json::Map::new();
    if parameters.as_object().is_some_and(|p| !p.is_empty()) {
        input.insert("parameters".into(), sorted_keys(parameters));
    }
    let mut body = serde_json::Map::new();
    body.insert(
        "applicationSetName".into(),
        Value::String(appset_name.to_string()),
    );
    body.insert("input".into(), Value::Object(input));
    let mut bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// `CheckResponse`: a status outside 2xx is `API error with status code N: <message>`,
/// the message being the JSON body's `message` or `error` string, or the body as text
/// when it is not a JSON object.
fn check_response(response: &PluginResponse) -> Result<(), String> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let status = response.status;
    let message = match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(map)) => map
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| map.get("error").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string(),
        _ => quoted(&response.body),
    };
    Err(format!("API error with status code {status}: {message}"))
}

/// A body in a message: as text, cut after [`QUOTED_BODY`] bytes.
fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= QUOTED_BODY {
        return text.into_owned();
    }
    let mut end = QUOTED_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], body.len())
}

/// The field of a Go struct a JSON object sets for `name`: the last key equal to it
/// ignoring case, as `encoding/json` decodes.
fn go_field<'a>(map: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .next_back()
}

/// `Client.Do` decoding into `ServiceResponse`: the first JSON value of the body (an empty
/// body is no parameters, as upstream ignores `io.EOF`); a syntax or type error is Go's
/// text followed by `: <body>`.
fn decode_answer(body: &[u8]) -> Result<Vec<Params>, String> {
    let failed = |e: String| format!("{e}: {}", quoted(body));
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Ok(Vec::new());
    };
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let value = match values.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            let c = body[first];
            let starts_value =
                matches!(c, b'{' | b'[' | b'"' | b'-' | b't' | b'f' | b'n') || c.is_ascii_digit();
            return Err(failed(if starts_value {
                // Go's scanner words the other syntax errors differently; ours say where.
                if e.is_eof() {
                    "unexpected EOF".to_string()
                } else {
                    e.to_string()
                }
            } else {
                format!(
                    "invalid character {} looking for beginning of value",
                    go_quote_char(body, first)
                )
            }));
        }
        None => return Ok(Vec::new()),
    };
    let type_error = |kind: &str, at: &str, ty: &str| {
        failed(format!(
            "json: cannot unmarshal {kind} into {at} of type {ty}"
        ))
    };
    let top = match &value {
        Value::Null => return Ok(Vec::new()),
        Value::Object(map) => map,
        other => {
            return Err(type_error(
                super::generators::go_json_kind(other),
                "Go value",
                "plugin.ServiceResponse",
            ));
        }
    };
    let output = match go_field(top, "output") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(type_error(
                super::generators::go_json_kind(other),
                "Go struct field ServiceResponse.output",
                "plugin.Output",
            ));
        }
    };
    let parameters = match go_field(output, "parameters") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(type_error(
                super::generators::go_json_kind(other),
                "Go struct field Output.output.parameters",
                "[]map[string]interface {}",
            ));
        }
    };
    let mut out = Vec::with_capacity(parameters.len());
    for item in parameters {
        match item {
            Value::Object(map) => out.push(map.clone()),
            Value::Null => out.push(Params::new()),
            other => {
                return Err(type_error(
                    super::generators::go_json_kind(other),
                    "Go struct field Output.output.parameters",
                    "map[string]interface {}",
                ));
            }
        }
    }
    Ok(out)
}

/// The character at `at` as Go's `quoteChar` prints it in a syntax error.
fn go_quote_char(body: &[u8], at: usize) -> String {
    let c = std::str::from_utf8(&body[at..])
        .ok()
        .and_then(|s| s.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    match c {
        '\'' => "'\\''".to_string(),
        '"' => "'\"'".to_string(),
        c if c.is_control() => format!("{:?}", c.to_string()),
        c => format!("'{c}'"),
    }
}

/// `getPluginFromGenerator` + `Service.List`: the ConfigMap, the token, the call. The
/// error is upstream's message (not yet scrubbed) and the token when it was resolved.
fn fetch(
    objects: &dyn ControllerObjects,
    plugins: &dyn PluginServices,
    appset_name: &str,
    spec: &Value,
    token: &mut String,
) -> Result<Vec<Params>, String> {
    let from_generator = |e: String| format!("error getting plugin from generator: {e}");
    let config_map_name = spec
        .pointer("/configMapRef/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data = objects
        .config_map(config_map_name)
        .and_then(|data| {
            if data.get("baseUrl").is_none_or(String::is_empty) {
                return Err("baseUrl not found in ConfigMap".to_string());
            }
            if data.get("token").is_none_or(String::is_empty) {
                return Err("token not found in ConfigMap".to_string());
            }
            Ok(data)
        })
        .map_err(|e| from_generator(format!("error fetching ConfigMap: {e}")))?;
    let reference = data.get("token").map(String::as_str).unwrap_or_default();
    if !reference.starts_with('$') {
        return Err(from_generator(format!(
            "error fetching Secret token: token is empty, or does not reference a secret key starting with '$': {reference}"
        )));
    }
    let (secret_name, key) = parse_secret_key(reference);
    let values = objects.secret(&secret_name).map_err(|e| {
        from_generator(format!(
            "error fetching Secret token: error fetching secret {}/{secret_name}: {e}",
            objects.namespace()
        ))
    })?;
    *token = replace_string_secret(&key, &values);
    let timeout = match data.get("requestTimeout") {
        None => DEFAULT_REQUEST_TIMEOUT,
        Some(text) => match atoi(text) {
            Err(e) => return Err(from_generator(format!("error set requestTimeout : {e}"))),
            Ok(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
            // Upstream applies no option for 0; a negative timeout is read as none given.
            Ok(_) => DEFAULT_REQUEST_TIMEOUT,
        },
    };
    let mut base = data.get("baseUrl").cloned().unwrap_or_default();
    if !base.ends_with('/') {
        base.push('/');
    }
    let parameters = spec
        .pointer("/input/parameters")
        .cloned()
        .unwrap_or(Value::Null);
    let request = PluginRequest {
        url: format!("{base}{GETPARAMS_PATH}"),
        token: (!token.is_empty()).then(|| token.clone()),
        body: request_body(appset_name, &parameters),
        timeout,
    };
    let listing = |e: String| format!("error listing params: error get api '{appset_name}': {e}");
    let response = plugins
        .post(&request)
        .map_err(|e| listing(format!("Post {:?}: {e}", request.url)))?;
    check_response(&response).map_err(listing)?;
    decode_answer(&response.body).map_err(listing)
}

/// The plugin's parameter sets, and the token the call used (to keep out of later
/// messages).
pub(crate) struct Generated {
    pub(crate) params: Vec<Params>,
    pub(crate) token: String,
}

/// `PluginGenerator.GenerateParams` up to the values: the plugin's parameter sets (flattened
/// and printed in legacy mode) with `generator.input.parameters`. The error is upstream's
/// message without the token.
pub(crate) fn generate(
    objects: &dyn ControllerObjects,
    plugins: &dyn PluginServices,
    appset_name: &str,
    spec: &Value,
    go_template: bool,
) -> Result<Generated, String> {
    let mut token = String::new();
    let found =
        fetch(objects, plugins, appset_name, spec, &mut token).map_err(|e| scrub(e, &token))?;
    let parameters = spec
        .pointer("/input/parameters")
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = Vec::with_capacity(found.len());
    for found in found {
        let mut params = if go_template {
            found
        } else {
            flatten(&found)
                .into_iter()
                .map(|(k, v)| (k, Value::String(go_sprint(&v))))
                .collect()
        };
        params.insert(
            "generator".into(),
            serde_json::json!({"input": {"parameters": parameters}}),
        );
        out.push(params);
    }
    Ok(Generated { params: out, token })
}

/// `text` without `token`, for errors raised after the call (the values' rendering).
pub(crate) fn scrubbed(text: String, token: &str) -> String {
    scrub(text, token)
}

#[cfg(test)]
mod tests {
    //! The cases of Argo CD's `plugin_test.go` (`TestPluginGenerateParams`),
    //! `plugin_service_test.go` and `utils_test.go`, expected values from there; the fake
    //! plugin answers as upstream's test server does (401 unless the bearer token is right).

    use super::*;
    use serde_json::json;

    pub(crate) struct Namespace {
        pub(crate) config_maps: BTreeMap<String, BTreeMap<String, String>>,
        pub(crate) secrets: BTreeMap<String, BTreeMap<String, String>>,
    }

    impl ControllerObjects for Namespace {
        fn namespace(&self) -> &str {
            "default"
        }
        fn config_map(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
            self.config_maps
                .get(name)
                .cloned()
                .ok_or_else(|| format!("configmaps {name:?} not found"))
        }
        fn secret(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
            self.secrets
                .get(name)
                .cloned()
                .ok_or_else(|| format!("secrets {name:?} not found"))
        }
        fn list(
            &self,
            _: &super::super::cluster_decision::DuckResource,
            _: &super::super::cluster_decision::Selection,
        ) -> Result<Vec<Value>, String> {
            Ok(Vec::new())
        }
    }

    pub(crate) struct Server {
        pub(crate) token: String,
        pub(crate) content: Vec<u8>,
        pub(crate) requests: std::sync::Mutex<Vec<PluginRequest>>,
    }

    impl PluginServices for Server {
        fn post(&self, request: &PluginRequest) -> Result<PluginResponse, String> {
            self.requests.lock().unwrap().push(request.clone());
            if request.token.as_deref() != Some(self.token.as_str()) {
                return Ok(PluginResponse {
                    status: 401,
                    body: Vec::new(),
                });
            }
            Ok(PluginResponse {
                status: 200,
                body: self.content.clone(),
            })
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CONTENT: &str = r#"{"output": {
        "parameters": [{
            "key1": "val1",
            "key2": {"key2_1": "val2_1", "key2_2": {"key2_2_1": "val2_2_1"}},
            "key3": 123
        }]}}"#;

    const APPENDED: &str = r#"{"output": {"parameters": [{
        "key1": "val1",
        "key2": {"key2_1": "val2_1", "key2_2": {"key2_2_1": "val2_2_1"}},
        "key3": 123,
        "pkey2": "valplugin"
    }]}}"#;

    struct Case {
        config_map: BTreeMap<String, String>,
        secret: (&'static str, BTreeMap<String, String>),
        parameters: Value,
        content: &'static str,
        go_template: bool,
        values: Option<Value>,
    }

    fn case() -> Case {
        Case {
            config_map: map(&[("baseUrl", "http://127.0.0.1"), ("token", "$plugin.token")]),
            secret: ("argocd-secret", map(&[("plugin.token", "my-secret")])),
            parameters: json!({"pkey1": "val1", "pkey2": "val2"}),
            content: CONTENT,
            go_template: false,
            values: None,
        }
    }

    fn run(case: Case) -> Result<Vec<Value>, String> {
        run_with(case).0
    }

    fn run_with(case: Case) -> (Result<Vec<Value>, String>, Vec<PluginRequest>) {
        let ns = Namespace {
            config_maps: BTreeMap::from([("first-plugin-cm".to_string(), case.config_map)]),
            secrets: BTreeMap::from([(case.secret.0.to_string(), case.secret.1.clone())]),
        };
        let key = case
            .secret
            .1
            .values()
            .next()
            .cloned()
            .unwrap_or_else(|| "never".into());
        let server = Server {
            token: key,
            content: case.content.as_bytes().to_vec(),
            requests: Default::default(),
        };
        let mut spec = json!({"configMapRef": {"name": "first-plugin-cm"},
                              "input": {"parameters": case.parameters}});
        if let Some(values) = case.values {
            spec["values"] = values;
        }
        let mut set = crate::ApplicationSet::from_yaml(
            "metadata: {name: set, namespace: default}\nspec: {template: {metadata: {name: x}, spec: {}}}\n",
        )
        .unwrap();
        set.spec.go_template = case.go_template;
        let memory = crate::appset::MemoryRepos::new();
        let ctx = crate::appset::GeneratorContext {
            repos: &memory,
            cluster_secrets: &[],
            new_git_file_globbing: false,
            projects: None,
            pull_requests: None,
            scm_providers: None,
            controller_objects: Some(&ns),
            plugins: Some(&server),
        };
        let result = crate::appset::generate_params(&json!({"plugin": spec}), &set, ctx)
            .map(|sets| sets.into_iter().map(Value::Object).collect());
        let requests = server.requests.lock().unwrap().clone();
        (result, requests)
    }

    fn legacy_expected(extra: Value) -> Vec<Value> {
        let mut expected = json!({
            "key1": "val1", "key2.key2_1": "val2_1", "key2.key2_2.key2_2_1": "val2_2_1", "key3": "123",
            "generator": {"input": {"parameters": {"pkey1": "val1", "pkey2": "val2"}}},
        });
        for (k, v) in extra.as_object().unwrap() {
            expected[k] = v.clone();
        }
        vec![expected]
    }

    #[test]
    fn simple_case() {
        assert_eq!(run(case()).unwrap(), legacy_expected(json!({})));
    }

    #[test]
    fn simple_case_with_values() {
        let got = run(Case {
            values: Some(json!({"valuekey1": "valuevalue1", "valuekey2": "templated-{{key1}}"})),
            ..case()
        })
        .unwrap();
        assert_eq!(
            got,
            legacy_expected(
                json!({"values.valuekey1": "valuevalue1", "values.valuekey2": "templated-val1"})
            )
        );
    }

    #[test]
    fn simple_case_with_gotemplate() {
        let got = run(Case {
            go_template: true,
            ..case()
        })
        .unwrap();
        assert_eq!(
            got,
            [json!({
                "key1": "val1",
                "key2": {"key2_1": "val2_1", "key2_2": {"key2_2_1": "val2_2_1"}},
                "key3": 123,
                "generator": {"input": {"parameters": {"pkey1": "val1", "pkey2": "val2"}}},
            })]
        );
    }

    #[test]
    fn simple_case_with_appended_params() {
        let got = run(Case {
            content: APPENDED,
            ..case()
        })
        .unwrap();
        assert_eq!(got, legacy_expected(json!({"pkey2": "valplugin"})));
    }

    #[test]
    fn no_params() {
        let got = run(Case {
            parameters: json!({}),
            ..case()
        })
        .unwrap();
        let mut expected = legacy_expected(json!({}));
        expected[0]["generator"] = json!({"input": {"parameters": {}}});
        assert_eq!(got, expected);
    }

    #[test]
    fn empty_return() {
        let got = run(Case {
            parameters: json!({}),
            content: r#"{"input": {"parameters": []}}"#,
            ..case()
        })
        .unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn wrong_return() {
        assert_eq!(
            run(Case {
                parameters: json!({}),
                content: "wrong body ...",
                ..case()
            }),
            Err("error listing params: error get api 'set': invalid character 'w' looking for beginning of value: wrong body ...".into())
        );
    }

    #[test]
    fn external_secret() {
        let got = run(Case {
            config_map: map(&[
                ("baseUrl", "http://127.0.0.1"),
                ("token", "$plugin-secret:plugin.token"),
            ]),
            secret: ("plugin-secret", map(&[("plugin.token", "my-secret")])),
            content: APPENDED,
            ..case()
        })
        .unwrap();
        assert_eq!(got, legacy_expected(json!({"pkey2": "valplugin"})));
    }

    #[test]
    fn no_secret() {
        assert_eq!(
            run(Case {
                secret: ("", BTreeMap::new()),
                ..case()
            }),
            Err("error getting plugin from generator: error fetching Secret token: error fetching secret default/argocd-secret: secrets \"argocd-secret\" not found".into())
        );
    }

    #[test]
    fn no_configmap() {
        // Upstream's case names the ConfigMap ""; here the generator names one that is absent.
        let ns = Namespace {
            config_maps: BTreeMap::new(),
            secrets: BTreeMap::new(),
        };
        let server = Server {
            token: String::new(),
            content: Vec::new(),
            requests: Default::default(),
        };
        let spec = json!({"configMapRef": {"name": ""}});
        assert_eq!(
            generate(&ns, &server, "set", &spec, false).map(|g| g.params),
            Err("error getting plugin from generator: error fetching ConfigMap: configmaps \"\" not found".into())
        );
    }

    #[test]
    fn no_base_url() {
        assert_eq!(
            run(Case {
                config_map: map(&[("token", "$plugin.token")]),
                ..case()
            }),
            Err("error getting plugin from generator: error fetching ConfigMap: baseUrl not found in ConfigMap".into())
        );
    }

    #[test]
    fn no_token() {
        assert_eq!(
            run(Case {
                config_map: map(&[("baseUrl", "http://127.0.0.1")]),
                secret: ("", BTreeMap::new()),
                ..case()
            }),
            Err("error getting plugin from generator: error fetching ConfigMap: token not found in ConfigMap".into())
        );
    }

    // plugin_service_test.go and utils_test.go.

    #[test]
    fn parse_secret_key_as_upstream() {
        assert_eq!(
            parse_secret_key("#my-secret:my-token"),
            ("my-secret".to_string(), "$my-token".to_string())
        );
        assert_eq!(
            parse_secret_key("#my-secret"),
            ("argocd-secret".to_string(), "#my-secret".to_string())
        );
    }

    #[test]
    fn the_service_answer_is_decoded_with_the_token() {
        let content = r#"{"parameters": [{"number":123,"digest":"sha256:942ae2dfd73088b54d7151a3c3fd5af038a51c50029bfcfd21f1e650d9579967"},{"number":456,"digest":"sha256:224e68cc69566e5cbbb76034b3c42cd2ed57c1a66720396e1c257794cb7d68c1"}]}"#;
        // Upstream's service test answers without `output`: nothing comes of it.
        assert_eq!(decode_answer(content.as_bytes()), Ok(Vec::new()));
        let wrapped = format!(r#"{{"output": {content}}}"#);
        let got = decode_answer(wrapped.as_bytes()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["number"], json!(456));
    }

    // Beyond upstream's tables.

    #[test]
    fn the_request_is_upstreams() {
        let (_, requests) = run_with(case());
        let request = &requests[0];
        assert_eq!(request.url, "http://127.0.0.1/api/v1/getparams.execute");
        assert_eq!(request.token.as_deref(), Some("my-secret"));
        assert_eq!(request.timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(
            String::from_utf8(request.body.clone()).unwrap(),
            "{\"applicationSetName\":\"set\",\"input\":{\"parameters\":{\"pkey1\":\"val1\",\"pkey2\":\"val2\"}}}\n"
        );
        let (_, requests) = run_with(Case {
            parameters: json!({}),
            config_map: map(&[
                ("baseUrl", "http://127.0.0.1/x/"),
                ("token", "$plugin.token"),
                ("requestTimeout", "7"),
            ]),
            ..case()
        });
        assert_eq!(
            requests[0].url,
            "http://127.0.0.1/x/api/v1/getparams.execute"
        );
        assert_eq!(requests[0].timeout, Duration::from_secs(7));
        assert_eq!(
            String::from_utf8(requests[0].body.clone()).unwrap(),
            "{\"applicationSetName\":\"set\",\"input\":{}}\n"
        );
    }

    #[test]
    fn a_bad_request_timeout_is_upstreams_error() {
        let got = run(Case {
            config_map: map(&[
                ("baseUrl", "http://127.0.0.1"),
                ("token", "$plugin.token"),
                ("requestTimeout", "soon"),
            ]),
            ..case()
        });
        assert_eq!(
            got,
            Err("error getting plugin from generator: error set requestTimeout : strconv.Atoi: parsing \"soon\": invalid syntax".into())
        );
    }

    #[test]
    fn a_token_reference_without_dollar_is_refused() {
        let got = run(Case {
            config_map: map(&[("baseUrl", "http://127.0.0.1"), ("token", "plain")]),
            ..case()
        });
        assert_eq!(
            got,
            Err("error getting plugin from generator: error fetching Secret token: token is empty, or does not reference a secret key starting with '$': plain".into())
        );
    }

    #[test]
    fn an_unknown_secret_key_sends_the_reference_itself() {
        let (got, requests) = run_with(Case {
            secret: ("argocd-secret", map(&[("other", "my-secret")])),
            ..case()
        });
        assert_eq!(requests[0].token.as_deref(), Some("$plugin.token"));
        assert_eq!(
            got,
            Err(
                "error listing params: error get api 'set': API error with status code 401: "
                    .into()
            )
        );
    }

    #[test]
    fn error_answers_carry_their_message_and_never_the_token() {
        let ns = Namespace {
            config_maps: BTreeMap::from([(
                "cm".to_string(),
                map(&[("baseUrl", "http://plugin"), ("token", "$t")]),
            )]),
            secrets: BTreeMap::from([(
                "argocd-secret".to_string(),
                map(&[("t", " s3cr3t-token\n")]),
            )]),
        };
        struct Echo(u16, &'static str);
        impl PluginServices for Echo {
            fn post(&self, request: &PluginRequest) -> Result<PluginResponse, String> {
                assert_eq!(request.token.as_deref(), Some("s3cr3t-token"), "trimmed");
                let token = request.token.as_deref().unwrap_or_default();
                let body = self.1.replace("TOKEN", token);
                if self.0 == 0 {
                    return Err(format!("connection reset by {token}"));
                }
                Ok(PluginResponse {
                    status: self.0,
                    body: body.into_bytes(),
                })
            }
        }
        let spec = json!({"configMapRef": {"name": "cm"}});
        for (server, expected) in [
            (
                Echo(500, r#"{"message": "bad TOKEN"}"#),
                "error listing params: error get api 'set': API error with status code 500: bad ******",
            ),
            (
                Echo(403, r#"{"error": "forbidden"}"#),
                "error listing params: error get api 'set': API error with status code 403: forbidden",
            ),
            (
                Echo(502, "upstream TOKEN down"),
                "error listing params: error get api 'set': API error with status code 502: upstream ****** down",
            ),
            (
                Echo(200, r#"{"output": {"parameters": {"a": "TOKEN"}}}"#),
                "error listing params: error get api 'set': json: cannot unmarshal object into Go struct field Output.output.parameters of type []map[string]interface {}: {\"output\": {\"parameters\": {\"a\": \"******\"}}}",
            ),
            (
                Echo(0, ""),
                "error listing params: error get api 'set': Post \"http://plugin/api/v1/getparams.execute\": connection reset by ******",
            ),
        ] {
            assert_eq!(
                generate(&ns, &server, "set", &spec, false).map(|g| g.params),
                Err(expected.to_string())
            );
        }
    }

    #[test]
    fn an_empty_body_is_no_parameters() {
        assert_eq!(decode_answer(b"  \n"), Ok(Vec::new()));
        assert_eq!(
            decode_answer(b"{\"Output\": {\"PARAMETERS\": [{\"a\": 1}]}}")
                .unwrap()
                .len(),
            1
        );
    }
}
