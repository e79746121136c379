//! Repository URLs: the forms git accepts, the normalised key that names a mirror, the
//! redacted form that may appear in messages, and `insteadOf`-style rewriting.
//!
//! Pure functions only; nothing here touches the network or the disk.

use sha2::{Digest, Sha256};

use crate::credentials::Credentials;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL is empty.
    #[error("repository URL is empty")]
    Empty,
    /// The scheme is not one git can fetch from here.
    #[error(
        "{url}: unsupported URL scheme {scheme:?} (want https, http, ssh, file or git@host:path)"
    )]
    UnsupportedScheme {
        /// The URL, without any secret.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// A URL without a host where one is needed.
    #[error("{url}: URL has no host")]
    NoHost {
        /// The URL, without any secret.
        url: String,
    },
    /// A URL without a repository path.
    #[error("{url}: URL has no repository path")]
    NoPath {
        /// The URL, without any secret.
        url: String,
    },
    /// Characters that git would read as options or that break the transport.
    #[error("{url}: URL contains a forbidden character or starts with '-'")]
    Forbidden {
        /// The URL, without any secret.
        url: String,
    },
}

/// The transport a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `https://`
    Https,
    /// `http://`
    Http,
    /// `ssh://` or scp-like `user@host:path`
    Ssh,
    /// `file://` or an absolute local path
    File,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
            Scheme::Ssh => "ssh",
            Scheme::File => "file",
        }
    }

    fn default_port(self) -> Option<u16> {
        match self {
            Scheme::Https => Some(443),
            Scheme::Http => Some(80),
            Scheme::Ssh => Some(22),
            Scheme::File => None,
        }
    }
}

/// A parsed repository URL. Any user name and password written into it are taken out
/// into [`GitUrl::embedded_credentials`], so the URL itself never carries a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct GitUrl {
    scheme: Scheme,
    /// User for ssh (`git` in `git@host:path`); never a password.
    ssh_user: Option<String>,
    host: String,
    port: Option<u16>,
    /// Path as written, starting with `/` (scp-like paths are made absolute-looking
    /// only for the key; [`GitUrl::to_git_arg`] keeps the scp form).
    path: String,
    scp_like: bool,
    embedded: Option<(String, String)>,
}

impl std::fmt::Debug for GitUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never show the embedded password, even in debug output.
        write!(f, "GitUrl({})", self.redacted())
    }
}

