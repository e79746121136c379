//! Flotilla's shared object model: the pieces every stage needs and that have
//! no I/O (label selectors first; object references and manifests follow).
#![deny(missing_docs)]

pub mod byte_fields;
pub mod glob;
pub mod gofmt;
pub mod jq;
pub mod labels;
pub mod pointer;
pub mod secret;

pub use labels::{Labels, Selector};
