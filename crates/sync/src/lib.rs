//! The sync engine: desired objects and one cluster in; a plan, server-side applies,
//! prunes, health and drift out.
//!
//! * [`plan`] — per object Synced, OutOfSync (with a unified diff), Missing or Extra,
//!   from server-side dry-run applies compared with the live objects ([`diff`]).
//! * [`sync`] — applies with server-side apply (field manager [`FIELD_MANAGER`], force)
//!   in Argo CD's order ([`order`]): PreSync hooks, then waves and kinds, waiting for
//!   health ([`health`]) between waves, PostSync hooks, SyncFail hooks on failure; prunes
//!   what the app tracks ([`tracking`]) and no longer renders.
//! * [`drift`] — watches the app's objects and reports fields other managers changed,
//!   re-applying them with self-heal.
//!
//! Options follow Argo CD's syncOptions and Flux's annotations ([`options`]);
//! `ignoreDifferences` is [`ignore`].
#![deny(missing_docs)]

pub mod cluster;
pub mod diff;
pub mod drift;
mod engine;
pub mod health;
pub mod ignore;
mod model;
pub mod options;
pub mod order;
pub mod takeover;
pub mod tracking;

pub use cluster::{Cluster, ClusterScope};
pub use engine::{
    DELETION_NEEDS_CONFIRMATION, FIELD_MANAGER, SyncError, WAITING_FOR_PRUNE_CONFIRMATION,
    app_health, ignores_extraneous, namespace_objects, plan, sync, sync_rendered,
};
pub use model::*;
pub use options::{NamespaceMetadata, Recreate, SelectedResource, SyncOptions};
pub use tracking::{AppId, ObjectKey};
