//! Argo CD's resources, read from the YAML users write.

pub mod application;
pub mod applicationset;
pub mod project;
pub mod sync_windows;
