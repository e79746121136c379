//! Argo CD's repository credentials: Secrets labelled
//! `argocd.argoproj.io/secret-type: repository` (one repository, matched by its
//! normalised URL) and `repo-creds` (a template for every repository whose normalised
//! URL starts with its `url`, the longest prefix winning), as Argo CD's `GetRepository`
//! resolves them: a repository Secret without credentials inherits the template's.
//! HTTPS `username`/`password` and `bearerToken`, `sshPrivateKey` checked against the
//! known hosts of `argocd-ssh-known-hosts-cm`, GitHub App credentials (`githubAppID`,
//! `githubAppInstallationID`, `githubAppPrivateKey`, `githubAppEnterpriseBaseUrl`: an
//! installation token used as the `x-access-token` user's password, as Argo CD's
//! `GitHubAppCreds`, bought when the Secrets are read and again every half hour), a TLS
//! client certificate (`tlsClientCertData`, `tlsClientCertKey`), a repository's own
//! `insecure` (its server's certificate not verified), and for Helm charts `enableOCI`
//! and `insecureOCIForceHttp`.

use std::sync::{Arc, RwLock};

use flotilla_source::{ClientCertificate, Credentials};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};

/// The label selector of the Secrets read here.
pub const REPO_SECRET_SELECTOR: &str = "argocd.argoproj.io/secret-type in (repository,repo-creds)";

/// The ConfigMap of Argo CD's SSH known hosts, and its key.
const KNOWN_HOSTS_CONFIG_MAP: (&str, &str) = ("argocd-ssh-known-hosts-cm", "ssh_known_hosts");

/// How Argo CD reaches a repository: its credentials, the client certificate its HTTPS
/// server may ask for, whether that server is verified, and for Helm charts whether it
/// is an OCI registry spoken to over plain HTTP.
#[derive(Debug, Clone, Default)]
pub struct RepoAccess {
    /// What requests authenticate with.
    pub credentials: Credentials,
    /// `tlsClientCertData` and `tlsClientCertKey`, presented when an HTTPS server asks;
    /// `Err` names a pair that cannot be read, and fetches from the repository fail
    /// with it (Argo CD logs it and presents none, so the server's refusal is all one
    /// sees).
    pub client_certificate: Option<Result<ClientCertificate, String>>,
    /// `insecure`: the server's certificate (an SSH server's host key) is not verified.
    /// A repository Secret's own setting, which templates do not give (Argo CD's
    /// `CopyCredentialsFrom`).
    pub insecure: bool,
    /// `insecureIgnoreHostKey` (deprecated): the same for Git repositories only, as
    /// Argo CD's `IsInsecure` counts it for Git and not for Helm. The repository
    /// Secret's own.
    pub insecure_ignore_host_key: bool,
    /// `enableOCI` (or `type: oci`): charts are pulled from a registry.
    pub enable_oci: bool,
    /// `insecureOCIForceHttp`: the registry is spoken to over `http://` (and a Git
    /// server's certificate is not verified, [`RepoAccess::is_insecure_for_git`]).
    pub insecure_oci_force_http: bool,
}

/// One Secret's URL and what it grants.
#[derive(Clone)]
struct RepoSecret {
    /// `url`, normalised.
    url: String,
    access: RepoAccess,
    /// The GitHub App whose installation token is the password, if the Secret names one.
    app: Option<flotilla_source::github_app::GitHubApp>,
    /// `project`: the AppProject whose Applications alone this Secret serves (a
    /// project-scoped repository), else `None`.
    project: Option<String>,
}

/// The repository credentials Argo CD would use, by repository URL.
#[derive(Clone, Default)]
pub struct RepoCredentials {
    repositories: Vec<RepoSecret>,
    templates: Vec<RepoSecret>,
}

/// Argo CD's `NormalizeGitURL` for comparing URLs: trimmed, lower case, without a
/// trailing `/` or `.git`.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim().to_lowercase();
    let url = url.trim_end_matches('/');
    url.strip_suffix(".git").unwrap_or(url).to_string()
}

