//! One module per subcommand: clap arguments and a `run` that wires library crates.

pub(crate) mod render;
pub(crate) mod template;
