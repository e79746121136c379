//! The REST operations of a group-version, modelled once and written out as
//! OpenAPI 3.0 (`/openapi/v3/...`) or Swagger 2.0 (`/openapi/v2`).
//!
//! kubectl reads two things from here: the PATCH operation tagged with a kind's
//! `x-kubernetes-group-version-kind` (whether it lists `fieldValidation`, and
//! whether its body accepts `application/strategic-merge-patch+json`), so those
//! must be right; the rest follows the real server's layout for completeness.
//! Operation ids, tags and descriptions are spelled as the apiserver spells them.

use serde_json::{Map, Value, json};

use crate::discovery::served_verbs;
use crate::resources::ResourceType;

/// The definition names an operation's bodies and responses refer to.
#[derive(Debug, Clone)]
pub(super) struct KindSchemas {
    /// The object's schema, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub(super) object: String,
    /// The list's schema, e.g. `io.k8s.api.apps.v1.DeploymentList`.
    pub(super) list: String,
}

pub(super) const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(super) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";

/// Which document an operation is written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// OpenAPI 3.0: `requestBody`, `content`, `#/components/schemas/`.
    V3,
    /// Swagger 2.0: body parameters, `consumes`/`produces`, `#/definitions/`.
    V2,
}

impl Flavor {
    fn reference(self, name: &str) -> Value {
        match self {
            Flavor::V3 => json!({"$ref": format!("#/components/schemas/{name}")}),
            Flavor::V2 => json!({"$ref": format!("#/definitions/{name}")}),
        }
    }
}

/// One query or path parameter.
#[derive(Debug, Clone)]
struct Param {
    name: &'static str,
    path: bool,
    ty: &'static str,
    description: String,
}

fn query(name: &'static str, ty: &'static str, description: &str) -> Param {
    Param {
        name,
        path: false,
        ty,
        description: description.to_string(),
    }
}

mod text {
    //! Parameter descriptions, worded as the apiserver words them.
    pub(super) const PRETTY: &str = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).";
    pub(super) const NAMESPACE: &str = "object name and auth scope, such as for teams and projects";
    pub(super) const DRY_RUN: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
    pub(super) const FIELD_MANAGER: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
    pub(super) const FIELD_MANAGER_PATCH: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).";
    pub(super) const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";
    pub(super) const FORCE: &str = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.";
    pub(super) const GRACE_PERIOD: &str = "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.";
    pub(super) const ORPHAN: &str = "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.";
    pub(super) const PROPAGATION: &str = "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.";
    pub(super) const ALLOW_BOOKMARKS: &str = "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.";
    pub(super) const CONTINUE: &str = "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token. If the client needs a consistent list, it must restart their list without the continue field. Otherwise, the client may send another list request with the token received with the 410 error, the server will respond with a list starting from the next key, but from the latest snapshot, which is inconsistent from the previous list results - objects that are created, modified, or deleted after the first list request will be included in the response, as long as their keys are after the \"next key\".\n\nThis field is not supported when watch is true. Clients may start a watch from the last resourceVersion value returned by the server and not miss any modifications.";
    pub(super) const FIELD_SELECTOR: &str = "A selector to restrict the list of returned objects by their fields. Defaults to everything.";
    pub(super) const LABEL_SELECTOR: &str = "A selector to restrict the list of returned objects by their labels. Defaults to everything.";
    pub(super) const LIMIT: &str = "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results. Setting a limit may return fewer than the requested amount of items (up to zero items) in the event all requested objects are filtered out and clients should only use the presence of the continue field to determine whether more results are available. Servers may choose not to support the limit argument and will return all of the available results. If limit is specified and the continue field is empty, clients may assume that no more results are available. This field is not supported if watch is true.\n\nThe server guarantees that the objects returned when using continue will be identical to issuing a single list call without a limit - that is, no objects created, modified, or deleted after the first request is issued will be included in any subsequent continued requests. This is sometimes referred to as a consistent snapshot, and ensures that a client that is using limit to receive smaller chunks of a very large result can ensure they see all possible objects. If objects are updated during a chunked list the version of the object that was present at the time the first list result was calculated is returned.";
    pub(super) const RESOURCE_VERSION: &str = "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset";
    pub(super) const RESOURCE_VERSION_MATCH: &str = "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset";
    pub(super) const SEND_INITIAL_EVENTS: &str = "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event  will be sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of objects, and be marked with `\"k8s.io/initial-events-end\": \"true\"` annotation. Afterwards, the watch stream will proceed as usual, sending watch events corresponding to changes (subsequent to the RV) to objects watched.\n\nWhen `sendInitialEvents` option is set, we require `resourceVersionMatch` option to also be set. The semantic of the watch request is as following: - `resourceVersionMatch` = NotOlderThan\n  is interpreted as \"data at least as new as the provided `resourceVersion`\"\n  and the bookmark event is send when the state is synced\n  to a `resourceVersion` at least as fresh as the one provided by the ListOptions.\n  If `resourceVersion` is unset, this is interpreted as \"consistent read\" and the\n  bookmark event is send when the state is synced at least to the moment\n  when request started being processed.\n- `resourceVersionMatch` set to any other value or unset\n  Invalid error is returned.\n\nDefaults to true if `resourceVersion=\"\"` or `resourceVersion=\"0\"` (for backward compatibility reasons) and to false otherwise.";
    pub(super) const TIMEOUT: &str = "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.";
    pub(super) const WATCH: &str = "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.";
}

