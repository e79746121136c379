//! `flotilla demo`: a hub and simulated clusters, local Git repositories with the seed's
//! app registry, Helm charts and Flux tenants. This module holds the parts that do not
//! need the hub controller: the repositories' contents and the Git server.

pub(crate) mod fixtures;
pub(crate) mod git_server;
