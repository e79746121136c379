//! The descriptor set `build.rs` compiled from Kubernetes' `.proto` files, indexed for
//! decoding: messages by Go type name, and per message what [`super::json`] needs.
//!
//! Messages are named by Go package and type (`k8s.io/api/apps/v1.Deployment`), read from
//! each file's `go_package` option, rather than by protobuf package: that is how upstream
//! names them, whatever package the crate carrying the files chose.

use std::collections::HashMap;
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, FieldDescriptor, MessageDescriptor};

use super::DecodeError;
use super::gofacts;

static DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes.fds"));

static SCHEMA: LazyLock<Result<Schema, String>> = LazyLock::new(Schema::load);

/// The schema, loaded on first use (a few milliseconds).
pub(super) fn get() -> Result<&'static Schema, DecodeError> {
    SCHEMA
        .as_ref()
        .map_err(|e| DecodeError::Descriptors(e.clone()))
}

/// The Go package of the meta/v1 types every group version also serves.
const META_V1: &str = "k8s.io/apimachinery/pkg/apis/meta/v1";

/// Kinds that every group version serves from meta/v1 (client-go sends `DeleteOptions`
/// under the apiVersion of the resource being deleted).
const META_KINDS: &[&str] = &[
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "GetOptions",
    "ListOptions",
];

/// Messages with a JSON form of their own, rather than an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Special {
    /// `metav1.Time`: RFC 3339 in UTC, whole seconds; `null` when zero.
    Time,
    /// `metav1.MicroTime`: RFC 3339 in UTC with six fractional digits; `null` when zero.
    MicroTime,
    /// `metav1.Duration`: Go's `time.Duration` string (`1h0m0s`).
    Duration,
    /// `intstr.IntOrString`: a number or a string, by its `type`.
    IntOrString,
    /// `resource.Quantity`: its canonical string.
    Quantity,
    /// `runtime.RawExtension`, `metav1.FieldsV1`, apiextensions `JSON`: the JSON in `raw`.
    RawJson,
    /// apiextensions `JSONSchemaPropsOrBool`: the schema, else the bool.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrArray`: the list of schemas, else the schema.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrStringArray`: the strings, else the schema.
    SchemaOrStringArray,
    /// A Go named slice wrapped in a message for protobuf (`ExtraValue`, `Verbs`): `items`.
    Items,
}

/// How one field of a message becomes JSON.
#[derive(Debug)]
pub(super) struct FieldInfo {
    pub(super) descriptor: FieldDescriptor,
    /// The key in the JSON object.
    pub(super) json_name: String,
    /// An embedded Go struct: its fields go into the parent object.
    pub(super) inline: bool,
    /// A Go pointer: a zero value on the wire was set on purpose and is kept.
    pub(super) keep_zero: bool,
}

/// How one message becomes JSON.
#[derive(Debug)]
pub(super) struct MessageInfo {
    pub(super) special: Option<Special>,
    /// In declaration order, which is the Go struct's order.
    pub(super) fields: Vec<FieldInfo>,
}

/// The loaded descriptors and the indexes over them.
#[derive(Debug)]
pub(super) struct Schema {
    /// Top-level messages by Go name (`k8s.io/api/core/v1.ConfigMap`).
    by_go_name: HashMap<String, MessageDescriptor>,
    /// Every message (map entries included) by protobuf full name.
    messages: HashMap<String, MessageInfo>,
    unknown: MessageDescriptor,
}

impl Schema {
    fn load() -> Result<Schema, String> {
        let pool = DescriptorPool::decode(DESCRIPTOR_SET).map_err(|e| e.to_string())?;
        let mut by_go_name = HashMap::new();
        let mut messages = HashMap::new();
        for message in pool.all_messages() {
            let go_name = go_name(&message);
            let info = message_info(&message, go_name.as_deref());
            messages.insert(message.full_name().to_owned(), info);
            if let Some(go_name) = go_name {
                by_go_name.insert(go_name, message);
            }
        }
        let unknown = by_go_name
            .get("k8s.io/apimachinery/pkg/runtime.Unknown")
            .cloned()
            .ok_or("runtime.Unknown is not among the descriptors")?;
        Ok(Schema {
            by_go_name,
            messages,
            unknown,
        })
    }

