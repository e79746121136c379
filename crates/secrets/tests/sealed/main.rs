//! Sealed Secrets, end to end through the public API: the conformance corpus, round trips
//! through every scope, tampering, templates, and key handling.

mod conformance;
mod keys;
mod reseal;
mod round_trip;
mod tampering;
mod templates;

use std::{sync::OnceLock, time::Duration};

use flotilla_secrets::ControllerKey;
use serde_json::{Value, json};

/// 2023-11-14T22:13:20Z, a fixed "now" for generated certificates.
const NOW: i64 = 1_700_000_000;

/// One 2048-bit key for the whole binary (generation is the slow part).
fn key() -> &'static ControllerKey {
    static KEY: OnceLock<ControllerKey> = OnceLock::new();
    KEY.get_or_init(|| new_key("sealed-secrets-controller"))
}

fn new_key(common_name: &str) -> ControllerKey {
    ControllerKey::generate(
        2048,
        common_name,
        NOW,
        Duration::from_secs(10 * 365 * 86_400),
    )
    .expect("a 2048-bit key generates")
}

/// A Secret with two items, one in `data` and one in `stringData`.
fn secret(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"}},
        "type": "Opaque",
        "data": {"db_password": "aHVudGVyMg=="},
        "stringData": {"api_token": "tok-123"},
    })
}
