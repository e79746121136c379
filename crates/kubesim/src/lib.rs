//! kubesim: a Kubernetes API server simulator hosting many isolated clusters in
//! one process, faithful enough that kubectl and kube-rs cannot tell it from a
//! real cluster. It is Flotilla's test fleet and the embedded hub of the demo.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fleet = kubesim::Fleet::with_clusters(3);
//! let server = kubesim::Server::start(fleet, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("cluster-000 is at {}", server.cluster_url("cluster-000"));
//! # Ok(()) }
//! ```
//!
//! [`Server::start`] serves plain HTTP, where a request without a token acts as the admin;
//! [`Server::start_tls`] (what `kubesim serve` does unless `--insecure-http`) generates a CA,
//! writes it and each cluster's admin token into the kubeconfig, and holds every request to
//! [`auth`]: tokens, impersonation and RBAC from the cluster's own objects.
//!
//! Each cluster keeps a kine-style revision log ([`store`]); the verbs live on
//! [`Cluster`]; [`http`] maps requests onto them; [`controllers`] play the part
//! of kube-controller-manager (status, namespace lifecycle, garbage collection).
#![deny(missing_docs)]

pub mod audit;
pub mod auth;
pub mod cluster;
pub mod controllers;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod filter;
pub mod fleet;
pub mod http;
pub mod immutable;
pub mod listen;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod persist;
pub mod protobuf;
pub mod registry;
pub mod resources;
pub mod store;
pub mod table;
pub mod tls;
pub mod validation;
pub mod workloads;

pub use cluster::{Cluster, ClusterConfig};
pub use error::ApiError;
pub use fleet::{Fleet, FleetConfig, KubeVersion, ServeOptions, Server, default_names};
pub use http::router;
