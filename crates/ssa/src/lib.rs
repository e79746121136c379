//! Server-side apply as kube-apiserver does it: the semantics of
//! [structured-merge-diff] (smd) and the managedFields layer apimachinery adds. A pure
//! library over `serde_json` values: no I/O, no clock (callers pass the time).
//!
//! Three layers, each usable on its own:
//!
//! * **Field sets** — [`FieldSet`], [`Path`], [`PathElement`] and the FieldsV1
//!   encoding of [`fieldsv1`], byte for byte as the apiserver writes managedFields.
//! * **Typed operations** — over a schema seen through [`TypeNode`] ([`Deduced`] for
//!   schema-less data, [`SmdType`] for smd's schema format, [`OpenApiType`] for
//!   Kubernetes OpenAPI via `flotilla_schema`): [`validate`], [`to_field_set`],
//!   [`merge`], [`compare`], [`remove_items`], [`extract_items`], and the
//!   [`Updater`] that applies configurations and records updates with
//!   [`Conflicts`].
//! * **managedFields** — [`apply`] and [`update`] take and return whole objects with
//!   `metadata.managedFields`, as the apiserver's PATCH (apply) and other writes do.
//!
//! ```
//! use flotilla_ssa::{FieldSet, OpenApiType, Resource, apply};
//! use serde_json::json;
//!
//! let deployment = flotilla_schema::builtin().kind("apps", "v1", "Deployment").unwrap();
//! let res = Resource {
//!     schema: OpenApiType::resource(deployment),
//!     api_version: "apps/v1",
//!     subresource: "",
//!     reset_fields: &FieldSet::new(),
//!     empty: None,
//! };
//! let web = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "labels": {"app": "web"}},
//!     "spec": {"replicas": 2, "template": {"spec": {"containers": [
//!         {"name": "web", "image": "nginx:1.25"}]}}}});
//! let created = apply(&res, None, &web, "kubectl", false, "2024-05-01T10:00:00Z").unwrap();
//! let entry = &created.object["metadata"]["managedFields"][0];
//! assert_eq!(entry["manager"], "kubectl");
//! assert_eq!(entry["operation"], "Apply");
//!
//! // Another manager changing replicas conflicts.
//! let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web"}, "spec": {"replicas": 5}});
//! let err = apply(&res, Some(&created.object), &scale, "hpa", false, "2024-05-01T10:01:00Z")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#);
//! ```
//!
//! # Known deviations
//!
//! * Objects are never converted between versions: a set recorded at another version
//!   of the resource is taken to describe the same fields.
//! * [`OpenApiType`] types fields the schema does not declare as deduced data instead
//!   of rejecting them, and knows list-map key defaults of built-in kinds only from a
//!   small table (`ContainerPort.protocol`, `ServicePort.protocol`); CRD `default`s of
//!   key fields are not seen.
//! * Unions (`x-kubernetes-unions`) are not normalised.
//! * Lists whose schema says neither `atomic` nor `associative` are atomic.
//!
//! [structured-merge-diff]: https://github.com/kubernetes-sigs/structured-merge-diff
#![deny(missing_docs)]

pub mod compact;
mod conflict;
mod fieldmanager;
pub mod fieldsv1;
mod lastapplied;
mod managed;
mod memo;
mod openapi;
mod path;
mod schema;
mod set;
mod smd;
mod typed;
mod updater;
mod value;

pub use crate::{
    conflict::{Conflict, Conflicts, describe_manager},
    fieldmanager::{
        ANCIENT_CHANGES, ApplyResult, BEFORE_FIRST_APPLY, Error, MAX_UPDATE_MANAGERS, Resource,
        apply, manager_name, update,
    },
    lastapplied::LAST_APPLIED_ANNOTATION,
    managed::{
        Managed, ManagedFieldsError, ManagerId, Operation, decode as decode_managed_fields,
        encode as encode_managed_fields, is_reset as is_reset_managed_fields,
    },
    openapi::OpenApiType,
    path::{Path, PathElement},
    schema::{Atom, Deduced, Field, ListAtom, ListKind, MapAtom, ScalarKind, TypeNode},
    set::FieldSet,
    smd::{SmdSchema, SmdSchemaError, SmdType},
    typed::{
        Comparison, ValidationError, ValidationErrors, compare, ensure_named_fields_are_members,
        extract_items, merge, reconcile_field_set, remove_items, to_field_set, validate,
    },
    updater::{Applied, ApplyError, ManagedSet, Managers, Updater},
    value::values_equal,
};
