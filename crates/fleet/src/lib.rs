//! The fleet hub: the Argo CD and Flux resources a platform team already writes, turned into
//! converged clusters.
//!
//! This crate holds the parts that need no I/O:
//!
//! * [`argocd`]: Application, AppProject (with the project permission check), ApplicationSet
//!   models that read upstream YAML unchanged;
//! * [`cluster`]: Argo CD cluster Secrets;
//! * [`flux`]: Flux `Kustomization` and `GitRepository` specs with their validation;
//! * [`helm_release`]: Flux `HelmRelease` specs, their validation and derived names;
//! * [`appset`]: the ApplicationSet engine (generators, templates, the reconcile plan);
//! * [`notifications`]: Argo CD's notifications (triggers, templates, subscriptions and
//!   their state) and the expression language of their triggers;
//! * [`seed`]: the seed ApplicationSet the demo applies and the tests read.
#![deny(missing_docs)]

pub mod appset;
pub mod argocd;
pub mod cluster;
pub mod flux;
pub mod glob;
pub mod helm_release;
pub mod meta;
pub mod notifications;
pub mod seed;
mod serde_path;
pub mod yaml;

pub use argocd::application::{Application, FieldError};
pub use argocd::applicationset::ApplicationSet;
pub use argocd::project::AppProject;
