//! Argo CD's resources, read from the YAML users write.

pub mod application;
pub mod applicationset;
pub mod orphans;
pub mod project;
pub mod sync_windows;