    /// The envelope message, `runtime.Unknown`.
    pub(super) fn unknown(&self) -> MessageDescriptor {
        self.unknown.clone()
    }

    /// How `message` becomes JSON.
    pub(super) fn info(&self, message: &MessageDescriptor) -> Option<&MessageInfo> {
        self.messages.get(message.full_name())
    }

    /// A top-level message by Go name (`k8s.io/api/core/v1.ConfigMap`).
    pub(super) fn by_go_name(&self, go_name: &str) -> Option<MessageDescriptor> {
        self.by_go_name.get(go_name).cloned()
    }

    /// The message for an apiVersion and kind, if it is a built-in type.
    pub(super) fn message_for(&self, api_version: &str, kind: &str) -> Option<MessageDescriptor> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        if let Some(package) = go_package(group, version)
            && let Some(message) = self.by_go_name(&format!("{package}.{kind}"))
        {
            return Some(message);
        }
        if META_KINDS.contains(&kind) {
            return self.by_go_name(&format!("{META_V1}.{kind}"));
        }
        None
    }
}

/// The Go package that holds a group version's types, for groups Kubernetes defines.
fn go_package(group: &str, version: &str) -> Option<String> {
    if version.is_empty() || version.contains('/') {
        return None;
    }
    let package = match group {
        "" => "k8s.io/api/core".to_owned(),
        "meta.k8s.io" => "k8s.io/apimachinery/pkg/apis/meta".to_owned(),
        "apiextensions.k8s.io" => {
            "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions".to_owned()
        }
        "apiregistration.k8s.io" => "k8s.io/kube-aggregator/pkg/apis/apiregistration".to_owned(),
        "internal.apiserver.k8s.io" => "k8s.io/api/apiserverinternal".to_owned(),
        // One-word groups (`apps`, `batch`, `policy`, `autoscaling`) are their own package;
        // `<name>[.<more>].k8s.io` lives in package `<name>` (`rbac.authorization.k8s.io` in
        // `rbac`, `flowcontrol.apiserver.k8s.io` in `flowcontrol`). Other domains are custom
        // resources.
        _ if !group.contains('.') => format!("k8s.io/api/{group}"),
        _ if group.ends_with(".k8s.io") => {
            let name = group.split('.').next().unwrap_or(group);
            format!("k8s.io/api/{name}")
        }
        _ => return None,
    };
    Some(format!("{package}/{version}"))
}

/// `<go_package>.<Name>` for a top-level message; `None` for nested ones (map entries).
fn go_name(message: &MessageDescriptor) -> Option<String> {
    if message.parent_message().is_some() {
        return None;
    }
    let file = message.parent_file();
    let go_package = file
        .file_descriptor_proto()
        .options
        .as_ref()
        .and_then(|o| o.go_package.as_deref())?;
    Some(format!("{go_package}.{}", message.name()))
}

fn message_info(message: &MessageDescriptor, go_name: Option<&str>) -> MessageInfo {
    let (package, type_name) = go_name
        .and_then(|n| n.rsplit_once('.'))
        .unwrap_or(("", message.name()));
    let facts = gofacts::FieldFacts::of(package, type_name);
    let fields = message
        .fields()
        .map(|field| {
            let name = field.name();
            FieldInfo {
                json_name: facts.json_name(name),
                inline: facts.is_inline(name),
                keep_zero: facts.is_pointer(name),
                descriptor: field,
            }
        })
        .collect();
    MessageInfo {
        special: gofacts::special(package, type_name),
        fields,
    }
}