fn pretty() -> Param {
    query("pretty", "string", text::PRETTY)
}

fn namespace_param() -> Param {
    Param {
        name: "namespace",
        path: true,
        ty: "string",
        description: text::NAMESPACE.into(),
    }
}

fn name_param(kind: &str) -> Param {
    Param {
        name: "name",
        path: true,
        ty: "string",
        description: format!("name of the {kind}"),
    }
}

fn dry_run() -> Param {
    query("dryRun", "string", text::DRY_RUN)
}

fn field_validation() -> Param {
    query("fieldValidation", "string", text::FIELD_VALIDATION)
}

/// Parameters of writes that send an object (create, replace).
fn write_params() -> Vec<Param> {
    vec![
        dry_run(),
        query("fieldManager", "string", text::FIELD_MANAGER),
        field_validation(),
    ]
}

/// Parameters of PATCH: the ones kubectl's query-parameter verifier looks for.
fn patch_params() -> Vec<Param> {
    vec![
        dry_run(),
        query("fieldManager", "string", text::FIELD_MANAGER_PATCH),
        field_validation(),
        query("force", "boolean", text::FORCE),
    ]
}

fn delete_params() -> Vec<Param> {
    vec![
        dry_run(),
        query("gracePeriodSeconds", "integer", text::GRACE_PERIOD),
        query("orphanDependents", "boolean", text::ORPHAN),
        query("propagationPolicy", "string", text::PROPAGATION),
    ]
}

/// List and watch parameters, alphabetically, as the apiserver lists them.
fn list_params() -> Vec<Param> {
    vec![
        query("allowWatchBookmarks", "boolean", text::ALLOW_BOOKMARKS),
        query("continue", "string", text::CONTINUE),
        query("fieldSelector", "string", text::FIELD_SELECTOR),
        query("labelSelector", "string", text::LABEL_SELECTOR),
        query("limit", "integer", text::LIMIT),
        query("resourceVersion", "string", text::RESOURCE_VERSION),
        query(
            "resourceVersionMatch",
            "string",
            text::RESOURCE_VERSION_MATCH,
        ),
        query("sendInitialEvents", "boolean", text::SEND_INITIAL_EVENTS),
        query("timeoutSeconds", "integer", text::TIMEOUT),
        query("watch", "boolean", text::WATCH),
    ]
}

fn delete_collection_params() -> Vec<Param> {
    let mut params: Vec<Param> = list_params()
        .into_iter()
        .filter(|p| p.name != "allowWatchBookmarks" && p.name != "watch")
        .collect();
    params.extend(delete_params());
    params.sort_by_key(|p| p.name);
    params
}

/// Parameters a path declares for all its operations (`pretty` last among
/// equals, as the apiserver sorts them by name).
fn path_params(mut params: Vec<Param>) -> Vec<Param> {
    params.push(pretty());
    params.sort_by_key(|p| p.name);
    params
}

