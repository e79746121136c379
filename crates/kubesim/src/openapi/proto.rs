//! A hand-written protobuf encoder for gnostic's `openapi.v2.Document`
//! (google/gnostic `openapiv2/OpenAPIv2.proto`), the form client-go's
//! `OpenAPISchema()` downloads and decodes with `proto.Unmarshal`.
//!
//! Only the messages a Kubernetes swagger document uses are written: info, paths
//! (operations, query/path/body parameters, responses), definitions (schemas with
//! properties, items, additionalProperties, allOf, enums and defaults) and the
//! bearer-token security definition. Vendor extensions become
//! `NamedAny{name, Any{yaml}}`, as gnostic's compiler produces them; consumers
//! (kube-openapi's `VendorExtensionToMap`) parse that YAML back.
//!
//! Field numbers are the `.proto`'s; proto3 leaves default scalars out, so this
//! does too, except inside a `oneof`, where presence is the value.

use serde_json::{Map, Value};

/// Protobuf wire types used here.
#[derive(Debug, Clone, Copy)]
enum Wire {
    Varint = 0,
    Fixed64 = 1,
    Len = 2,
}

/// A message being written.
#[derive(Debug, Default)]
struct Message(Vec<u8>);

impl Message {
    fn key(&mut self, field: u32, wire: Wire) {
        varint(&mut self.0, u64::from(field) << 3 | wire as u64);
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, Wire::Len);
        varint(&mut self.0, bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A string field; empty strings are the default and are left out.
    fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    fn opt_string(&mut self, field: u32, value: Option<&Value>) {
        if let Some(s) = value.and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    fn strings(&mut self, field: u32, value: Option<&Value>) {
        for s in value
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            // Repeated strings keep empty entries: they are values, not defaults.
            self.bytes(field, s.as_bytes());
        }
    }

    /// A bool field; written only when true, unless it is a `oneof` member.
    fn bool(&mut self, field: u32, value: bool, always: bool) {
        if value || always {
            self.key(field, Wire::Varint);
            varint(&mut self.0, u64::from(value));
        }
    }

    fn opt_bool(&mut self, field: u32, value: Option<&Value>) {
        if let Some(b) = value.and_then(Value::as_bool) {
            self.bool(field, b, false);
        }
    }

    fn opt_int64(&mut self, field: u32, value: Option<&Value>) {
        if let Some(n) = value.and_then(Value::as_i64).filter(|n| *n != 0) {
            self.key(field, Wire::Varint);
            // int64 is written as the two's complement varint.
            varint(&mut self.0, n as u64);
        }
    }

    fn opt_double(&mut self, field: u32, value: Option<&Value>) {
        if let Some(n) = value.and_then(Value::as_f64).filter(|n| *n != 0.0) {
            self.key(field, Wire::Fixed64);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    /// A sub-message; always written, since its presence is information.
    fn message(&mut self, field: u32, m: Message) {
        self.bytes(field, &m.0);
    }
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Encodes a Swagger 2.0 JSON document as `openapi.v2.Document`.
pub(super) fn encode_document(doc: &Value) -> Vec<u8> {
    let mut m = Message::default();
    m.opt_string(1, doc.get("swagger"));
    if let Some(info) = doc.get("info") {
        let mut i = Message::default();
        i.opt_string(1, info.get("title"));
        i.opt_string(2, info.get("version"));
        i.opt_string(3, info.get("description"));
        vendor_extensions(&mut i, 7, info);
        m.message(2, i);
    }
    m.opt_string(3, doc.get("host"));
    m.opt_string(4, doc.get("basePath"));
    m.strings(5, doc.get("schemes"));
    m.strings(6, doc.get("consumes"));
    m.strings(7, doc.get("produces"));
    if let Some(Value::Object(paths)) = doc.get("paths") {
        let mut p = Message::default();
        for (path, item) in paths {
            if path.starts_with("x-") {
                continue;
            }
            let mut named = Message::default();
            named.string(1, path);
            named.message(2, path_item(item));
            p.message(2, named);
        }
        m.message(8, p);
    }
    if let Some(Value::Object(definitions)) = doc.get("definitions") {
        let mut d = Message::default();
        for (name, schema_value) in definitions {
            d.message(1, named_schema(name, schema_value));
        }
        m.message(9, d);
    }
    for requirement in doc
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut r = Message::default();
        for (name, scopes) in requirement.as_object().into_iter().flatten() {
            let mut named = Message::default();
            named.string(1, name);
            let mut array = Message::default();
            array.strings(1, Some(scopes));
            named.message(2, array);
            r.message(1, named);
        }
        m.message(12, r);
    }
    if let Some(Value::Object(definitions)) = doc.get("securityDefinitions") {
        let mut d = Message::default();
        for (name, def) in definitions {
            // Only API-key schemes (the apiserver's BearerToken) are written.
            if def.get("type").and_then(Value::as_str) != Some("apiKey") {
                continue;
            }
            let mut key = Message::default();
            key.opt_string(1, def.get("type"));
            key.opt_string(2, def.get("name"));
            key.opt_string(3, def.get("in"));
            key.opt_string(4, def.get("description"));
            let mut item = Message::default();
            item.message(2, key);
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, item);
            d.message(1, named);
        }
        m.message(13, d);
    }
    vendor_extensions(&mut m, 16, doc);
    m.0
}

/// `PathItem`: one message field per HTTP method, then shared parameters.
fn path_item(item: &Value) -> Message {
    let mut m = Message::default();
    m.opt_string(1, item.get("$ref"));
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("options", 6),
        ("head", 7),
        ("patch", 8),
    ] {
        if let Some(op) = item.get(method) {
            m.message(field, operation(op));
        }
    }
    for p in item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(9, parameters_item(p));
    }
    vendor_extensions(&mut m, 10, item);
    m
}

