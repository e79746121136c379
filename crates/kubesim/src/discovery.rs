//! API discovery: what `/api`, `/apis`, `/apis/<group>` and `/api[s]/<gv>` answer.
//!
//! Two shapes exist. *Aggregated* discovery (`apidiscovery.k8s.io`
//! `APIGroupDiscoveryList`) answers everything in one request per root; clients ask
//! for it through `Accept` parameters and fall back to the *legacy* documents
//! (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`) when the server
//! answers with plain `application/json`. [`negotiate`] picks the shape the way the
//! apiserver's content negotiation does, so each kubectl version gets what it asks
//! for (1.29 only knows v2beta1; 1.30+ prefers v2).
//!
//! Everything here is a pure function of the [`Registry`]; the caller caches per
//! `Registry::generation`. Field order follows the Go structs (what a real server
//! writes on the wire), not the key-sorted golden files in kubernetes/kubernetes
//! `api/discovery/`, whose sorting comes from `jq -S`.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::registry::Registry;
use crate::resources::ResourceType;

/// The two versions of aggregated discovery; their documents differ only in `apiVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregatedVersion {
    /// `apidiscovery.k8s.io/v2` (GA since 1.30; what kubectl ≥ 1.30 asks for first).
    V2,
    /// `apidiscovery.k8s.io/v2beta1` (the only one kubectl 1.29 knows; still served by 1.32).
    V2Beta1,
}

impl AggregatedVersion {
    fn api_version(self) -> &'static str {
        match self {
            AggregatedVersion::V2 => "apidiscovery.k8s.io/v2",
            AggregatedVersion::V2Beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }

    fn from_param(v: &str) -> Option<Self> {
        match v {
            "v2" => Some(AggregatedVersion::V2),
            "v2beta1" => Some(AggregatedVersion::V2Beta1),
            _ => None,
        }
    }
}

/// Which discovery document to answer `/api` or `/apis` with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryFormat {
    /// One `APIGroupDiscoveryList` holding every resource.
    Aggregated(AggregatedVersion),
    /// `APIVersions` (for `/api`) or `APIGroupList` (for `/apis`).
    Legacy,
}

impl DiscoveryFormat {
    /// The exact `Content-Type` to answer with. client-go decides between the
    /// aggregated and legacy decoders by these parameters, so they must be present.
    pub fn content_type(self) -> &'static str {
        match self {
            DiscoveryFormat::Aggregated(AggregatedVersion::V2) => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            DiscoveryFormat::Aggregated(AggregatedVersion::V2Beta1) => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
            DiscoveryFormat::Legacy => "application/json",
        }
    }
}

/// Media types discovery can be written in: JSON only. The apiserver also offers
/// YAML and protobuf, but clients asking for those list JSON as a fallback, so
/// skipping them moves negotiation on to the JSON clause, as it should.
const SUPPORTED: &[(&str, &str)] = &[("application", "json")];

/// Chooses the discovery document for an `Accept` header, or `None` when nothing
/// acceptable can be produced (answer 406).
///
/// Mirrors `NegotiateMediaTypeOptions` with the discovery endpoint restrictions:
/// clauses are tried in preference order; a clause carrying `g`/`v`/`as` is only
/// acceptable when it names `apidiscovery.k8s.io` `APIGroupDiscoveryList` v2 or
/// v2beta1, and one asking for a `stream` is never acceptable here. An empty
/// header means plain JSON.
pub fn negotiate(accept: &str) -> Option<DiscoveryFormat> {
    if accept.trim().is_empty() {
        return Some(DiscoveryFormat::Legacy);
    }
    for clause in parse_accept(accept) {
        let matches = SUPPORTED.iter().any(|(ty, sub)| {
            (clause.ty == *ty && (clause.sub_type == *sub || clause.sub_type == "*"))
                || (clause.ty == "*" && clause.sub_type == "*")
        });
        if !matches {
            continue;
        }
        if let Some(format) = clause_format(&clause.params) {
            return Some(format);
        }
    }
    None
}

