//! One module per subcommand: clap arguments and a `run` that wires library crates.

pub(crate) mod app_state;
pub(crate) mod bench;
pub(crate) mod controller;
pub(crate) mod demo;
pub(crate) mod helm;
pub(crate) mod kubeseal;
pub(crate) mod render;
pub(crate) mod source;
pub(crate) mod sync;
pub(crate) mod template;
