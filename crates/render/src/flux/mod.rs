//! What Flux's kustomize-controller does around a kustomize build: the kustomization
//! found or generated in `spec.path` with the spec's overlay ([`build`]), and the
//! post-build variable substitution language ([`envsubst`]).

mod build;
mod decrypt_sources;
pub mod envsubst;

pub use self::build::{
    BuildSpec, CommonMetadata, Decryption, DecryptionSecretRef, FluxBuildError, Image, Owner,
    Patch, PostBuild, Selector, Strictness, SubstituteReference, Variables, build, build_with_keys,
    decryption_disabled, variables,
};
