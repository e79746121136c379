//! The library API as callers use it: parse once and execute many times, Go's error texts,
//! options, the Helm and Argo CD functions, safety limits, and properties of the
//! non-deterministic Sprig functions.

mod errors;
mod extras;
mod limits;
mod methods;
mod random;

use flotilla_template::{Functions, Template, Value};

/// Renders `text` with `funcs` over JSON `data`.
fn render(
    funcs: Functions,
    text: &str,
    data: serde_json::Value,
) -> Result<String, flotilla_template::Error> {
    Template::new("test")
        .functions(funcs)
        .parse(text)?
        .execute(&Value::from(&data))
}