fn operation(op: &Value) -> Message {
    let mut m = Message::default();
    m.strings(1, op.get("tags"));
    m.opt_string(2, op.get("summary"));
    m.opt_string(3, op.get("description"));
    m.opt_string(5, op.get("operationId"));
    m.strings(6, op.get("produces"));
    m.strings(7, op.get("consumes"));
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(8, parameters_item(p));
    }
    if let Some(Value::Object(responses)) = op.get("responses") {
        let mut r = Message::default();
        for (code, response) in responses {
            if code.starts_with("x-") {
                continue;
            }
            let mut value = Message::default();
            if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
                let mut jr = Message::default();
                jr.string(1, reference);
                value.message(2, jr);
            } else {
                let mut resp = Message::default();
                resp.opt_string(1, response.get("description"));
                if let Some(schema_value) = response.get("schema") {
                    let mut item = Message::default();
                    item.message(1, schema(schema_value));
                    resp.message(2, item);
                }
                vendor_extensions(&mut resp, 5, response);
                value.message(1, resp);
            }
            let mut named = Message::default();
            named.string(1, code);
            named.message(2, value);
            r.message(1, named);
        }
        vendor_extensions(&mut r, 2, &Value::Object(responses.clone()));
        m.message(9, r);
    }
    m.strings(10, op.get("schemes"));
    m.opt_bool(11, op.get("deprecated"));
    vendor_extensions(&mut m, 13, op);
    m
}

/// `ParametersItem`: a reference, or a body or non-body parameter.
fn parameters_item(p: &Value) -> Message {
    let mut item = Message::default();
    if let Some(reference) = p.get("$ref").and_then(Value::as_str) {
        let mut jr = Message::default();
        jr.string(1, reference);
        item.message(2, jr);
        return item;
    }
    let location = p.get("in").and_then(Value::as_str).unwrap_or("");
    let mut parameter = Message::default();
    if location == "body" {
        let mut body = Message::default();
        body.opt_string(1, p.get("description"));
        body.opt_string(2, p.get("name"));
        body.opt_string(3, p.get("in"));
        body.opt_bool(4, p.get("required"));
        if let Some(schema_value) = p.get("schema") {
            body.message(5, schema(schema_value));
        }
        vendor_extensions(&mut body, 6, p);
        parameter.message(1, body);
    } else {
        // Header and path sub-schemas number their fields one lower from `type`
        // on than query and formData ones, which have `allow_empty_value` at 5.
        let (oneof_field, shifted) = match location {
            "header" => (1, false),
            "formData" => (2, true),
            "path" => (4, false),
            _ => (3, true),
        };
        let at = |n: u32| if shifted { n + 1 } else { n };
        let mut sub = Message::default();
        sub.opt_bool(1, p.get("required"));
        sub.opt_string(2, p.get("in"));
        sub.opt_string(3, p.get("description"));
        sub.opt_string(4, p.get("name"));
        if shifted {
            sub.opt_bool(5, p.get("allowEmptyValue"));
        }
        sub.opt_string(at(5), p.get("type"));
        sub.opt_string(at(6), p.get("format"));
        sub.opt_string(at(8), p.get("collectionFormat"));
        if let Some(default) = p.get("default") {
            sub.message(at(9), any(default));
        }
        sub.opt_double(at(10), p.get("maximum"));
        sub.opt_bool(at(11), p.get("exclusiveMaximum"));
        sub.opt_double(at(12), p.get("minimum"));
        sub.opt_bool(at(13), p.get("exclusiveMinimum"));
        sub.opt_int64(at(14), p.get("maxLength"));
        sub.opt_int64(at(15), p.get("minLength"));
        sub.opt_string(at(16), p.get("pattern"));
        sub.opt_int64(at(17), p.get("maxItems"));
        sub.opt_int64(at(18), p.get("minItems"));
        sub.opt_bool(at(19), p.get("uniqueItems"));
        for e in p
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            sub.message(at(20), any(e));
        }
        sub.opt_double(at(21), p.get("multipleOf"));
        vendor_extensions(&mut sub, at(22), p);
        let mut non_body = Message::default();
        non_body.message(oneof_field, sub);
        parameter.message(2, non_body);
    }
    item.message(1, parameter);
    item
}