impl RepoCredentials {
    /// The credentials of `secrets` (repository and repo-creds Secrets), SSH keys
    /// trusting `known_hosts`. Secrets scoped to a project (`project`) are left out:
    /// they may serve only that project's Applications. A Secret without a `url` is
    /// named in the returned warnings.
    pub fn from_secrets(secrets: &[Secret], known_hosts: &str) -> (RepoCredentials, Vec<String>) {
        let mut out = RepoCredentials::default();
        let mut warnings = Vec::new();
        for secret in secrets {
            let name = secret.metadata.name.clone().unwrap_or_default();
            let kind = secret
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("argocd.argoproj.io/secret-type"))
                .map(String::as_str);
            let data = secret.data.clone().unwrap_or_default();
            let field = |key: &str| {
                data.get(key)
                    .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            let project = field("project");
            if project.is_some() && kind == Some("repo-creds") {
                // Argo CD scopes repositories to projects; its templates apply to all.
                warnings.push(format!(
                    "repository credentials Secret {name} names a project: templates are not scoped, it is not used"
                ));
                continue;
            }
            let Some(url) = field("url") else {
                warnings.push(format!("repository Secret {name} has no url"));
                continue;
            };
            let app = match flotilla_source::github_app::GitHubApp::from_secret_data(
                data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice())),
            ) {
                Ok(app) => app,
                Err(e) => {
                    warnings.push(format!("repository Secret {name}: {e}"));
                    continue;
                }
            };
            let credentials = if app.is_some() {
                // The installation token comes with `resolve_github_apps`.
                Credentials::None
            } else if let Some(identity) = field("sshPrivateKey") {
                Credentials::Ssh {
                    identity: format!("{identity}\n"),
                    known_hosts: known_hosts.to_string(),
                }
            } else if let Some(token) = field("bearerToken") {
                Credentials::Bearer { token }
            } else if let Some(password) = field("password") {
                Credentials::Basic {
                    username: field("username").unwrap_or_default(),
                    password,
                }
            } else {
                Credentials::None
            };
            let mut flag = |key: &str| match field(key).as_deref().map(parse_bool) {
                None => false,
                Some(Some(value)) => value,
                Some(None) => {
                    warnings.push(format!(
                        "repository Secret {name}: {key} is not a boolean (true, false, 1, 0, t, f)"
                    ));
                    false
                }
            };
            let enable_oci = flag("enableOCI") || field("type").as_deref() == Some("oci");
            let insecure_oci_force_http = flag("insecureOCIForceHttp");
            let own = kind != Some("repo-creds");
            let insecure = own && flag("insecure");
            let insecure_ignore_host_key = own && flag("insecureIgnoreHostKey");
            // Read raw: a PEM's line breaks are part of it.
            let raw = |key: &str| data.get(key).map(|v| v.0.clone()).filter(|v| !v.is_empty());
            let client_certificate =
                client_certificate(&name, raw("tlsClientCertData"), raw("tlsClientCertKey"));
            let entry = RepoSecret {
                url: normalize_url(&url),
                access: RepoAccess {
                    credentials,
                    client_certificate,
                    insecure,
                    insecure_ignore_host_key,
                    enable_oci,
                    insecure_oci_force_http,
                },
                app,
                project,
            };
            match kind {
                Some("repo-creds") => out.templates.push(entry),
                _ => out.repositories.push(entry),
            }
        }
        (out, warnings)
    }

    /// Buys an installation token for every Secret naming a GitHub App and makes it the
    /// password of the `x-access-token` user (Argo CD's `GitHubAppCreds`); the
    /// installation is found from the organization in the Secret's URL when not named.
    /// A Secret whose token cannot be had keeps no credentials (and is named in the
    /// returned warnings, without the key or token).
    pub async fn resolve_github_apps(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        for entry in self
            .repositories
            .iter_mut()
            .chain(self.templates.iter_mut())
        {
            let Some(app) = &entry.app else { continue };
            let organization = entry
                .url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').nth(1))
                .unwrap_or_default()
                .to_string();
            match flotilla_source::github_app::installation_token(
                app,
                "",
                &organization,
                std::time::Duration::from_secs(30),
            )
            .await
            {
                Ok(token) => {
                    entry.access.credentials = Credentials::Basic {
                        username: "x-access-token".into(),
                        password: token,
                    }
                }
                Err(e) => warnings.push(format!(
                    "repository Secret for {}: GitHub App: {e}",
                    entry.url
                )),
            }
        }
        warnings
    }

    /// What a fetch of `url` authenticates with: its repository Secret's credentials,
    /// else (or when that Secret holds none) the longest-prefix template's, else none.
    pub fn lookup(&self, url: &str) -> Credentials {
        self.access(url).credentials
    }

    /// The repositories scoped to `project` (Argo CD's `GetProjectRepositories`), which
    /// its Applications may use as if its `sourceRepos` named them.
    pub fn project_repositories(&self, project: &str) -> Vec<String> {
        self.repositories
            .iter()
            .filter(|r| r.project.as_deref() == Some(project))
            .map(|r| r.url.clone())
            .collect()
    }

    /// [`access`](Self::access) for an Application of `project`: a repository Secret
    /// scoped to that project comes before an unscoped one (Argo CD's
    /// `getRepositorySecret`); a Secret scoped to another project is never used.
    pub fn access_in(&self, url: &str, project: Option<&str>) -> RepoAccess {
        let wanted = normalize_url(url);
        let scoped = project.and_then(|p| {
            self.repositories
                .iter()
                .find(|r| r.url == wanted && r.project.as_deref() == Some(p))
        });
        let own = scoped.or_else(|| {
            self.repositories
                .iter()
                .find(|r| r.url == wanted && r.project.is_none())
        });
        self.access_with(&wanted, own)
    }

    /// How `url` is reached, as Argo CD's `GetRepository` resolves it: its repository
    /// Secret when that holds credentials (a client certificate counts); otherwise the
    /// longest-prefix template's credentials, client certificate and OCI settings
    /// (`CopyCredentialsFrom` takes them) with the repository Secret's own `insecure`;
    /// otherwise the repository Secret's settings, or none.
    pub fn access(&self, url: &str) -> RepoAccess {
        self.access_in(url, None)
    }

    /// What `own` (the repository Secret chosen for `wanted`, if any) grants, completed
    /// from the longest-prefix template.
    fn access_with(&self, wanted: &str, own: Option<&RepoSecret>) -> RepoAccess {
        if let Some(own) = own.filter(|r| r.access.has_credentials()) {
            return own.access.clone();
        }
        let template = self
            .templates
            .iter()
            .filter(|t| wanted.starts_with(&t.url))
            .max_by_key(|t| t.url.len());
        match (template, own) {
            (Some(template), own) => RepoAccess {
                insecure: own.is_some_and(|own| own.access.insecure),
                insecure_ignore_host_key: own
                    .is_some_and(|own| own.access.insecure_ignore_host_key),
                ..template.access.clone()
            },
            (None, Some(own)) => own.access.clone(),
            (None, None) => RepoAccess::default(),
        }
    }
}

