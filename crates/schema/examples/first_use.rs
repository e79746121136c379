//! Times the first use of the built-in catalog in a fresh process: what a short-lived
//! `flotilla render kustomize` pays before its first strategic merge patch.
//!
//! ```text
//! cargo run --release -p flotilla-schema --example first_use
//! ```
//!
//! Prints microseconds for `builtin()` and for the first lookups and navigation after
//! it. Run it many times (each run is one cold start); see docs/decisions.md.

use std::time::Instant;

fn main() {
    let start = Instant::now();
    let catalog = flotilla_schema::builtin();
    let loaded = start.elapsed();

    // What a strategic merge patch of a Deployment's containers touches.
    let deployment = catalog.kind("apps", "v1", "Deployment");
    let containers = deployment
        .and_then(|d| d.property("spec"))
        .and_then(|s| s.property("template"))
        .and_then(|t| t.property("spec"))
        .and_then(|s| s.property("containers"))
        .and_then(|c| c.items());
    let service = catalog.kind("", "v1", "Service");
    let total = start.elapsed();

    let found = containers.is_some() && service.is_some();
    println!(
        "builtin {} us, builtin + lookups {} us (found: {found})",
        loaded.as_micros(),
        total.as_micros()
    );
}