fn named_schema(name: &str, value: &Value) -> Message {
    let mut named = Message::default();
    named.string(1, name);
    named.message(2, schema(value));
    named
}

/// `Schema`. Keywords Swagger 2.0 lacks (`nullable`, `oneOf`…) are dropped.
fn schema(s: &Value) -> Message {
    let mut m = Message::default();
    let Value::Object(map) = s else { return m };
    m.opt_string(1, map.get("$ref"));
    m.opt_string(2, map.get("format"));
    m.opt_string(3, map.get("title"));
    m.opt_string(4, map.get("description"));
    if let Some(default) = map.get("default") {
        m.message(5, any(default));
    }
    m.opt_double(6, map.get("multipleOf"));
    m.opt_double(7, map.get("maximum"));
    m.opt_bool(8, map.get("exclusiveMaximum"));
    m.opt_double(9, map.get("minimum"));
    m.opt_bool(10, map.get("exclusiveMinimum"));
    m.opt_int64(11, map.get("maxLength"));
    m.opt_int64(12, map.get("minLength"));
    m.opt_string(13, map.get("pattern"));
    m.opt_int64(14, map.get("maxItems"));
    m.opt_int64(15, map.get("minItems"));
    m.opt_bool(16, map.get("uniqueItems"));
    m.opt_int64(17, map.get("maxProperties"));
    m.opt_int64(18, map.get("minProperties"));
    m.strings(19, map.get("required"));
    for e in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(e));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Message::default();
            item.bool(2, *b, true);
            m.message(21, item);
        }
        Some(additional @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(additional));
            m.message(21, item);
        }
        _ => {}
    }
    match map.get("type") {
        Some(Value::String(t)) => {
            let mut item = Message::default();
            item.string(1, t);
            m.message(22, item);
        }
        Some(types @ Value::Array(_)) => {
            let mut item = Message::default();
            item.strings(1, Some(types));
            m.message(22, item);
        }
        _ => {}
    }
    match map.get("items") {
        Some(Value::Array(items)) => {
            let mut item = Message::default();
            items.iter().for_each(|s| item.message(1, schema(s)));
            m.message(23, item);
        }
        Some(items @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(items));
            m.message(23, item);
        }
        _ => {}
    }
    for s in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema(s));
    }
    if let Some(Value::Object(properties)) = map.get("properties") {
        let mut p = Message::default();
        for (name, value) in properties {
            p.message(1, named_schema(name, value));
        }
        m.message(25, p);
    }
    m.opt_string(26, map.get("discriminator"));
    m.opt_bool(27, map.get("readOnly"));
    if let Some(example) = map.get("example") {
        m.message(30, any(example));
    }
    vendor_extensions(&mut m, 31, s);
    m
}

/// The `x-…` keys of an object as `NamedAny` entries in field `field`.
fn vendor_extensions(m: &mut Message, field: u32, object: &Value) {
    for (name, value) in object.as_object().into_iter().flatten() {
        if name.starts_with("x-") {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, any(value));
            m.message(field, named);
        }
    }
}

/// `Any{yaml}`: how gnostic carries free-form values.
fn any(value: &Value) -> Message {
    let mut m = Message::default();
    m.string(2, &yaml(value));
    m
}