/// The request body of an operation.
#[derive(Debug, Clone)]
struct Body {
    content_types: Vec<&'static str>,
    schema: String,
    required: bool,
}

/// One HTTP method on a path.
#[derive(Debug, Clone)]
struct Operation {
    method: &'static str,
    id: String,
    description: String,
    action: &'static str,
    params: Vec<Param>,
    body: Option<Body>,
    /// `(code, schema)`; every operation also answers 401.
    responses: Vec<(u16, String)>,
    produces: Vec<&'static str>,
    gvk: Gvk,
}

/// `(group, version, kind)` of an operation's `x-kubernetes-group-version-kind`.
type Gvk = (String, String, String);

/// A subresource path (`status`, `scale`) and what it reads and writes.
struct Subresource {
    name: &'static str,
    /// Operation id suffix: `Status`, `Scale`.
    suffix: &'static str,
    schema: String,
    gvk: Gvk,
}

/// A path with its shared parameters and operations.
#[derive(Debug, Clone)]
pub(super) struct PathItem {
    path: String,
    params: Vec<Param>,
    operations: Vec<Operation>,
}

/// `apps` → `Apps`, `rbac.authorization.k8s.io` → `RbacAuthorization`, core → `Core`,
/// `stable.example.com` → `StableExampleCom`: the group as operation ids spell it.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group
        .trim_end_matches(".k8s.io")
        .split(['.', '-'])
        .map(capitalize)
        .collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The operation tag of a group-version: `apps_v1`, `core_v1`, `rbacAuthorization_v1`.
pub(super) fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let lower = match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

/// "a ConfigMap", "an Event", "Endpoints": the apiserver's `getArticleForNoun`.
fn with_article(kind: &str) -> String {
    if kind.ends_with('s') && !kind.ends_with("ss") {
        return kind.to_string();
    }
    let vowel = kind
        .chars()
        .next()
        .is_some_and(|c| "AEIOUaeiou".contains(c));
    format!("{} {kind}", if vowel { "an" } else { "a" })
}

/// What a group-version's documents are generated from.
pub(super) struct GroupVersion<'a> {
    pub(super) group: &'a str,
    pub(super) version: &'a str,
    /// Built-in group-versions also serve `GET /apis/<g>/<v>/` (APIResourceList).
    pub(super) builtin: bool,
}

impl GroupVersion<'_> {
    fn base(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    fn id_infix(&self) -> String {
        format!("{}{}", group_camel(self.group), capitalize(self.version))
    }
}

/// Every path of a group-version, sorted by path.
pub(super) fn paths(
    gv: &GroupVersion<'_>,
    types: &[(&ResourceType, KindSchemas)],
) -> Vec<PathItem> {
    let mut items = Vec::new();
    if gv.builtin {
        items.push(PathItem {
            path: format!("{}/", gv.base()),
            params: vec![],
            operations: vec![Operation {
                method: "get",
                id: format!("get{}APIResources", gv.id_infix()),
                description: "get available resources".into(),
                action: "",
                params: vec![],
                body: None,
                responses: vec![(200, API_RESOURCE_LIST.into())],
                produces: produces(true, false),
                gvk: Default::default(),
            }],
        });
    }
    for (t, schemas) in types {
        items.extend(resource_paths(gv, t, schemas));
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    items
}

/// The response media types of an operation.
fn produces(builtin: bool, list: bool) -> Vec<&'static str> {
    let mut types = vec!["application/json"];
    if list {
        types.push("application/json;stream=watch");
    }
    if builtin {
        types.push("application/vnd.kubernetes.protobuf");
        if list {
            types.push("application/vnd.kubernetes.protobuf;stream=watch");
        }
    }
    types.push("application/yaml");
    types
}

/// The PATCH body types. Custom resources do not accept strategic merge patches,
/// and kubectl falls back to a JSON merge patch when this list lacks it.
fn patch_types(builtin: bool) -> Vec<&'static str> {
    let mut types = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if builtin {
        types.push("application/strategic-merge-patch+json");
    }
    types
}