/// What a clause's parameters ask for, if discovery can serve it.
fn clause_format(params: &[(String, String)]) -> Option<DiscoveryFormat> {
    let param = |k: &str| {
        params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    if param("stream").is_some_and(|s| !s.is_empty()) {
        return None;
    }
    let (g, v, kind) = (param("g"), param("v"), param("as"));
    if g.is_none() && v.is_none() && kind.is_none() {
        return Some(DiscoveryFormat::Legacy);
    }
    if g == Some("apidiscovery.k8s.io") && kind == Some("APIGroupDiscoveryList") {
        return v
            .and_then(AggregatedVersion::from_param)
            .map(DiscoveryFormat::Aggregated);
    }
    None
}

/// One media range of an `Accept` header.
#[derive(Debug)]
struct AcceptClause {
    ty: String,
    sub_type: String,
    q: f64,
    params: Vec<(String, String)>,
}

/// Parses an `Accept` header like `goautoneg.ParseAccept`: split on commas, then
/// on semicolons; `q` is taken apart from the other parameters; ranges without a
/// `/` (other than `*`) are dropped. Clauses are ordered by that package's
/// comparison (higher q first, then concrete types before wildcards) using Go's
/// insertion sort, which is what `sort.Sort` runs for headers this short.
fn parse_accept(header: &str) -> Vec<AcceptClause> {
    let mut clauses = Vec::new();
    for part in header.split(',') {
        let part = part.trim_matches(' ');
        let mut pieces = part.split(';');
        let range = pieces.next().unwrap_or("");
        let mut halves = range.split('/');
        let ty = halves.next().unwrap_or("").trim_matches(' ').to_string();
        let sub_type = match (halves.next(), halves.next()) {
            (None, _) if ty == "*" => "*".to_string(),
            (Some(sub), None) => sub.trim_matches(' ').to_string(),
            _ => continue,
        };
        let mut clause = AcceptClause {
            ty,
            sub_type,
            q: 1.0,
            params: Vec::new(),
        };
        for param in pieces {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let key = key.trim_matches(' ');
            if key == "q" {
                // Go ignores the parse error and keeps the zero value.
                clause.q = value.parse().unwrap_or(0.0);
            } else {
                clause
                    .params
                    .push((key.to_string(), value.trim_matches(' ').to_string()));
            }
        }
        clauses.push(clause);
    }
    let less = |a: &AcceptClause, b: &AcceptClause| {
        a.q > b.q || (a.ty != "*" && b.ty == "*") || (a.sub_type != "*" && b.sub_type == "*")
    };
    for i in 1..clauses.len() {
        let mut j = i;
        while j > 0 && less(&clauses[j], &clauses[j - 1]) {
            clauses.swap(j, j - 1);
            j -= 1;
        }
    }
    clauses
}

/// The aggregated document for `/api` (`core == true`: only the core group) or
/// `/apis` (every other group), in the requested version.
pub fn aggregated(registry: &Registry, core: bool, version: AggregatedVersion) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .into_iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let mut types = registry.group_version(&g.name, v);
                    types.sort_by(|a, b| a.plural.cmp(&b.plural));
                    json!({
                        "version": v,
                        "resources": types.iter().map(|t| aggregated_resource(t)).collect::<Vec<_>>(),
                        "freshness": "Current",
                    })
                })
                .collect();
            let mut metadata = Map::new();
            if !g.name.is_empty() {
                metadata.insert("name".into(), json!(g.name));
            }
            metadata.insert("creationTimestamp".into(), Value::Null);
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": version.api_version(),
        "metadata": {},
        "items": items,
    })
}

/// One `APIResourceDiscovery` entry.
fn aggregated_resource(t: &ResourceType) -> Value {
    let mut r = Map::new();
    r.insert("resource".into(), json!(t.plural));
    r.insert("responseKind".into(), response_kind(t, &t.kind));
    r.insert(
        "scope".into(),
        json!(if t.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    r.insert("singularResource".into(), json!(t.singular));
    r.insert("verbs".into(), json!(served_verbs(t)));
    insert_nonempty(&mut r, "shortNames", &t.short_names);
    insert_nonempty(&mut r, "categories", &t.categories);
    let subresources: Vec<Value> = subresources(t)
        .into_iter()
        .map(|s| {
            let kind = match s.kind {
                SubKind::Same => response_kind(t, &t.kind),
                SubKind::Scale => json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
            };
            json!({"subresource": s.name, "responseKind": kind, "verbs": s.verbs})
        })
        .collect();
    if !subresources.is_empty() {
        r.insert("subresources".into(), Value::Array(subresources));
    }
    Value::Object(r)
}

/// The `responseKind` of a resource's own kind. The built-in handlers leave group
/// and version empty ("same as the containing group-version"); the CRD discovery
/// controller spells them out.
fn response_kind(t: &ResourceType, kind: &str) -> Value {
    if t.is_custom() {
        json!({"group": t.group, "version": t.version, "kind": kind})
    } else {
        json!({"group": "", "version": "", "kind": kind})
    }
}

/// The verbs discovery lists for a resource, in the order the real handlers do.
pub(crate) fn served_verbs(t: &ResourceType) -> Vec<&'static str> {
    if t.is_custom() {
        // The CRD discovery controller writes this fixed, unsorted list.
        return vec![
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ];
    }
    // Namespaces are the one built-in without deletecollection (api__v1.json).
    // TODO(lead): this belongs in `ResourceType::verbs`; drop it here once it moves.
    let namespaces = t.group.is_empty() && t.plural == "namespaces";
    t.verbs()
        .iter()
        .copied()
        .filter(|v| !(namespaces && *v == "deletecollection"))
        .collect()
}

fn insert_nonempty(map: &mut Map<String, Value>, key: &str, values: &[String]) {
    if !values.is_empty() {
        map.insert(key.into(), json!(values));
    }
}

/// What a subresource returns.
#[derive(Debug, Clone, Copy)]
enum SubKind {
    /// The parent's kind (`status`, `finalize`).
    Same,
    /// `autoscaling/v1` `Scale`.
    Scale,
}

/// A subresource as discovery lists it.
#[derive(Debug)]
struct Subresource {
    name: &'static str,
    kind: SubKind,
    verbs: &'static [&'static str],
}

