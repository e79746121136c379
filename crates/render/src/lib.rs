//! Rendering: a read-only source tree in, Kubernetes objects out.
//!
//! Only [`kustomize`] exists so far: a native implementation of `kustomize build` (v5)
//! that reads from a [`kustomize::Tree`] (a directory on disk, or files held in memory,
//! such as a git tree) and never writes, spawns processes or touches the network.
//!
//! ```
//! use flotilla_render::kustomize::{self, MemTree};
//!
//! let tree = MemTree::from_files([
//!     ("app/kustomization.yaml", "namePrefix: dev-\nresources: [cm.yaml]\n"),
//!     ("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n"),
//! ]);
//! let objects = kustomize::build(&tree, "app").unwrap();
//! assert_eq!(objects[0]["metadata"]["name"], "dev-conf");
//! ```
#![deny(missing_docs)]

pub mod flux;
pub mod helm;
pub mod kustomize;
pub mod sops;
pub mod yaml_fast;
