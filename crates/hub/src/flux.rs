//! Flux on the hub: GitRepository and Kustomization reconcilers (kustomize-controller's
//! and source-controller's semantics, status and multi-tenancy lockdown).
