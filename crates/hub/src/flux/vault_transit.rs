//! Asking HashiCorp Vault's transit engine for the data keys of SOPS files whose
//! `hc_vault` entries a Kustomization build met (kustomize-controller reads the token
//! from the decryption Secret's `sops.vault-token`; sops's `hcvault` key source makes
//! the call). Each request goes through the process's HTTP client and so its egress
//! policy — the address is the file author's choice — and no error carries the token.

use std::time::Duration;

use flotilla_render::sops::{VaultRequest, VaultTransit, data_key_from_answer};

/// The decryption Secret's key that holds the Vault token.
pub(crate) const VAULT_TOKEN_KEY: &str = "sops.vault-token";

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of an answer read (a data key is 32 bytes; Vault's errors are short).
const ANSWER_LIMIT: usize = 64 * 1024;

/// Asks Vault for each of `wanted` and records the answers in `vault`.
pub(crate) async fn answer(vault: &VaultTransit, wanted: Vec<VaultRequest>) {
    for request in wanted {
        let result = decrypt(vault.token(), &request).await.map_err(|why| {
            format!(
                "failed to decrypt sops data key from Vault transit backend '{}': {why}",
                request.path
            )
        });
        vault.answer(request, result);
    }
}

async fn decrypt(token: &str, request: &VaultRequest) -> Result<Vec<u8>, String> {
    let body = serde_json::json!({ "ciphertext": request.ciphertext }).to_string();
    let url = request.url();
    let (status, answer) = flotilla_source::outbound::post_json(flotilla_source::outbound::Post {
        url: &url,
        token: Some(token),
        user_agent: "flotilla-kustomize-controller",
        body: body.as_bytes(),
        timeout: TIMEOUT,
        limit: ANSWER_LIMIT,
    })
    .await?;
    if !(200..300).contains(&status) {
        // Vault's error answer: {"errors": ["…"]}, as its API client reports it.
        let errors = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("errors").cloned())
            .and_then(|e| e.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.as_str().map(|s| format!("* {s}")))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(format!(
            "Error making API request.\n\nURL: PUT {url}\nCode: {status}. Errors:\n\n{errors}"
        ));
    }
    data_key_from_answer(&answer)
}