const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// A resource's subresources, sorted by name as the apiserver lists them.
fn subresources(t: &ResourceType) -> Vec<Subresource> {
    let mut subs = Vec::new();
    if t.group.is_empty() && t.plural == "namespaces" {
        subs.push(Subresource {
            name: "finalize",
            kind: SubKind::Same,
            verbs: &["update"],
        });
    }
    if t.scale.is_some() {
        subs.push(Subresource {
            name: "scale",
            kind: SubKind::Scale,
            verbs: GET_PATCH_UPDATE,
        });
    }
    if t.status_subresource {
        subs.push(Subresource {
            name: "status",
            kind: SubKind::Same,
            verbs: GET_PATCH_UPDATE,
        });
    }
    subs
}

/// Legacy `/api`: the core group's versions and where to reach the server.
/// `server_address` is `host:port` as the client should dial it.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// Legacy `/apis`: every non-core group.
pub fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|g| !g.name.is_empty())
        .map(|g| group_body(&g.name, &g.versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Legacy `/apis/<group>`, or `None` (404) when the group is not served.
pub fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    if group.is_empty() {
        return None;
    }
    let info = registry.groups().into_iter().find(|g| g.name == group)?;
    let mut body = Map::new();
    body.insert("kind".into(), json!("APIGroup"));
    body.insert("apiVersion".into(), json!("v1"));
    if let Value::Object(fields) = group_body(&info.name, &info.versions) {
        body.extend(fields);
    }
    Some(Value::Object(body))
}

/// `{name, versions, preferredVersion}` of an `APIGroup`.
fn group_body(name: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or(Value::Null),
    })
}

/// Legacy `/api/v1` (group `""`) or `/apis/<group>/<version>`: an `APIResourceList`
/// with one row per resource and one per subresource, or `None` (404).
pub fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut types = registry.group_version(group, version);
    if types.is_empty() {
        return None;
    }
    types.sort_by(|a, b| a.plural.cmp(&b.plural));
    let mut rows = Vec::new();
    for t in &types {
        let mut r = Map::new();
        r.insert("name".into(), json!(t.plural));
        r.insert("singularName".into(), json!(t.singular));
        r.insert("namespaced".into(), json!(t.namespaced));
        r.insert("kind".into(), json!(t.kind));
        r.insert("verbs".into(), json!(served_verbs(t)));
        insert_nonempty(&mut r, "shortNames", &t.short_names);
        insert_nonempty(&mut r, "categories", &t.categories);
        r.insert(
            "storageVersionHash".into(),
            json!(storage_version_hash(&t.group, &t.storage_version, &t.kind)),
        );
        rows.push(Value::Object(r));
        for s in subresources(t) {
            let mut r = Map::new();
            r.insert("name".into(), json!(format!("{}/{}", t.plural, s.name)));
            // Subresource rows carry an empty singularName (the field has no omitempty).
            r.insert("singularName".into(), json!(""));
            r.insert("namespaced".into(), json!(t.namespaced));
            match s.kind {
                SubKind::Same => {
                    r.insert("kind".into(), json!(t.kind));
                }
                SubKind::Scale => {
                    r.insert("group".into(), json!("autoscaling"));
                    r.insert("version".into(), json!("v1"));
                    r.insert("kind".into(), json!("Scale"));
                }
            }
            r.insert("verbs".into(), json!(s.verbs));
            rows.push(Value::Object(r));
        }
    }
    let mut list = Map::new();
    list.insert("kind".into(), json!("APIResourceList"));
    // The core list has no apiVersion on the wire (api__v1.json); group lists do.
    if !group.is_empty() {
        list.insert("apiVersion".into(), json!("v1"));
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    list.insert("groupVersion".into(), json!(group_version));
    list.insert("resources".into(), Value::Array(rows));
    Some(Value::Object(list))
}