fn resource_paths(gv: &GroupVersion<'_>, t: &ResourceType, schemas: &KindSchemas) -> Vec<PathItem> {
    let builtin = !t.is_custom();
    let kind = t.kind.as_str();
    let gvk = (t.group.clone(), t.version.clone(), t.kind.clone());
    let infix = gv.id_infix();
    let scoped = if t.namespaced { "Namespaced" } else { "" };
    let ns_segment = if t.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let ns_params = || {
        if t.namespaced {
            vec![namespace_param()]
        } else {
            vec![]
        }
    };
    let collection = format!("{}{ns_segment}/{}", gv.base(), t.plural);
    let object = format!("{collection}/{{name}}");
    let op = |method: &'static str, verb: &str, suffix: &str, action: &'static str| Operation {
        method,
        id: format!("{verb}{infix}{scoped}{kind}{suffix}"),
        description: String::new(),
        action,
        params: vec![],
        body: None,
        responses: vec![],
        produces: produces(builtin, false),
        gvk: gvk.clone(),
    };
    let object_body = |schema: &str| Body {
        content_types: vec!["*/*"],
        schema: schema.into(),
        required: true,
    };
    let delete_body = || Body {
        content_types: vec!["*/*"],
        schema: DELETE_OPTIONS.into(),
        required: false,
    };
    let patch_body = || Body {
        content_types: patch_types(builtin),
        schema: PATCH.into(),
        required: true,
    };

    let mut items = Vec::new();

    // The collection: list, create, delete collection.
    let mut ops = vec![
        Operation {
            description: format!("list or watch objects of kind {kind}"),
            params: list_params(),
            responses: vec![(200, schemas.list.clone())],
            produces: produces(builtin, true),
            ..op("get", "list", "", "list")
        },
        Operation {
            description: format!("create {}", with_article(kind)),
            params: write_params(),
            body: Some(object_body(&schemas.object)),
            responses: vec![
                (200, schemas.object.clone()),
                (201, schemas.object.clone()),
                (202, schemas.object.clone()),
            ],
            ..op("post", "create", "", "post")
        },
    ];
    if served_verbs(t).contains(&"deletecollection") {
        ops.push(Operation {
            id: format!("delete{infix}Collection{scoped}{kind}"),
            description: format!("delete collection of {kind}"),
            params: delete_collection_params(),
            body: Some(delete_body()),
            responses: vec![(200, STATUS.into())],
            ..op("delete", "delete", "", "deletecollection")
        });
    }
    items.push(PathItem {
        path: collection.clone(),
        params: path_params(ns_params()),
        operations: ops,
    });

    // The object: read, replace, patch, delete.
    let mut object_params = ns_params();
    object_params.push(name_param(kind));
    items.push(PathItem {
        path: object.clone(),
        params: path_params(object_params.clone()),
        operations: vec![
            Operation {
                description: format!("read the specified {kind}"),
                responses: vec![(200, schemas.object.clone())],
                ..op("get", "read", "", "get")
            },
            Operation {
                description: format!("replace the specified {kind}"),
                params: write_params(),
                body: Some(object_body(&schemas.object)),
                responses: vec![(200, schemas.object.clone()), (201, schemas.object.clone())],
                ..op("put", "replace", "", "put")
            },
            Operation {
                description: format!("partially update the specified {kind}"),
                params: patch_params(),
                body: Some(patch_body()),
                responses: vec![(200, schemas.object.clone()), (201, schemas.object.clone())],
                ..op("patch", "patch", "", "patch")
            },
            Operation {
                description: format!("delete {}", with_article(kind)),
                params: delete_params(),
                body: Some(delete_body()),
                responses: vec![(200, STATUS.into()), (202, STATUS.into())],
                ..op("delete", "delete", "", "delete")
            },
        ],
    });

    // Subresources: get/put/patch of the status (same kind) and scale (Scale).
    let mut subresources = Vec::new();
    if t.scale.is_some() {
        let gvk = (
            "autoscaling".to_string(),
            "v1".to_string(),
            "Scale".to_string(),
        );
        subresources.push(Subresource {
            name: "scale",
            suffix: "Scale",
            schema: SCALE.into(),
            gvk,
        });
    }
    if t.status_subresource {
        let schema = schemas.object.clone();
        subresources.push(Subresource {
            name: "status",
            suffix: "Status",
            schema,
            gvk: gvk.clone(),
        });
    }
    for Subresource {
        name: sub,
        suffix,
        schema,
        gvk: sub_gvk,
    } in subresources
    {
        let mut params = ns_params();
        params.push(name_param(if sub == "scale" { "Scale" } else { kind }));
        let sub_op = |method, verb, action| Operation {
            gvk: sub_gvk.clone(),
            ..op(method, verb, suffix, action)
        };
        items.push(PathItem {
            path: format!("{object}/{sub}"),
            params: path_params(params),
            operations: vec![
                Operation {
                    description: format!("read {sub} of the specified {kind}"),
                    responses: vec![(200, schema.clone())],
                    ..sub_op("get", "read", "get")
                },
                Operation {
                    description: format!("replace {sub} of the specified {kind}"),
                    params: write_params(),
                    body: Some(object_body(&schema)),
                    responses: vec![(200, schema.clone()), (201, schema.clone())],
                    ..sub_op("put", "replace", "put")
                },
                Operation {
                    description: format!("partially update {sub} of the specified {kind}"),
                    params: patch_params(),
                    body: Some(patch_body()),
                    responses: vec![(200, schema.clone()), (201, schema.clone())],
                    ..sub_op("patch", "patch", "patch")
                },
            ],
        });
    }
    if t.group.is_empty() && t.plural == "namespaces" {
        items.push(PathItem {
            path: format!("{object}/finalize"),
            params: path_params(vec![name_param(kind)]),
            operations: vec![Operation {
                description: format!("replace finalize of the specified {kind}"),
                params: write_params(),
                body: Some(object_body(&schemas.object)),
                responses: vec![(200, schemas.object.clone()), (201, schemas.object.clone())],
                ..op("put", "replace", "Finalize", "put")
            }],
        });
    }

    // Listing across namespaces, and the deprecated watch paths.
    let watch_op = |id: String, action: &'static str, description: String| Operation {
        id,
        description,
        responses: vec![(200, WATCH_EVENT.into())],
        produces: produces(builtin, true),
        ..op("get", "watch", "", action)
    };
    let list_path_params = |extra: Vec<Param>| {
        let mut params = list_params();
        params.extend(extra);
        path_params(params)
    };
    if t.namespaced {
        items.push(PathItem {
            path: format!("{}/{}", gv.base(), t.plural),
            params: list_path_params(vec![]),
            operations: vec![Operation {
                id: format!("list{infix}{kind}ForAllNamespaces"),
                description: format!("list or watch objects of kind {kind}"),
                responses: vec![(200, schemas.list.clone())],
                produces: produces(builtin, true),
                ..op("get", "list", "", "list")
            }],
        });
        items.push(PathItem {
            path: format!("{}/watch/{}", gv.base(), t.plural),
            params: list_path_params(vec![]),
            operations: vec![watch_op(
                format!("watch{infix}{kind}ListForAllNamespaces"),
                "watchlist",
                format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
            )],
        });
    }
    items.push(PathItem {
        path: format!("{}/watch{ns_segment}/{}", gv.base(), t.plural),
        params: list_path_params(ns_params()),
        operations: vec![watch_op(
            format!("watch{infix}{scoped}{kind}List"),
            "watchlist",
            format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
        )],
    });
    items.push(PathItem {
        path: format!("{}/watch{ns_segment}/{}/{{name}}", gv.base(), t.plural),
        params: list_path_params(object_params),
        operations: vec![watch_op(
            format!("watch{infix}{scoped}{kind}"),
            "watch",
            format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
        )],
    });
    items
}

