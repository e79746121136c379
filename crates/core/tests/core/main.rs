//! Integration tests for flotilla-core, one module per public module.

mod labels;