/// Block-style YAML for a JSON value, like the `yaml.Marshal` gnostic uses.
pub(super) fn yaml(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(&mut out, value, 0);
    out
}

fn write_yaml(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => write_yaml_map(out, map, indent),
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                match item {
                    // A map's first key shares the dash's line; the rest align under it.
                    Value::Object(map) if !map.is_empty() => {
                        let mut nested = String::new();
                        write_yaml_map(&mut nested, map, indent + 2);
                        out.push_str(nested.trim_start_matches(' '));
                    }
                    Value::Array(inner) if !inner.is_empty() => {
                        out.push('\n');
                        write_yaml(out, item, indent + 2);
                    }
                    scalar => {
                        out.push_str(&yaml_scalar(scalar));
                        out.push('\n');
                    }
                }
            }
        }
        scalar => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn write_yaml_map(out: &mut String, map: &Map<String, Value>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_string(key));
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_yaml_map(out, m, indent + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_yaml(out, value, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a plain YAML scalar when that cannot be misread (as a number,
/// boolean, null or syntax), else double-quoted. JSON string escapes are valid
/// in YAML double-quoted scalars.
fn yaml_string(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A field of a decoded message: number and raw value.
    #[derive(Debug, PartialEq)]
    enum Field {
        Varint(u64),
        Fixed64(u64),
        Bytes(Vec<u8>),
    }

    /// A minimal protobuf decoder, enough to read back what the encoder wrote.
    fn decode(mut bytes: &[u8]) -> Vec<(u32, Field)> {
        fn read_varint(bytes: &mut &[u8]) -> u64 {
            let mut n = 0u64;
            for shift in (0..64).step_by(7) {
                let b = bytes[0];
                *bytes = &bytes[1..];
                n |= u64::from(b & 0x7f) << shift;
                if b < 0x80 {
                    break;
                }
            }
            n
        }
        let mut fields = Vec::new();
        while !bytes.is_empty() {
            let key = read_varint(&mut bytes);
            let (field, wire) = ((key >> 3) as u32, key & 7);
            let value = match wire {
                0 => Field::Varint(read_varint(&mut bytes)),
                1 => {
                    let (head, rest) = bytes.split_at(8);
                    bytes = rest;
                    Field::Fixed64(u64::from_le_bytes(head.try_into().expect("8 bytes")))
                }
                2 => {
                    let len = read_varint(&mut bytes) as usize;
                    let (head, rest) = bytes.split_at(len);
                    bytes = rest;
                    Field::Bytes(head.to_vec())
                }
                other => panic!("unexpected wire type {other}"),
            };
            fields.push((field, value));
        }
        fields
    }

    fn bytes_of(fields: &[(u32, Field)], number: u32) -> Vec<&[u8]> {
        fields
            .iter()
            .filter(|(n, _)| *n == number)
            .filter_map(|(_, f)| match f {
                Field::Bytes(b) => Some(b.as_slice()),
                _ => None,
            })
            .collect()
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn varints_match_the_protobuf_encoding() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut m = Message::default();
        m.string(1, "2.0");
        assert_eq!(m.0, [0x0a, 0x03, b'2', b'.', b'0']);
    }

    #[test]
    fn definitions_round_trip_through_the_decoder() {
        let doc = json!({
            "swagger": "2.0",
            "definitions": {
                "io.k8s.api.core.v1.PodSpec": {
                    "type": "object",
                    "required": ["containers"],
                    "properties": {
                        "containers": {
                            "type": "array",
                            "items": {"$ref": "#/definitions/io.k8s.api.core.v1.Container"},
                            "x-kubernetes-patch-merge-key": "name",
                            "x-kubernetes-patch-strategy": "merge"
                        },
                        "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
                        "opaque": {"additionalProperties": false}
                    },
                    "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}]
                }
            }
        });
        let top = decode(&encode_document(&doc));
        assert_eq!(text(bytes_of(&top, 1)[0]), "2.0");
        let definitions = decode(bytes_of(&top, 9)[0]);
        let named = decode(bytes_of(&definitions, 1)[0]);
        assert_eq!(text(bytes_of(&named, 1)[0]), "io.k8s.api.core.v1.PodSpec");
        let schema = decode(bytes_of(&named, 2)[0]);
        assert_eq!(text(bytes_of(&schema, 19)[0]), "containers");
        let type_item = decode(bytes_of(&schema, 22)[0]);
        assert_eq!(text(bytes_of(&type_item, 1)[0]), "object");
        let gvk = decode(bytes_of(&schema, 31)[0]);
        assert_eq!(
            text(bytes_of(&gvk, 1)[0]),
            "x-kubernetes-group-version-kind"
        );
        let any = decode(bytes_of(&gvk, 2)[0]);
        assert_eq!(
            text(bytes_of(&any, 2)[0]),
            "- group: \"\"\n  kind: Pod\n  version: v1\n"
        );

        let properties = decode(bytes_of(&schema, 25)[0]);
        let props: Vec<Vec<(u32, Field)>> =
            bytes_of(&properties, 1).into_iter().map(decode).collect();
        let containers = decode(bytes_of(&props[0], 2)[0]);
        let items = decode(bytes_of(&containers, 23)[0]);
        let item = decode(bytes_of(&items, 1)[0]);
        assert_eq!(
            text(bytes_of(&item, 1)[0]),
            "#/definitions/io.k8s.api.core.v1.Container"
        );
        let extensions: Vec<(String, String)> = bytes_of(&containers, 31)
            .into_iter()
            .map(|b| {
                let named = decode(b);
                let any = decode(bytes_of(&named, 2)[0]);
                (
                    text(bytes_of(&named, 1)[0]).to_string(),
                    text(bytes_of(&any, 2)[0]).to_string(),
                )
            })
            .collect();
        assert_eq!(
            extensions,
            [
                (
                    "x-kubernetes-patch-merge-key".to_string(),
                    "name\n".to_string()
                ),
                (
                    "x-kubernetes-patch-strategy".to_string(),
                    "merge\n".to_string()
                )
            ]
        );
        let node_selector = decode(bytes_of(&props[1], 2)[0]);
        let additional = decode(bytes_of(&node_selector, 21)[0]);
        assert_eq!(
            bytes_of(&additional, 1).len(),
            1,
            "additionalProperties as a schema"
        );
        let opaque = decode(bytes_of(&props[2], 2)[0]);
        let additional = decode(bytes_of(&opaque, 21)[0]);
        assert_eq!(
            additional,
            [(2, Field::Varint(0))],
            "false is written: it is a oneof member"
        );
    }

    #[test]
    fn query_and_path_parameters_use_their_own_field_numbers() {
        let query = decode(&parameters_item(&json!(
            {"uniqueItems": true, "type": "string", "description": "d", "name": "fieldValidation", "in": "query"}
        )).0);
        let parameter = decode(bytes_of(&query, 1)[0]);
        let non_body = decode(bytes_of(&parameter, 2)[0]);
        let sub = decode(bytes_of(&non_body, 3)[0]);
        assert_eq!(text(bytes_of(&sub, 4)[0]), "fieldValidation");
        assert_eq!(text(bytes_of(&sub, 6)[0]), "string");
        assert!(
            sub.contains(&(20, Field::Varint(1))),
            "uniqueItems is field 20 for query"
        );

        let path = decode(&parameters_item(&json!(
            {"uniqueItems": true, "type": "string", "name": "name", "in": "path", "required": true}
        )).0);
        let parameter = decode(bytes_of(&path, 1)[0]);
        let non_body = decode(bytes_of(&parameter, 2)[0]);
        let sub = decode(bytes_of(&non_body, 4)[0]);
        assert!(sub.contains(&(1, Field::Varint(1))), "required");
        assert_eq!(text(bytes_of(&sub, 5)[0]), "string");
        assert!(
            sub.contains(&(19, Field::Varint(1))),
            "uniqueItems is field 19 for path"
        );
    }

    #[test]
    fn yaml_quotes_only_what_would_be_misread() {
        assert_eq!(yaml(&json!("merge")), "merge\n");
        assert_eq!(yaml(&json!("retainKeys,merge")), "\"retainKeys,merge\"\n");
        assert_eq!(yaml(&json!("true")), "\"true\"\n");
        assert_eq!(yaml(&json!(["type", "name"])), "- type\n- name\n");
        assert_eq!(
            yaml(&json!({"group": "apps", "kind": "Deployment"})),
            "group: apps\nkind: Deployment\n"
        );
        assert_eq!(
            yaml(&json!({"a": {"b": [1, {"c": null}]}})),
            "a:\n  b:\n  - 1\n  - c: null\n"
        );
        assert_eq!(yaml(&json!({})), "{}\n");
    }
}