/// Writes paths as the `paths` object of a document.
pub(super) fn render(items: &[PathItem], flavor: Flavor, tag_of: &str) -> Map<String, Value> {
    items
        .iter()
        .map(|item| {
            let mut out = Map::new();
            for op in &item.operations {
                out.insert(op.method.into(), render_operation(op, flavor, tag_of));
            }
            if !item.params.is_empty() {
                out.insert(
                    "parameters".into(),
                    Value::Array(
                        item.params
                            .iter()
                            .map(|p| render_param(p, flavor))
                            .collect(),
                    ),
                );
            }
            (item.path.clone(), Value::Object(out))
        })
        .collect()
}

fn render_param(p: &Param, flavor: Flavor) -> Value {
    let location = if p.path { "path" } else { "query" };
    let mut out = Map::new();
    match flavor {
        Flavor::V3 => {
            out.insert("name".into(), json!(p.name));
            out.insert("in".into(), json!(location));
            out.insert("description".into(), json!(p.description));
            if p.path {
                out.insert("required".into(), json!(true));
            }
            out.insert("schema".into(), json!({"type": p.ty, "uniqueItems": true}));
        }
        Flavor::V2 => {
            out.insert("uniqueItems".into(), json!(true));
            out.insert("type".into(), json!(p.ty));
            out.insert("description".into(), json!(p.description));
            out.insert("name".into(), json!(p.name));
            out.insert("in".into(), json!(location));
            if p.path {
                out.insert("required".into(), json!(true));
            }
        }
    }
    Value::Object(out)
}

