//! Kubernetes schemas and the semantics built on them.
//!
//! * [`builtin`] — the OpenAPI definitions of Kubernetes' built-in kinds (v1.21.2, plus a
//!   supplement of what later versions up to 1.33 added to the kinds kubesim serves,
//!   `autoscaling/v2` included), embedded and decoded on first use. [`Catalog::kind`]
//!   finds a kind's schema by group, version and kind; [`builtin_definitions_json`] is
//!   the same merged definitions as JSON.
//! * [`Schema::from_openapi_v3`] — a custom resource's schema from its CRD.
//! * [`SchemaRef`] — navigation: a node's [`Type`], fields, items, and the list and map
//!   topology that strategic merge patch and server-side apply need
//!   ([`PatchStrategy`], merge key, [`ListType`], [`ListTopology`], [`MapType`]).
//! * [`unknown_fields`] and [`prune_unknown`] — the fields an object has that its schema
//!   does not know, worded as the API server words them.
//! * [`strategic_merge_patch`] — apimachinery's strategic merge patch.
//!
//! ```
//! use flotilla_schema::{builtin, strategic_merge_patch, unknown_fields};
//! use serde_json::json;
//!
//! let deployment = builtin().kind("apps", "v1", "Deployment").expect("built-in kind");
//! let live = json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "web", "image": "nginx:1.20"},
//!     {"name": "sidecar", "image": "envoy:1"}
//! ]}}}});
//! let patch = json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "web", "image": "nginx:1.21"}
//! ]}}}});
//! let patched = strategic_merge_patch(&live, &patch, Some(&deployment)).unwrap();
//! assert_eq!(patched["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.21");
//! assert_eq!(patched["spec"]["template"]["spec"]["containers"][1]["name"], "sidecar");
//!
//! let typo = json!({"spec": {"replicaz": 3}});
//! assert_eq!(unknown_fields(&deployment, &typo), ["spec.replicaz"]);
//! ```
//!
//! # Known deviations
//!
//! * Strategic merge patch, below a map (`additionalProperties`), uses the map's value
//!   schema; upstream's struct lookup fails there (no built-in kind has such a field).
//! * Where upstream crashes on malformed input (a merged list starting with `null`,
//!   object-valued merge keys, `$setElementOrder` on a list of objects without merge
//!   key), an error is returned instead.
//! * A patch that both adds and deletes (`$deleteFromPrimitiveList`) the same scalar:
//!   upstream's result depends on Go's random map order; here the patch's key order
//!   decides.
//! * Merged scalar lists under `$setElementOrder` whose live list holds duplicates:
//!   upstream's order can depend on slice capacity; here it follows the live list.
//! * Unknown fields are not capped at 100 paths as the strict decoder caps them, and an
//!   embedded resource's metadata under a map is reported as `.key`, not `[key]`.
//! * Objects published as `type: object` without properties (e.g.
//!   `CustomResourceSubresourceStatus`, an empty Go struct) accept any field.
//! * The built-in schemas are v1.21.2's plus the 1.33 supplement, merged additively:
//!   fields Kubernetes removed after 1.21 (`ServiceSpec.topologyKeys`,
//!   `ObjectMeta.clusterName`) are still known, and where 1.33 points a field at a
//!   renamed or narrower definition (`PersistentVolumeClaimSpec.resources`,
//!   `IngressStatus.loadBalancer`) 1.21's definition, completed with 1.33's new fields,
//!   is used. Kinds kubesim does not serve get no supplement.
#![deny(missing_docs)]

mod catalog;
mod embedded;
mod fields;
mod merge;
mod model;
mod strategic;

pub use crate::{
    catalog::{Catalog, GroupVersionKind, Scope, builtin},
    embedded::builtin_definitions_json,
    fields::{prune_unknown, unknown_fields},
    model::{ListTopology, ListType, MapType, PatchStrategy, Schema, SchemaError, SchemaRef, Type},
    strategic::{PatchError, strategic_merge_patch, strategic_merge_patch_owned},
};
