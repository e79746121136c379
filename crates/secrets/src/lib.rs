//! Secrets the hub decrypts: Sealed Secrets (`bitnami.com/v1alpha1` SealedSecret) today;
//! SOPS decryption keys are planned here too.
//!
//! Sealed Secrets, as `bitnami-labs/sealed-secrets` defines them:
//!
//! * a [`ControllerKey`] is the controller's RSA key pair with its self-signed certificate
//!   (what upstream keeps as a `kubernetes.io/tls` Secret); its public half is a
//!   [`SealingKey`], which is what `kubeseal --cert` reads;
//! * [`hybrid_encrypt`] / [`hybrid_decrypt`] are upstream's value format: RSA-OAEP (SHA-256)
//!   of a one-time AES-256-GCM key, labelled by the [`Scope`];
//! * [`seal`] turns a Secret into the SealedSecret `kubeseal` writes, and [`unseal`] turns a
//!   SealedSecret into the Secret the controller creates; [`reseal`] seals a SealedSecret's
//!   items again with the newest key (the controller's `/v1/rotate`).
//!
//! Everything here is pure: no cluster, no clock (callers pass `now`), no environment.
//!
//! ```
//! use flotilla_secrets::{seal, unseal, ControllerKey, Scope};
//! use serde_json::json;
//! let key = ControllerKey::generate(2048, "sealed-secrets-controller", 1_700_000_000,
//!     std::time::Duration::from_secs(3600)).expect("key");
//! let secret = json!({"apiVersion": "v1", "kind": "Secret",
//!     "metadata": {"name": "db", "namespace": "web"}, "stringData": {"password": "s3cr3t"}});
//! let sealed = seal(&secret, &key.sealing_key(), Scope::Strict).expect("sealed");
//! let back = unseal(&sealed, &[key]).expect("unsealed");
//! assert_eq!(back["data"]["password"], "czNjcjN0");
//! ```
#![deny(missing_docs)]

pub mod sealed;

pub use crate::sealed::{
    ControllerKey, CryptoError, ItemError, ItemErrors, KeyError, Scope, SealError, SealingKey,
    UnsealError, hybrid_decrypt, hybrid_encrypt, reseal, seal, unseal,
};
