//! flotilla-schema's integration tests, one module per area of the crate.

mod catalog;
mod fields;
mod strategic;
mod supplement;
