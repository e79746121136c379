//! What Flux's kustomize-controller does around a kustomize build: the post-build
//! variable substitution language ([`envsubst`]).

pub mod envsubst;
