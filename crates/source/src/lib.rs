//! Git sources: one shared bare mirror per repository URL, Flux GitRepository
//! semantics, webhook receivers, and reading files and tree ids at a commit.
//!
//! - [`MirrorCache`] owns the mirrors: [`MirrorCache::checkout`] resolves a
//!   [`Reference`] (one remote check per URL per interval, shared by every consumer;
//!   one fetch per URL at a time) and returns a [`Checkout`] with a [`Snapshot`].
//!   [`MirrorCache::collect_garbage`] removes mirrors unused for longer than a given
//!   age (never one in use) and can run `git gc --auto` in the others.
//! - [`Snapshot`] reads a commit without a work tree: [`Snapshot::files`] under a
//!   path (symlinks never followed out, size limits), [`Snapshot::tree_id`] of any
//!   path, [`Snapshot::changed_paths`] between two commits.
//! - [`GitRepository`] reconciles a Flux `GitRepository` spec into an [`Artifact`]
//!   and Flux's status conditions, keeping the last good artifact on failure.
//! - [`webhook::router`] receives GitHub, GitLab, Gitea, Bitbucket and generic pushes
//!   and triggers an immediate check of the repository.
//!
//! Network I/O speaks smart HTTP in process, or runs the git CLI for other transports
//! (async, with a hard timeout); objects are read with
//! gix (blocking: call [`Snapshot`] methods from `spawn_blocking` in async code).
#![deny(missing_docs)]

mod credentials;
pub mod egress;
pub mod forge;
mod git;
pub mod gitea;
pub mod github;
pub mod github_app;
pub mod gitlab;
pub mod helm_repo;
mod ignore;
mod mirror;
pub mod oci;
pub mod outbound;
mod pktline;
mod redirect;
mod refs;
mod repository;
mod semver;
mod smart_http;
mod snapshot;
mod tls;
mod url;
mod verify;
pub mod webhook;

pub use crate::credentials::{Access, Credentials, SecretError, access_fingerprint};
pub use crate::git::GitError;
pub use crate::ignore::{IGNORE_FILE, IgnoreError, IgnoreRules};
pub use crate::mirror::{
    CacheOptions, Checkout, Error, GcOptions, GcReport, LAST_USED_FILE, MirrorCache, Request,
    Stats, TagObject,
};
pub use crate::refs::{
    AdvertisedRef, GitRef, RefError, Reference, Resolved, parse_ls_remote, resolve, revision,
};
pub use crate::repository::{
    Action, Artifact, Condition, GitRepository, GitRepositorySpec, GitRepositoryStatus, Include,
    LocalReference, Verification, parse_duration,
};
pub use crate::semver::{Constraint, ConstraintError, Version};
pub use crate::snapshot::{Entry, EntryKind, File, ReadLimits, Snapshot, SnapshotError};
pub use crate::tls::{ClientCertificate, ServerTrust, Tls, TlsError};
pub use crate::url::{GitUrl, Rewrite, Scheme, UrlError, redact_str, rewrite};
pub use crate::verify::{
    Failure, GitObject, SignedObject, TrustedKeys, VerifyError, split_signed_commit,
    split_signed_tag, verify_object,
};

/// sha256 of `bytes`, lowercase hex (how indexes and registries write digests).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

/// `bytes` in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
