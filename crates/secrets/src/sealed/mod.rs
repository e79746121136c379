//! Sealed Secrets (`bitnami-labs/sealed-secrets`): keys, the hybrid value format, scopes,
//! and sealing/unsealing whole objects.
//!
//! The specification is upstream's code: `pkg/crypto/{crypto,keys}.go` for the format and
//! the certificate, `pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go` for scopes,
//! `NewSealedSecret` and `Unseal`, `pkg/controller/keys.go` for the key Secret, and
//! `pkg/kubeseal/kubeseal.go` for what the CLI does around them.

mod crypto;
mod keys;
mod object;
mod scope;

pub use self::{
    crypto::{CryptoError, hybrid_decrypt, hybrid_encrypt},
    keys::{ControllerKey, KeyError, SealingKey},
    object::{ItemError, ItemErrors, SealError, UnsealError, reseal, seal, unseal},
    scope::{ParseScopeError, Scope},
};

/// `sealedsecrets.bitnami.com/cluster-wide`: `"true"` selects [`Scope::ClusterWide`].
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// `sealedsecrets.bitnami.com/namespace-wide`: `"true"` selects [`Scope::NamespaceWide`].
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// `sealedsecrets.bitnami.com/skip-set-owner-references`: `"true"` in the template's
/// annotations leaves the unsealed Secret without an owner reference.
pub const SKIP_SET_OWNER_REFERENCES_ANNOTATION: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";
/// `sealedsecrets.bitnami.com/managed`: `"true"` on an existing Secret lets the controller
/// take it over.
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";
/// `sealedsecrets.bitnami.com/patch`: `"true"` on an existing Secret makes the controller
/// patch it instead of replacing it.
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";
/// The label of the controller's key Secrets (`sealedsecrets.bitnami.com/sealed-secrets-key`,
/// value `active`).
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// The SealedSecret's group/version.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// The SealedSecret's kind.
pub const KIND: &str = "SealedSecret";
