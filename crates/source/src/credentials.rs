//! Credentials resolved from a GitRepository's `secretRef`, with Flux's key names.
//!
//! No value of a credential is ever formatted by `Debug` or `Display`; every message
//! that could quote git's output is passed through [`Credentials::scrub`].

use std::collections::BTreeMap;

/// How to authenticate to a remote.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// Anonymous access.
    #[default]
    None,
    /// HTTP(S) basic authentication (`username`, `password`).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// HTTP(S) bearer token (`bearerToken`).
    Bearer {
        /// The token.
        token: String,
    },
    /// SSH private key and the known hosts it may connect to (`identity`,
    /// `known_hosts`, optional `password` for an encrypted key is not supported).
    Ssh {
        /// The private key in OpenSSH or PEM form.
        identity: String,
        /// Lines in `known_hosts` format; the host key must match one of them.
        known_hosts: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "Credentials::None",
            Credentials::Basic { .. } => "Credentials::Basic(<redacted>)",
            Credentials::Bearer { .. } => "Credentials::Bearer(<redacted>)",
            Credentials::Ssh { .. } => "Credentials::Ssh(<redacted>)",
        })
    }
}

/// How a remote is reached: who we are, and which servers we accept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Who we are.
    pub credentials: Credentials,
    /// Whom an HTTPS server must be, and the client certificate presented to it.
    pub tls: crate::tls::Tls,
}

/// A digest naming who reaches a remote and whom it trusts (empty for anonymous access
/// under the platform's roots): what a cache of what was fetched is keyed by, so that
/// nothing fetched as one is served to another.
pub fn access_fingerprint(credentials: &Credentials, tls: &crate::tls::Tls) -> String {
    match tls.fingerprint() {
        t if t.is_empty() => credentials.fingerprint(),
        t => format!("{}t{t}", credentials.fingerprint()),
    }
}

impl From<Credentials> for Access {
    fn from(credentials: Credentials) -> Access {
        Access {
            credentials,
            tls: crate::tls::Tls::default(),
        }
    }
}

impl Access {
    /// A GitRepository's `secretRef` as Flux's source-controller reads it: the
    /// credentials, and for HTTPS the CA bundle in `ca.crt` (else the deprecated
    /// `caFile`) trusted beside the platform's roots, as go-git adds it to the system
    /// pool, and the client certificate in `tls.crt` and `tls.key` (mutual TLS). A
    /// bundle or pair that cannot be read is refused by name. (Flux ignores the TLS
    /// fields of a Secret with an SSH `identity`.)
    pub fn from_flux_secret(
        secret: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Access, String> {
        let credentials = Credentials::from_secret_data(secret, data).map_err(|e| e.to_string())?;
        let client = if data.contains_key("identity") {
            None
        } else {
            crate::tls::ClientCertificate::flux(data, secret, false).map_err(|e| e.to_string())?
        };
        let server =
            crate::tls::ServerTrust::flux_ca(data, |key| format!("secret {secret}: field {key:?}"))
                .map_err(|e| e.to_string())?;
        Ok(Access {
            credentials,
            tls: crate::tls::Tls { server, client },
        })
    }
}

/// A Secret's data could not be turned into credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// `username` without `password` or the other way round.
    #[error("secret {secret}: field {present:?} is set but {missing:?} is missing")]
    Incomplete {
        /// The Secret's name.
        secret: String,
        /// The field that is there.
        present: &'static str,
        /// The field that is not.
        missing: &'static str,
    },
    /// A field is not UTF-8.
    #[error("secret {secret}: field {field:?} is not valid UTF-8")]
    NotText {
        /// The Secret's name.
        secret: String,
        /// The field.
        field: String,
    },
}