impl std::fmt::Display for GitUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl GitUrl {
    /// Parses the forms git accepts: `https://`, `http://`, `ssh://`, `file://`, an
    /// absolute local path, and scp-like `[user@]host:path`.
    pub fn parse(input: &str) -> Result<GitUrl, UrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(UrlError::Empty);
        }
        let shown = redact_str(input);
        if input.starts_with('-') || input.chars().any(|c| c.is_control() || c == ' ') {
            return Err(UrlError::Forbidden { url: shown });
        }
        if let Some((scheme, rest)) = input.split_once("://") {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                "ssh" | "git+ssh" | "ssh+git" => Scheme::Ssh,
                "file" => Scheme::File,
                other => {
                    return Err(UrlError::UnsupportedScheme {
                        url: shown,
                        scheme: other.to_string(),
                    });
                }
            };
            return parse_hierarchical(scheme, rest, &shown);
        }
        if input.starts_with('/') {
            return Ok(GitUrl {
                scheme: Scheme::File,
                ssh_user: None,
                host: String::new(),
                port: None,
                path: input.to_string(),
                scp_like: false,
                embedded: None,
            });
        }
        // scp-like: [user@]host:path, where the host part has no slash before the colon.
        if let Some((authority, path)) = input.split_once(':')
            && !authority.contains('/')
            && !authority.is_empty()
        {
            let (user, host) = match authority.rsplit_once('@') {
                Some((user, host)) => (Some(user.to_string()), host),
                None => (None, authority),
            };
            if host.is_empty() {
                return Err(UrlError::NoHost { url: shown });
            }
            if path.trim_matches('/').is_empty() {
                return Err(UrlError::NoPath { url: shown });
            }
            return Ok(GitUrl {
                scheme: Scheme::Ssh,
                ssh_user: user,
                host: host.to_ascii_lowercase(),
                port: None,
                path: path.to_string(),
                scp_like: true,
                embedded: None,
            });
        }
        Err(UrlError::UnsupportedScheme {
            url: shown,
            scheme: String::new(),
        })
    }

    /// The transport.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host (lower case), empty for local paths.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// User name and password that were written into the URL, if any.
    pub fn embedded_credentials(&self) -> Option<Credentials> {
        self.embedded.as_ref().map(|(u, p)| Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        })
    }

    /// The URL to hand to git: no password, ever (credentials travel in headers or
    /// key files). Keeps the scp-like form when it was written that way.
    pub fn to_git_arg(&self) -> String {
        if self.scp_like {
            let user = self
                .ssh_user
                .as_deref()
                .map(|u| format!("{u}@"))
                .unwrap_or_default();
            return format!("{user}{}:{}", self.host, self.path);
        }
        match self.scheme {
            Scheme::File => format!("file://{}", self.path),
            _ => {
                let user = match (&self.scheme, &self.ssh_user) {
                    (Scheme::Ssh, Some(u)) => format!("{u}@"),
                    _ => String::new(),
                };
                let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
                format!(
                    "{}://{user}{}{port}{}",
                    self.scheme.as_str(),
                    self.host,
                    self.path
                )
            }
        }
    }

    /// The URL as it may be shown in messages and logs: no password, no user name of
    /// an HTTP URL.
    pub fn redacted(&self) -> String {
        self.to_git_arg()
    }

    /// The normalised identity of the repository: scheme, lower-case host, explicit
    /// port only when not the default, path without trailing `/` or `.git`. Two URLs
    /// with the same key share one mirror.
    pub fn key(&self) -> String {
        let port = match self.port {
            Some(p) if Some(p) != self.scheme.default_port() => format!(":{p}"),
            _ => String::new(),
        };
        format!(
            "{}://{}{port}/{}",
            self.scheme.as_str(),
            self.host,
            self.repo_path()
        )
    }

    /// Host and repository path without scheme, user or `.git`: the same for the https
    /// and ssh URLs of one hosted repository (webhooks match pushes by this).
    pub fn identity(&self) -> String {
        format!("{}/{}", self.host, self.repo_path())
    }

    fn repo_path(&self) -> String {
        let mut path = self.path.trim_matches('/').to_string();
        if let Some(stripped) = path.strip_suffix(".git") {
            path = stripped.trim_end_matches('/').to_string();
        }
        path
    }

    /// A directory name for this repository's mirror: readable, unique per key, and
    /// free of characters that are special on a file system.
    pub fn mirror_dir_name(&self) -> String {
        let key = self.key();
        let digest = Sha256::digest(key.as_bytes());
        let hex = crate::hex(&digest[..8]);
        let readable: String = self
            .identity()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let readable: String = readable.trim_matches('.').chars().take(80).collect();
        format!("{readable}-{hex}.git")
    }
}

fn parse_hierarchical(scheme: Scheme, rest: &str, shown: &str) -> Result<GitUrl, UrlError> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if scheme == Scheme::File {
        // file:///abs/path or file://localhost/abs/path
        if !authority.is_empty() && authority != "localhost" {
            return Err(UrlError::UnsupportedScheme {
                url: shown.to_string(),
                scheme: "file (with a remote host)".to_string(),
            });
        }
        if path.trim_matches('/').is_empty() {
            return Err(UrlError::NoPath {
                url: shown.to_string(),
            });
        }
        return Ok(GitUrl {
            scheme,
            ssh_user: None,
            host: String::new(),
            port: None,
            path: path.to_string(),
            scp_like: false,
            embedded: None,
        });
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = split_port(hostport).ok_or_else(|| UrlError::NoHost {
        url: shown.to_string(),
    })?;
    if host.is_empty() {
        return Err(UrlError::NoHost {
            url: shown.to_string(),
        });
    }
    if path.trim_matches('/').is_empty() {
        return Err(UrlError::NoPath {
            url: shown.to_string(),
        });
    }
    let (mut ssh_user, mut embedded) = (None, None);
    if let Some(info) = userinfo {
        let (user, password) = match info.split_once(':') {
            Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
            None => (percent_decode(info), None),
        };
        match scheme {
            Scheme::Ssh => ssh_user = Some(user),
            _ => embedded = Some((user, password.unwrap_or_default())),
        }
    }
    Ok(GitUrl {
        scheme,
        ssh_user,
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_string(),
        scp_like: false,
        embedded,
    })
}

/// `host[:port]` or `[v6]:port`; `None` when the port is not a number.
fn split_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        let host = &hostport[..=end];
        return match &hostport[end + 1..] {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, "")) => Some((h, None)),
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((hostport, None)),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the user information (`user:password@`) from anything that looks like a
/// URL inside `text`. Used on every message that quotes a URL the user typed.
pub fn redact_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One `url.<base>.insteadOf = <prefix>` rule: a URL starting with `prefix` is fetched
/// from `base` followed by the rest of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// What the URL is fetched from instead.
    pub base: String,
    /// The prefix a URL must start with.
    pub instead_of: String,
}