impl RepoAccess {
    /// Argo CD's `HasCredentials` for what is read here: a repository Secret with any
    /// of them does not inherit a template's.
    fn has_credentials(&self) -> bool {
        !matches!(self.credentials, Credentials::None) || self.client_certificate.is_some()
    }

    /// Argo CD's `IsInsecure`, which its Git clients are given: `insecure`,
    /// `insecureIgnoreHostKey` or `insecureOCIForceHttp` (the last inherited from a
    /// template, as `CopyCredentialsFrom` copies it).
    pub fn is_insecure_for_git(&self) -> bool {
        self.insecure || self.insecure_ignore_host_key || self.insecure_oci_force_http
    }
}

/// A Secret's `tlsClientCertData` and `tlsClientCertKey`: the pair, or why it cannot be
/// read, naming the Secret and never the key. One without the other is refused too,
/// where Argo CD presents nothing and leaves the server's refusal to explain it.
fn client_certificate(
    secret: &str,
    certificate: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
) -> Option<Result<ClientCertificate, String>> {
    let origin = format!("repository Secret {secret}");
    Some(match (certificate, key) {
        (None, None) => return None,
        (Some(certificate), Some(key)) => ClientCertificate::new(
            certificate,
            key,
            &format!("{origin}: tlsClientCertData and tlsClientCertKey"),
        )
        .map_err(|e| e.to_string()),
        (Some(_), None) => Err(format!(
            "{origin}: tlsClientCertData is set but tlsClientCertKey is missing"
        )),
        (None, Some(_)) => Err(format!(
            "{origin}: tlsClientCertKey is set but tlsClientCertData is missing"
        )),
    })
}

