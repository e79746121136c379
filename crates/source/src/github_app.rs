//! GitHub App credentials, as Argo CD uses them through ghinstallation: a JWT signed
//! with the App's private key (RS256; issued 30 s in the past, valid two minutes, the
//! App id as issuer) buys an installation access token from
//! `POST {api}/app/installations/{id}/access_tokens`; without an installation id the
//! installation is found first from `GET {api}/orgs/{org}/installation`. Tokens are
//! kept until a minute before they expire. Every call goes through the process's HTTP
//! client and so its egress policy; no error carries the key, the JWT or the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// A GitHub App's credentials (Argo CD's repo-creds keys `githubAppID`,
/// `githubAppInstallationID`, `githubAppPrivateKey`, `githubAppEnterpriseBaseUrl`).
#[derive(Clone, PartialEq, Eq)]
pub struct GitHubApp {
    /// The App's id.
    pub id: i64,
    /// The installation's id (0: found from the organization).
    pub installation_id: i64,
    /// The PEM private key (PKCS#1 or PKCS#8).
    pub private_key: String,
    /// The GitHub Enterprise API URL, if not github.com.
    pub enterprise_base_url: String,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("id", &self.id)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

impl GitHubApp {
    /// The App of a Secret's data, if it names one (`githubAppPrivateKey` set): Argo
    /// CD's words when the ids do not parse.
    pub fn from_secret_data<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Option<GitHubApp>, String> {
        let data: HashMap<&str, String> = data
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(v).trim().to_string()))
            .collect();
        let text = |k: &str| data.get(k).cloned().unwrap_or_default();
        if text("githubAppPrivateKey").is_empty() {
            return Ok(None);
        }
        let id = |k: &str| -> Result<i64, String> {
            match text(k).as_str() {
                "" => Ok(0),
                t => t
                    .parse()
                    .map_err(|_| format!("failed to parse {k} {t:?}: not an integer")),
            }
        };
        Ok(Some(GitHubApp {
            id: id("githubAppID")?,
            installation_id: id("githubAppInstallationID")?,
            private_key: data.get("githubAppPrivateKey").cloned().unwrap_or_default(),
            enterprise_base_url: text("githubAppEnterpriseBaseUrl"),
        }))
    }

    /// The App's JWT at `now` (seconds since the epoch), signed RS256.
    pub fn jwt(&self, now: u64) -> Result<String, String> {
        let key = signing_key(&self.private_key)?;
        let issued = now.saturating_sub(30);
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let header = encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = encode(
            serde_json::json!({"iat": issued, "exp": issued + 120, "iss": self.id.to_string()})
                .to_string()
                .as_bytes(),
        );
        let signed = format!("{header}.{claims}");
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .map_err(|_| "could not sign the GitHub App JWT".to_string())?;
        Ok(format!("{signed}.{}", encode(&signature)))
    }
}

/// The RSA key of a PEM block (`RSA PRIVATE KEY` is PKCS#1, `PRIVATE KEY` PKCS#8).
fn signing_key(pem: &str) -> Result<aws_lc_rs::rsa::KeyPair, String> {
    // golang-jwt's words, which ghinstallation passes on.
    let invalid = || {
        "could not parse private key: Invalid Key: Key must be a PEM encoded PKCS1 or PKCS8 key"
            .to_string()
    };
    let body = |label: &str| -> Option<Vec<u8>> {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = pem.find(&begin)? + begin.len();
        let stop = pem[start..].find(&end)? + start;
        let text: String = pem[start..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    };
    if let Some(der) = body("RSA PRIVATE KEY") {
        return aws_lc_rs::rsa::KeyPair::from_der(&der).map_err(|_| invalid());
    }
    if let Some(der) = body("PRIVATE KEY") {
        return aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).map_err(|_| invalid());
    }
    Err(invalid())
}

/// Which token: the App, the installation, the API.
type TokenKey = (i64, i64, String);

/// Installation tokens kept by App, installation and API, with their expiry.
static TOKENS: Mutex<Option<HashMap<TokenKey, (String, SystemTime)>>> = Mutex::new(None);

/// How long before its expiry a token is renewed (ghinstallation's margin).
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// An installation token for `app` at the API `api` (`https://api.github.com` when
/// empty and the App names no Enterprise URL), the installation found in `org` when the
/// App does not name it.
pub async fn installation_token(
    app: &GitHubApp,
    api: &str,
    org: &str,
    timeout: Duration,
) -> Result<String, String> {
    let base = match (api, app.enterprise_base_url.as_str()) {
        ("", "") => "https://api.github.com".to_string(),
        ("", enterprise) => enterprise.trim_end_matches('/').to_string(),
        (api, _) => api.trim_end_matches('/').to_string(),
    };
    let now = SystemTime::now();
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let jwt = app.jwt(seconds)?;
    let installation = match app.installation_id {
        0 => discover_installation(&base, org, &jwt, timeout).await?,
        id => id,
    };
    let cache_key = (app.id, installation, base.clone());
    if let Some((token, expires)) = TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&cache_key)
        && now + RENEW_BEFORE < *expires
    {
        return Ok(token.clone());
    }
    let url = format!("{base}/app/installations/{installation}/access_tokens");
    let (status, body) = crate::outbound::post_json(crate::outbound::Post {
        url: &url,
        token: Some(&jwt),
        user_agent: "flotilla",
        body: b"{}",
        timeout,
        limit: 64 * 1024,
    })
    .await
    .map_err(|e| format!("could not refresh installation id {installation}'s token: {e}"))?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "could not refresh installation id {installation}'s token: received non 2xx response status {status} when fetching {url}"
        ));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        token: String,
        expires_at: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| format!("could not refresh installation id {installation}'s token: {e}"))?;
    let expires = answer
        .expires_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64))
        .unwrap_or(now + Duration::from_secs(3600));
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(cache_key, (answer.token.clone(), expires));
    Ok(answer.token)
}

/// The App's installation in `org` (`GET {base}/orgs/{org}/installation`).
async fn discover_installation(
    base: &str,
    org: &str,
    jwt: &str,
    timeout: Duration,
) -> Result<i64, String> {
    if org.is_empty() || !crate::forge::is_name(org) {
        return Err(format!(
            "cannot discover the GitHub App installation: organization {org:?} is not a name"
        ));
    }
    #[derive(serde::Deserialize)]
    struct Installation {
        id: i64,
    }
    let url = format!("{base}/orgs/{org}/installation");
    let authorization = format!("Bearer {jwt}");
    let what = format!("failed to discover the GitHub App installation of {org}");
    let work = crate::forge::json::<Installation>(&url, &[], Some(&authorization), &what);
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((installation, _))) => Ok(installation.id),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("{what}: no answer within {timeout:?}")),
    }
}
