//! `flotilla demo`: a hub and simulated clusters, local Git repositories with the seed's
//! app registry, Helm charts and Flux tenants, converged by the hub's controllers.

pub(crate) mod fixtures;
pub(crate) mod git_server;
pub(crate) mod run;