/// Go's `strconv.ParseBool`, which Argo CD reads these flags with.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Reads the repository Secrets and the SSH known hosts of `namespace`.
pub async fn load(hub: &kube::Client, namespace: &str) -> Result<RepoCredentials, kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), namespace);
    let listed = secrets
        .list(&ListParams::default().labels(REPO_SECRET_SELECTOR))
        .await?;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.clone(), namespace);
    let known_hosts = config_maps
        .get_opt(KNOWN_HOSTS_CONFIG_MAP.0)
        .await?
        .and_then(|c| c.data)
        .and_then(|d| d.get(KNOWN_HOSTS_CONFIG_MAP.1).cloned())
        .unwrap_or_default();
    let (mut credentials, mut warnings) =
        RepoCredentials::from_secrets(&listed.items, &known_hosts);
    warnings.extend(credentials.resolve_github_apps().await);
    for warning in warnings {
        tracing::warn!(%warning, "unusable repository Secret");
    }
    Ok(credentials)
}

/// How often the Secrets are read again without a change, so GitHub App installation
/// tokens (valid an hour) are renewed before they expire.
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Keeps `store` equal to the repository Secrets of `namespace` (reloaded on every
/// change the watch shows, and every half hour).
pub async fn run(hub: kube::Client, namespace: String, store: Arc<RwLock<RepoCredentials>>) {
    use futures::StreamExt as _;
    let mut changes = std::pin::pin!(crate::controller::secret_changes(
        hub.clone(),
        &namespace,
        REPO_SECRET_SELECTOR
    ));
    let mut renew = tokio::time::interval(RELOAD_EVERY);
    renew.tick().await;
    loop {
        tokio::select! {
            change = changes.next() => if change.is_none() { break },
            _ = renew.tick() => {}
        }
        match load(&hub, &namespace).await {
            Ok(loaded) => *store.write().unwrap_or_else(|e| e.into_inner()) = loaded,
            Err(e) => tracing::warn!(error = %e, "reading repository Secrets"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(name: &str, kind: &str, data: &[(&str, &str)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.metadata.labels = Some(
            [(
                "argocd.argoproj.io/secret-type".to_string(),
                kind.to_string(),
            )]
            .into(),
        );
        s.data = Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        s
    }

    fn user(c: &Credentials) -> String {
        match c {
            Credentials::Basic { username, .. } => username.clone(),
            Credentials::Bearer { .. } => "bearer".into(),
            Credentials::Ssh { .. } => "ssh".into(),
            Credentials::None => "none".into(),
        }
    }

    /// Argo CD's `HasCredentials` counts a client certificate, so a repository Secret
    /// holding one keeps it rather than inheriting a template's; `insecure` is the
    /// repository Secret's own and never a template's (`CopyCredentialsFrom`).
    #[test]
    fn client_certificates_count_as_credentials_and_insecure_is_never_inherited() {
        let authority = kubesim::tls::Authority::generate(None).unwrap();
        let (certificate, key) = authority.client_certificate("argocd").unwrap();
        let (_, other_key) = authority.client_certificate("other").unwrap();
        let pair = [
            ("tlsClientCertData", certificate.as_str()),
            ("tlsClientCertKey", key.as_str()),
        ];
        fn with<'a>(
            extra: &[(&'a str, &'a str)],
            more: &[(&'a str, &'a str)],
        ) -> Vec<(&'a str, &'a str)> {
            [extra, more].concat()
        }
        let secrets = [
            secret(
                "template",
                "repo-creds",
                &with(
                    &[("url", "https://git.example.com/"), ("insecure", "true")],
                    &[("password", "p"), ("username", "u")],
                ),
            ),
            secret(
                "forced-http",
                "repo-creds",
                &[
                    ("url", "https://git.example.com/forced"),
                    ("insecureOCIForceHttp", "true"),
                    ("username", "u"),
                    ("password", "p"),
                ],
            ),
            secret(
                "own-cert",
                "repository",
                &with(&[("url", "https://git.example.com/a")], &pair),
            ),
            secret(
                "inherits",
                "repository",
                &[
                    ("url", "https://git.example.com/b"),
                    ("insecure", "true"),
                    ("insecureIgnoreHostKey", "true"),
                ],
            ),
            secret(
                "half",
                "repository",
                &with(&[("url", "https://git.example.com/c")], &pair[..1]),
            ),
            secret(
                "mismatched",
                "repository",
                &with(
                    &[("url", "https://git.example.com/d")],
                    &[
                        ("tlsClientCertData", certificate.as_str()),
                        ("tlsClientCertKey", other_key.as_str()),
                    ],
                ),
            ),
        ];
        let (credentials, warnings) = RepoCredentials::from_secrets(&secrets, "");
        assert!(warnings.is_empty(), "{warnings:?}");

        let own = credentials.access("https://git.example.com/a");
        assert_eq!(user(&own.credentials), "none");
        assert!(matches!(own.client_certificate, Some(Ok(_))));
        assert!(!own.insecure);
        assert!(!format!("{own:?}").contains("PRIVATE KEY"));

        let inherits = credentials.access("https://git.example.com/b");
        assert_eq!(user(&inherits.credentials), "u");
        assert!(inherits.insecure, "the repository Secret's own insecure");
        assert!(inherits.insecure_ignore_host_key);
        assert!(inherits.is_insecure_for_git());
        let templated = credentials.access("https://git.example.com/z");
        assert_eq!(user(&templated.credentials), "u");
        assert!(!templated.insecure, "a template's insecure is not read");
        assert!(!templated.insecure_ignore_host_key);
        assert!(!templated.is_insecure_for_git());
        assert!(!own.is_insecure_for_git());
        let forced = credentials.access("https://git.example.com/forced/x");
        assert!(
            !forced.insecure && forced.is_insecure_for_git(),
            "a template's insecureOCIForceHttp is copied and counts for Git"
        );

        let half = credentials.access("https://git.example.com/c");
        assert_eq!(
            half.client_certificate.unwrap().unwrap_err(),
            "repository Secret half: tlsClientCertData is set but tlsClientCertKey is missing"
        );
        let mismatched = credentials.access("https://git.example.com/d");
        let error = mismatched.client_certificate.unwrap().unwrap_err();

        assert_eq!(
            error,
            "repository Secret mismatched: tlsClientCertData and tlsClientCertKey: the private key does not match the certificate's public key"
        );
    }

    #[test]
    fn repositories_then_the_longest_template_as_argo_cd_resolves_them() {
        let secrets = [
            secret(
                "org",
                "repo-creds",
                &[
                    ("url", "https://git.example.com/org"),
                    ("username", "org-bot"),
                    ("password", "a"),
                ],
            ),
            secret(
                "team",
                "repo-creds",
                &[
                    ("url", "https://git.example.com/org/team"),
                    ("username", "team-bot"),
                    ("password", "b"),
                ],
            ),
            secret(
                "app",
                "repository",
                &[
                    ("url", "https://git.example.com/org/app.git"),
                    ("username", "app-bot"),
                    ("password", "c"),
                ],
            ),
            secret(
                "bare",
                "repository",
                &[("url", "https://git.example.com/org/team/bare")],
            ),
            secret(
                "scoped",
                "repository",
                &[
                    ("url", "https://git.example.com/org/secret"),
                    ("project", "p"),
                    ("username", "p-bot"),
                    ("password", "d"),
                ],
            ),
            secret(
                "ssh",
                "repo-creds",
                &[("url", "git@git.example.com:"), ("sshPrivateKey", "KEY")],
            ),
            secret(
                "token",
                "repository",
                &[
                    ("url", "https://bitbucket.example.com/r"),
                    ("bearerToken", "t"),
                ],
            ),
            secret("broken", "repository", &[("username", "x")]),
            secret(
                "registry",
                "repo-creds",
                &[
                    ("url", "registry.example.com/charts"),
                    ("username", "robot"),
                    ("password", "e"),
                    ("enableOCI", "true"),
                    ("insecureOCIForceHttp", "1"),
                ],
            ),
            secret(
                "listed",
                "repository",
                &[
                    ("url", "registry.example.com/charts/listed"),
                    ("enableOCI", "false"),
                ],
            ),
            secret(
                "typed",
                "repository",
                &[
                    ("url", "typed.example.com/charts"),
                    ("type", "oci"),
                    ("insecureOCIForceHttp", "yes"),
                ],
            ),
        ];
        let (creds, warnings) =
            RepoCredentials::from_secrets(&secrets, "git.example.com ssh-ed25519 AAAA");
        assert_eq!(
            warnings,
            [
                "repository Secret broken has no url",
                "repository Secret typed: insecureOCIForceHttp is not a boolean (true, false, 1, 0, t, f)"
            ]
        );
        let who = |url: &str| user(&creds.lookup(url));
        assert_eq!(
            who("https://GIT.example.com/org/app"),
            "app-bot",
            "the repository's own, normalised"
        );
        assert_eq!(who("https://git.example.com/org/other"), "org-bot");
        assert_eq!(
            who("https://git.example.com/org/team/svc.git"),
            "team-bot",
            "the longest prefix"
        );
        assert_eq!(
            who("https://git.example.com/org/team/bare"),
            "team-bot",
            "inherited"
        );
        assert_eq!(
            who("https://git.example.com/org/secret"),
            "org-bot",
            "a project's Secret is not used outside its project"
        );
        let in_project =
            |url: &str, project: &str| user(&creds.access_in(url, Some(project)).credentials);
        assert_eq!(
            in_project("https://git.example.com/org/secret.git", "p"),
            "p-bot",
            "Argo CD's getRepositorySecret: the project's own first"
        );
        assert_eq!(
            in_project("https://git.example.com/org/secret", "q"),
            "org-bot"
        );
        assert_eq!(
            in_project("https://git.example.com/org/app", "p"),
            "app-bot",
            "an unscoped Secret serves every project"
        );
        assert_eq!(
            creds.project_repositories("p"),
            ["https://git.example.com/org/secret"]
        );
        assert!(creds.project_repositories("q").is_empty());
        assert_eq!(who("git@git.example.com:org/x.git"), "ssh");
        assert_eq!(who("https://bitbucket.example.com/r"), "bearer");
        assert_eq!(who("https://elsewhere.example.com/r"), "none");
        let oci = |url: &str| {
            let access = creds.access(url);
            (
                user(&access.credentials),
                access.enable_oci,
                access.insecure_oci_force_http,
            )
        };
        assert_eq!(
            oci("registry.example.com/charts/web"),
            ("robot".into(), true, true)
        );
        assert_eq!(
            oci("registry.example.com/charts/listed"),
            ("robot".into(), true, true),
            "no credentials of its own: the template's, settings included"
        );
        assert_eq!(
            oci("typed.example.com/charts"),
            ("none".into(), true, false)
        );
        assert_eq!(
            oci("https://git.example.com/org/app"),
            ("app-bot".into(), false, false)
        );
        match creds.lookup("git@git.example.com:org/x.git") {
            Credentials::Ssh { known_hosts, .. } => {
                assert!(known_hosts.starts_with("git.example.com"))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A repo-creds Secret naming a GitHub App: its repositories are fetched as the
    /// `x-access-token` user with an installation token bought from the App API (the
    /// installation found from the URL's organization); a bad App id is named.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn github_app_credentials_become_an_installation_token_password() {
        let key = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "2048"])
            .output()
            .expect("openssl");
        assert!(key.status.success());
        let router = axum::Router::new()
            .route(
                "/orgs/acme/installation",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"id": 77})) }),
            )
            .route(
                "/app/installations/77/access_tokens",
                axum::routing::post(|| async {
                    (
                        axum::http::StatusCode::CREATED,
                        axum::Json(serde_json::json!({"token": "ghs_repo", "expires_at": "2099-01-01T00:00:00Z"})),
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let pem = String::from_utf8(key.stdout).unwrap();
        let secrets = [
            secret(
                "acme-app",
                "repo-creds",
                &[
                    ("url", "https://github.com/acme"),
                    ("githubAppID", "3"),
                    ("githubAppPrivateKey", &pem),
                    ("githubAppEnterpriseBaseUrl", &api),
                ],
            ),
            secret(
                "broken-app",
                "repo-creds",
                &[
                    ("url", "https://github.com/other"),
                    ("githubAppID", "x"),
                    ("githubAppPrivateKey", "k"),
                ],
            ),
        ];
        let (mut credentials, warnings) = RepoCredentials::from_secrets(&secrets, "");
        assert_eq!(
            warnings,
            ["repository Secret broken-app: failed to parse githubAppID \"x\": not an integer"]
        );
        assert!(credentials.resolve_github_apps().await.is_empty());
        match credentials.lookup("https://github.com/acme/app.git") {
            Credentials::Basic { username, password } => {
                assert_eq!(
                    (username.as_str(), password.as_str()),
                    ("x-access-token", "ghs_repo")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
