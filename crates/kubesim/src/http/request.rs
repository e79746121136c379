//! Decoding what a client sent: query parameters, bodies, and what it accepts back.

use axum::http::HeaderMap;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::validation::FieldValidation;

/// The largest body the API server accepts (3 MiB, as kube-apiserver's limit).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Query parameters of an API request, parsed leniently like the apiserver's decoder.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parse a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> ApiResult<Query> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
        Ok(Query { pairs })
    }

    /// The first value of a parameter.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub(crate) fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true`/`1`).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// `dryRun`: only `All` is valid, as on a real server.
    pub(crate) fn dry_run(&self) -> ApiResult<bool> {
        let mut dry = false;
        for v in self.all("dryRun") {
            match v {
                "All" => dry = true,
                "" => {}
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid value: {other:?}: supported values: \"All\""
                    )));
                }
            }
        }
        Ok(dry)
    }

    /// `fieldValidation`.
    pub(crate) fn field_validation(&self) -> ApiResult<FieldValidation> {
        FieldValidation::parse(self.get("fieldValidation")).map_err(ApiError::bad_request)
    }

    /// A non-negative integer parameter.
    pub(crate) fn number(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(|n| Some(n.max(0) as u64))
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }
}

/// The media type of a request body, without parameters.
pub(crate) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Decode a create/update body: JSON, YAML, or Kubernetes protobuf (what client-go's typed
/// clients, and so most `kubectl create <kind>` commands, send). Anything else is a 415.
pub(crate) fn decode_object(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let ct = content_type(headers);
    match ct.as_str() {
        "" | "application/json" | "*/*" => parse_json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(body),
        crate::protobuf::MEDIA_TYPE => parse_protobuf(body),
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
            crate::protobuf::MEDIA_TYPE,
        ])),
    }
}

/// Decode a protobuf body; a body that does not decode is a 400 whose message carries the
/// whole cause, as the API server's decode errors do.
fn parse_protobuf(body: &[u8]) -> ApiResult<Value> {
    crate::protobuf::decode_object(body).map_err(|err| {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ApiError::bad_request(message)
    })
}

/// Parse JSON, with the decoder's wording for malformed input.
pub(crate) fn parse_json(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body of the request is empty"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: json: cannot unmarshal into Go value of type struct",
        ));
    }
    Ok(value)
}

/// Parse YAML with the parser's own limits on aliases and nesting (alias bombs are refused).
pub(crate) fn parse_yaml(body: &[u8]) -> ApiResult<Value> {
    // JSON is YAML; most clients (kubectl included) send apply patches as JSON, and the JSON
    // parser is several times faster.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && let Ok(value) = serde_json::from_slice::<Value>(body)
    {
        return Ok(value);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the body of the request is not valid UTF-8"))?;
    let value: Value = serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "error converting YAML to JSON: the document is not an object",
        ));
    }
    Ok(value)
}

/// How the client wants a GET/list answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io` Table.
    Table,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
}

/// Pick the representation from `Accept` (first acceptable media range wins).
pub(crate) fn representation(headers: &HeaderMap) -> ApiResult<Representation> {
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mut saw_any = false;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        let param = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        if !matches!(
            media.as_str(),
            "application/json" | "*/*" | "application/*" | "application/yaml"
        ) {
            continue;
        }
        saw_any = true;
        match (param("as"), param("g"), param("v")) {
            (None, _, _) => return Ok(Representation::Object),
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Ok(Representation::Table);
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1" | "v1beta1"),
            ) => {
                return Ok(Representation::Metadata);
            }
            _ => continue,
        }
    }
    if saw_any {
        Err(ApiError::not_acceptable(&[
            "application/json",
            "application/yaml",
        ]))
    } else {
        Err(ApiError::not_acceptable(&[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("accept", v.parse().expect("header"));
        h
    }

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let h = accept(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert_eq!(representation(&h).expect("ok"), Representation::Table);
        assert_eq!(
            representation(&accept("application/vnd.kubernetes.protobuf, */*")).expect("ok"),
            Representation::Object
        );
        assert!(representation(&accept("application/vnd.kubernetes.protobuf")).is_err());
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert_eq!(parse_json(b"{nope").expect_err("bad").code, 400);
        assert_eq!(parse_json(b"[1]").expect_err("bad").code, 400);
        assert_eq!(parse_yaml(b"a: [").expect_err("bad").code, 400);
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/vnd.kubernetes.protobuf"
                .parse()
                .expect("header"),
        );
        // Protobuf is read; a body that is not a Kubernetes protobuf message is a 400.
        assert_eq!(decode_object(&h, b"{}").expect_err("400").code, 400);
        assert_eq!(decode_object(&h, b"k8s\0").expect_err("400").code, 400);
        let configmap = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/protobuf/configmap.pb"),
        )
        .expect("recording");
        let object = decode_object(&h, &configmap).expect("protobuf body");
        assert_eq!(object["kind"], "ConfigMap");
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/plain".parse().expect("header"));
        assert_eq!(decode_object(&h, b"hello").expect_err("415").code, 415);
        assert_eq!(
            decode_object(&HeaderMap::new(), &vec![b' '; MAX_BODY_BYTES + 1])
                .expect_err("413")
                .code,
            413
        );
    }

    #[test]
    fn only_dry_run_all_is_accepted() {
        assert!(
            Query::parse(Some("dryRun=All"))
                .expect("q")
                .dry_run()
                .expect("ok")
        );
        assert!(
            Query::parse(Some("dryRun=Some"))
                .expect("q")
                .dry_run()
                .is_err()
        );
    }
}