fn response_description(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "Unauthorized",
    }
}

fn render_operation(op: &Operation, flavor: Flavor, tag_of: &str) -> Value {
    let mut out = Map::new();
    if flavor == Flavor::V2 {
        out.insert("description".into(), json!(op.description));
        let consumes = op
            .body
            .as_ref()
            .map(|b| b.content_types.clone())
            .unwrap_or_else(|| vec!["*/*"]);
        out.insert("consumes".into(), json!(consumes));
        out.insert("produces".into(), json!(op.produces));
        out.insert("schemes".into(), json!(["https"]));
    }
    out.insert("tags".into(), json!([tag_of]));
    if flavor == Flavor::V3 {
        out.insert("description".into(), json!(op.description));
    }
    out.insert("operationId".into(), json!(op.id));
    let mut params: Vec<Value> = op.params.iter().map(|p| render_param(p, flavor)).collect();
    if let Some(body) = &op.body {
        match flavor {
            Flavor::V3 => {
                let content: Map<String, Value> = body
                    .content_types
                    .iter()
                    .map(|ct| {
                        (
                            ct.to_string(),
                            json!({"schema": flavor.reference(&body.schema)}),
                        )
                    })
                    .collect();
                let mut request = Map::new();
                request.insert("content".into(), Value::Object(content));
                if body.required {
                    request.insert("required".into(), json!(true));
                }
                out.insert("requestBody".into(), Value::Object(request));
            }
            Flavor::V2 => {
                let mut param = Map::new();
                param.insert("name".into(), json!("body"));
                param.insert("in".into(), json!("body"));
                if body.required {
                    param.insert("required".into(), json!(true));
                }
                param.insert("schema".into(), flavor.reference(&body.schema));
                params.insert(0, Value::Object(param));
            }
        }
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    let mut responses = Map::new();
    for (code, schema) in &op.responses {
        let mut response = Map::new();
        response.insert("description".into(), json!(response_description(*code)));
        match flavor {
            Flavor::V3 => {
                let content: Map<String, Value> = op
                    .produces
                    .iter()
                    .map(|ct| (ct.to_string(), json!({"schema": flavor.reference(schema)})))
                    .collect();
                response.insert("content".into(), Value::Object(content));
            }
            Flavor::V2 => {
                response.insert("schema".into(), flavor.reference(schema));
            }
        }
        responses.insert(code.to_string(), Value::Object(response));
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    out.insert("responses".into(), Value::Object(responses));
    if !op.action.is_empty() {
        out.insert("x-kubernetes-action".into(), json!(op.action));
        let (group, version, kind) = &op.gvk;
        out.insert(
            "x-kubernetes-group-version-kind".into(),
            json!({"group": group, "kind": kind, "version": version}),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_apiserver() {
        assert_eq!(
            group_camel("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(group_camel("stable.example.com"), "StableExampleCom");
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(with_article("Event"), "an Event");
        assert_eq!(with_article("Endpoints"), "Endpoints");
        assert_eq!(with_article("Ingress"), "an Ingress");
        assert_eq!(with_article("ConfigMap"), "a ConfigMap");
    }
}