/// Applies git's rule: of all matching prefixes, the longest wins; no match leaves the
/// URL alone.
pub fn rewrite(url: &str, rules: &[Rewrite]) -> String {
    rules
        .iter()
        .filter(|r| !r.instead_of.is_empty() && url.starts_with(&r.instead_of))
        .max_by_key(|r| r.instead_of.len())
        .map(|r| format!("{}{}", r.base, &url[r.instead_of.len()..]))
        .unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_scp_like_urls_of_one_repository_share_an_identity() {
        let https = GitUrl::parse("https://GitHub.com/org/repo.git").unwrap();
        let scp = GitUrl::parse("git@github.com:org/repo.git").unwrap();
        let ssh = GitUrl::parse("ssh://git@github.com:22/org/repo").unwrap();
        assert_eq!(https.identity(), "github.com/org/repo");
        assert_eq!(scp.identity(), "github.com/org/repo");
        assert_eq!(ssh.identity(), "github.com/org/repo");
        assert_eq!(scp.scheme(), Scheme::Ssh);
        assert_eq!(ssh.key(), "ssh://github.com/org/repo");
        assert_eq!(scp.key(), "ssh://github.com/org/repo");
        assert_eq!(scp.to_git_arg(), "git@github.com:org/repo.git");
    }

    #[test]
    fn key_drops_default_port_trailing_slash_and_dot_git() {
        let a = GitUrl::parse("https://example.com:443/a/b.git/").unwrap();
        let b = GitUrl::parse("https://example.com/a/b").unwrap();
        let c = GitUrl::parse("https://example.com:8443/a/b").unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_eq!(c.key(), "https://example.com:8443/a/b");
        assert_ne!(a.mirror_dir_name(), c.mirror_dir_name());
    }

    #[test]
    fn passwords_are_taken_out_of_the_url() {
        let url = GitUrl::parse("https://bob:s3cr%40t@example.com/r.git").unwrap();
        assert_eq!(url.to_git_arg(), "https://example.com/r.git");
        assert!(!format!("{url:?} {url}").contains("s3cr"));
        match url.embedded_credentials() {
            Some(Credentials::Basic { username, password }) => {
                assert_eq!(username, "bob");
                assert_eq!(password, "s3cr@t");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_urls_and_local_paths() {
        let f = GitUrl::parse("file:///srv/git/r.git").unwrap();
        assert_eq!(f.scheme(), Scheme::File);
        assert_eq!(f.to_git_arg(), "file:///srv/git/r.git");
        let p = GitUrl::parse("/srv/git/r.git").unwrap();
        assert_eq!(p.key(), f.key());
        assert!(GitUrl::parse("file://otherhost/x").is_err());
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        assert_eq!(GitUrl::parse(""), Err(UrlError::Empty));
        assert!(matches!(
            GitUrl::parse("ftp://example.com/r"),
            Err(UrlError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            GitUrl::parse("https:///r"),
            Err(UrlError::NoHost { .. })
        ));
        assert!(matches!(
            GitUrl::parse("https://example.com/"),
            Err(UrlError::NoPath { .. })
        ));
        assert!(matches!(
            GitUrl::parse("-uhttps://x/y"),
            Err(UrlError::Forbidden { .. })
        ));
        assert!(matches!(
            GitUrl::parse("https://example.com:99999/r"),
            Err(UrlError::NoHost { .. })
        ));
        let err = GitUrl::parse("ftp://u:hunter2@example.com/r").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn redact_str_removes_userinfo_everywhere() {
        assert_eq!(
            redact_str("fatal: unable to access 'https://u:p@h/x/': 401 and http://t@h2/y"),
            "fatal: unable to access 'https://h/x/': 401 and http://h2/y"
        );
    }

    #[test]
    fn instead_of_takes_the_longest_prefix() {
        let rules = vec![
            Rewrite {
                base: "http://127.0.0.1:1/".into(),
                instead_of: "https://gitlab.internal/".into(),
            },
            Rewrite {
                base: "file:///mirrors/team/".into(),
                instead_of: "https://gitlab.internal/team/".into(),
            },
        ];
        assert_eq!(
            rewrite("https://gitlab.internal/team/app.git", &rules),
            "file:///mirrors/team/app.git"
        );
        assert_eq!(
            rewrite("https://gitlab.internal/other/app.git", &rules),
            "http://127.0.0.1:1/other/app.git"
        );
        assert_eq!(
            rewrite("https://github.com/a/b", &rules),
            "https://github.com/a/b"
        );
    }
}