/// The apiserver's `StorageVersionHash`: base64 of the first 8 bytes of
/// SHA-256(`group/version/kind`), over the storage version. Matching it exactly lets
/// tools that compare hashes across clusters (storage migrators) treat us as real.
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    let digest = sha256(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// SHA-256, for discovery (`storageVersionHash`) and OpenAPI (`?hash=`) digests.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::crd_types;

    const KUBECTL_132: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const KUBECTL_129: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    fn with_widgets() -> Registry {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
              "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wg"], "categories": ["all"]},
              "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}}},
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}
              ]}
        });
        let mut registry = Registry::builtin();
        registry.set_crd("widgets.example.com", crd_types(&crd).expect("valid CRD"));
        registry
    }

    #[test]
    fn negotiation_follows_the_clients_preference() {
        let v2 = DiscoveryFormat::Aggregated(AggregatedVersion::V2);
        let v2beta1 = DiscoveryFormat::Aggregated(AggregatedVersion::V2Beta1);
        assert_eq!(negotiate(KUBECTL_132), Some(v2));
        assert_eq!(negotiate(KUBECTL_129), Some(v2beta1));
        assert_eq!(negotiate("application/json"), Some(DiscoveryFormat::Legacy));
        assert_eq!(negotiate(""), Some(DiscoveryFormat::Legacy));
        assert_eq!(negotiate("*/*"), Some(DiscoveryFormat::Legacy));
        // Protobuf clauses are skipped (we only write JSON), not answered with 406.
        assert_eq!(
            negotiate(
                "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Some(v2)
        );
        // q-values reorder clauses.
        assert_eq!(
            negotiate(
                "application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some(v2beta1)
        );
        // Unknown conversions are not acceptable for discovery.
        assert_eq!(
            negotiate("application/json;as=Table;v=v1;g=meta.k8s.io"),
            None
        );
        assert_eq!(
            negotiate("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"),
            None
        );
        assert_eq!(negotiate("application/yaml"), None);
        assert_eq!(negotiate("application/json;stream=watch"), None);
    }

    #[test]
    fn content_types_name_the_aggregated_kind() {
        assert_eq!(
            DiscoveryFormat::Aggregated(AggregatedVersion::V2).content_type(),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
        assert_eq!(DiscoveryFormat::Legacy.content_type(), "application/json");
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(sha256(&[b'a'; 1000])),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }

    #[test]
    fn storage_version_hashes_match_a_real_apiserver() {
        // Values from kubernetes/kubernetes api/discovery/api__v1.json and apis__apps__v1.json.
        assert_eq!(storage_version_hash("", "v1", "ConfigMap"), "qFsyl6wFWjQ=");
        assert_eq!(
            storage_version_hash("apps", "v1", "Deployment"),
            "8aSe+NMegvE="
        );
    }

    #[test]
    fn aggregated_deployments_match_the_golden_document() {
        let doc = aggregated(&Registry::builtin(), false, AggregatedVersion::V2);
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let apps = doc["items"]
            .as_array()
            .and_then(|items| items.iter().find(|g| g["metadata"]["name"] == "apps"))
            .expect("apps group");
        assert_eq!(
            apps["metadata"],
            json!({"name": "apps", "creationTimestamp": null})
        );
        let resources = &apps["versions"][0]["resources"];
        let names: Vec<&str> = resources
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["resource"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "controllerrevisions",
                "daemonsets",
                "deployments",
                "replicasets",
                "statefulsets"
            ]
        );
        // From kubernetes/kubernetes api/discovery/aggregated_v2.json.
        let golden = json!({
            "categories": ["all"],
            "resource": "deployments",
            "responseKind": {"group": "", "kind": "Deployment", "version": ""},
            "scope": "Namespaced",
            "shortNames": ["deploy"],
            "singularResource": "deployment",
            "subresources": [
                {"responseKind": {"group": "autoscaling", "kind": "Scale", "version": "v1"},
                 "subresource": "scale", "verbs": ["get", "patch", "update"]},
                {"responseKind": {"group": "", "kind": "Deployment", "version": ""},
                 "subresource": "status", "verbs": ["get", "patch", "update"]}
            ],
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        });
        assert_eq!(resources[2], golden);
        assert_eq!(apps["versions"][0]["freshness"], "Current");
    }

    #[test]
    fn aggregated_core_holds_only_the_core_group() {
        let registry = Registry::builtin();
        let core = aggregated(&registry, true, AggregatedVersion::V2Beta1);
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        let items = core["items"].as_array().expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["metadata"], json!({"creationTimestamp": null}));
        let namespaces = items[0]["versions"][0]["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["resource"] == "namespaces"))
            .expect("namespaces");
        assert_eq!(
            namespaces["verbs"],
            json!([
                "create", "delete", "get", "list", "patch", "update", "watch"
            ])
        );
        assert_eq!(namespaces["subresources"][0]["subresource"], "finalize");
        assert_eq!(namespaces["subresources"][0]["verbs"], json!(["update"]));
        let apis = aggregated(&registry, false, AggregatedVersion::V2);
        assert!(
            apis["items"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|g| g["metadata"]["name"] != json!(null))
        );
    }

    #[test]
    fn the_two_aggregated_versions_differ_only_in_api_version() {
        let registry = with_widgets();
        let mut beta = aggregated(&registry, false, AggregatedVersion::V2Beta1);
        beta["apiVersion"] = json!("apidiscovery.k8s.io/v2");
        assert_eq!(beta, aggregated(&registry, false, AggregatedVersion::V2));
    }

    #[test]
    fn custom_resources_are_listed_as_the_crd_controller_lists_them() {
        let doc = aggregated(&with_widgets(), false, AggregatedVersion::V2);
        let group = doc["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|g| g["metadata"]["name"] == "example.com")
            })
            .expect("example.com");
        let versions: Vec<&str> = group["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["version"].as_str())
            .collect();
        assert_eq!(versions, ["v1", "v1beta1"]);
        let widget = &group["versions"][0]["resources"][0];
        assert_eq!(
            widget["responseKind"],
            json!({"group": "example.com", "version": "v1", "kind": "Widget"})
        );
        assert_eq!(
            widget["verbs"],
            json!([
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch"
            ])
        );
        assert_eq!(widget["shortNames"], json!(["wg"]));
        assert_eq!(
            widget["subresources"][1]["responseKind"],
            json!({"group": "example.com", "version": "v1", "kind": "Widget"})
        );
        assert!(
            group["versions"][1]["resources"][0]
                .get("subresources")
                .is_none()
        );
    }

    #[test]
    fn legacy_documents() {
        let registry = with_widgets();
        assert_eq!(
            api_versions("127.0.0.1:6443"),
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
        );
        let list = api_group_list(&registry);
        let groups = list["groups"].as_array().expect("groups");
        assert_eq!(groups[0]["name"], "apps");
        let widgets = groups
            .iter()
            .find(|g| g["name"] == "example.com")
            .expect("crd group");
        assert_eq!(
            widgets["preferredVersion"],
            json!({"groupVersion": "example.com/v1", "version": "v1"})
        );
        assert_eq!(
            api_group(&registry, "autoscaling"),
            Some(
                json!({"kind": "APIGroup", "apiVersion": "v1", "name": "autoscaling",
                        "versions": [{"groupVersion": "autoscaling/v2", "version": "v2"}],
                        "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"}})
            )
        );
        assert_eq!(api_group(&registry, "nope.example.com"), None);
        assert_eq!(api_group(&registry, ""), None);
        assert_eq!(api_resource_list(&registry, "apps", "v2"), None);
    }

    #[test]
    fn legacy_resource_lists_include_subresource_rows() {
        let registry = Registry::builtin();
        let apps = api_resource_list(&registry, "apps", "v1").expect("apps/v1");
        assert_eq!(apps["apiVersion"], "v1");
        assert_eq!(apps["groupVersion"], "apps/v1");
        let names: Vec<&str> = apps["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(
            &names[..6],
            [
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status"
            ]
        );
        let rows = apps["resources"].as_array().expect("rows");
        assert_eq!(
            rows[4],
            json!({"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling",
                   "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
        );
        assert_eq!(rows[3]["storageVersionHash"], "8aSe+NMegvE=");
        let core = api_resource_list(&registry, "", "v1").expect("v1");
        assert!(core.get("apiVersion").is_none());
        assert_eq!(core["groupVersion"], "v1");
        let names: Vec<&str> = core["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"namespaces/finalize") && names.contains(&"namespaces/status"));
    }

    #[test]
    fn custom_resource_rows_hash_the_storage_version() {
        let list = api_resource_list(&with_widgets(), "example.com", "v1beta1").expect("served");
        let widget = &list["resources"][0];
        assert_eq!(
            widget["storageVersionHash"],
            json!(storage_version_hash("example.com", "v1", "Widget"))
        );
        assert_eq!(widget["categories"], json!(["all"]));
    }
}