impl Credentials {
    /// Reads a Secret's `data` the way Flux's source-controller does: `bearerToken`,
    /// else `username` + `password`, else `identity` + `known_hosts`; nothing → anonymous.
    pub fn from_secret_data(
        secret: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Credentials, SecretError> {
        let text = |field: &str| -> Result<Option<String>, SecretError> {
            data.get(field)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| SecretError::NotText {
                        secret: secret.to_string(),
                        field: field.to_string(),
                    })
                })
                .transpose()
        };
        if let Some(token) = text("bearerToken")? {
            return Ok(Credentials::Bearer { token });
        }
        match (text("username")?, text("password")?) {
            (Some(username), Some(password)) => {
                return Ok(Credentials::Basic { username, password });
            }
            (Some(_), None) if text("identity")?.is_none() => {
                return Err(SecretError::Incomplete {
                    secret: secret.to_string(),
                    present: "username",
                    missing: "password",
                });
            }
            _ => {}
        }
        match (text("identity")?, text("known_hosts")?) {
            (Some(identity), Some(known_hosts)) => Ok(Credentials::Ssh {
                identity,
                known_hosts,
            }),
            (Some(_), None) => Err(SecretError::Incomplete {
                secret: secret.to_string(),
                present: "identity",
                missing: "known_hosts",
            }),
            _ => Ok(Credentials::None),
        }
    }

    /// The secret strings this value holds (for scrubbing), longest first so that
    /// a secret containing another is replaced whole.
    fn secrets(&self) -> Vec<String> {
        let mut out = match self {
            Credentials::None => vec![],
            Credentials::Basic { password, .. } => {
                vec![
                    password.clone(),
                    basic_header_value(self).unwrap_or_default(),
                ]
            }
            Credentials::Bearer { token } => vec![token.clone()],
            Credentials::Ssh { identity, .. } => vec![identity.clone()],
        };
        out.retain(|s| s.len() >= 3);
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out
    }

    /// `text` with every secret of these credentials replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = crate::url::redact_str(text);
        for secret in self.secrets() {
            text = text.replace(&secret, "***");
        }
        text
    }

    /// A short digest of these credentials (empty for none), for keying what was read
    /// with them: consumers with different credentials never share it (and so never
    /// read what only the other may see).
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let material = match self {
            Credentials::None => return String::new(),
            Credentials::Basic { username, password } => format!("basic\0{username}\0{password}"),
            Credentials::Bearer { token } => format!("bearer\0{token}"),
            Credentials::Ssh {
                identity,
                known_hosts,
            } => format!("ssh\0{identity}\0{known_hosts}"),
        };
        let d = sha2::Sha256::digest(material.as_bytes());
        crate::hex(&d[..6])
    }

    /// The `Authorization` header value for HTTP(S) requests, if these credentials
    /// give one.
    pub fn http_authorization(&self) -> Option<String> {
        match self {
            Credentials::Basic { .. } => basic_header_value(self).map(|v| format!("Basic {v}")),
            Credentials::Bearer { token } => Some(format!("Bearer {token}")),
            _ => None,
        }
    }
}

fn basic_header_value(c: &Credentials) -> Option<String> {
    use base64::Engine as _;
    match c {
        Credentials::Basic { username, password } => {
            Some(base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn flux_secret_keys() {
        assert_eq!(
            Credentials::from_secret_data("s", &data(&[("username", "u"), ("password", "p")])),
            Ok(Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            Credentials::from_secret_data("s", &data(&[("bearerToken", "t")])),
            Ok(Credentials::Bearer { token: "t".into() })
        );
        assert!(matches!(
            Credentials::from_secret_data("s", &data(&[("identity", "k")])),
            Err(SecretError::Incomplete {
                missing: "known_hosts",
                ..
            })
        ));
        assert!(matches!(
            Credentials::from_secret_data("s", &data(&[("username", "u")])),
            Err(SecretError::Incomplete {
                missing: "password",
                ..
            })
        ));
        assert_eq!(
            Credentials::from_secret_data("s", &data(&[])),
            Ok(Credentials::None)
        );
    }

    #[test]
    fn debug_and_scrub_never_show_secrets() {
        let c = Credentials::Basic {
            username: "bob".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let header = c.http_authorization().unwrap();
        let scrubbed = c.scrub(&format!(
            "error hunter2 and {header} at https://bob:hunter2@h/x"
        ));
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert!(
            !scrubbed.contains(header.trim_start_matches("Basic ")),
            "{scrubbed}"
        );
    }
}
