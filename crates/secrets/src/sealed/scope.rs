//! Sealing scopes and the RSA-OAEP label each implies (upstream's `SealingScope`,
//! `EncryptionLabel`, `SecretScope`, `UpdateScopeAnnotations`).

use std::{fmt, str::FromStr};

use super::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};

/// How far a sealed value may travel: the scope decides the OAEP label, so a value sealed
/// for one scope opens only where that label is reproduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scope {
    /// Pinned to a namespace and a name (label `"<namespace>/<name>"`); the default.
    #[default]
    Strict,
    /// Pinned to a namespace only (label `"<namespace>"`): the object may be renamed.
    NamespaceWide,
    /// Not pinned (empty label): the object may be renamed and moved.
    ClusterWide,
}

impl Scope {
    /// The scope an object's `metadata.annotations` select, as upstream's `SecretScope`
    /// reads them: `sealedsecrets.bitnami.com/cluster-wide: "true"` first, then
    /// `…/namespace-wide: "true"`, otherwise strict. Any other value, or annotations that
    /// are null or not an object, mean strict.
    pub fn of_annotations(annotations: &serde_json::Value) -> Scope {
        let is_true = |key: &str| annotations.get(key).and_then(|v| v.as_str()) == Some("true");
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            Scope::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// The RSA-OAEP label for an object called `name` in `namespace` (upstream's
    /// `EncryptionLabel`): strict joins them with a `/`.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// Sets the scope annotations in `annotations` (an object, or null which becomes one) to
    /// say this scope, removing the other (upstream's `UpdateScopeAnnotations`).
    pub fn annotate(self, annotations: &mut serde_json::Value) {
        if !annotations.is_object() {
            *annotations = serde_json::Value::Object(serde_json::Map::new());
        }
        let map = annotations
            .as_object_mut()
            .expect("replaced by an object above");
        map.remove(NAMESPACE_WIDE_ANNOTATION);
        map.remove(CLUSTER_WIDE_ANNOTATION);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                map.insert(NAMESPACE_WIDE_ANNOTATION.into(), "true".into());
            }
            Scope::ClusterWide => {
                map.insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
            }
        }
    }

    /// The name kubeseal's `--scope` flag uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--scope` value that is not one of the three names.
#[derive(Debug, thiserror::Error)]
#[error("must be one of: strict, namespace-wide, cluster-wide")]
pub struct ParseScopeError;

impl FromStr for Scope {
    type Err = ParseScopeError;

    /// kubeseal's `--scope` values; empty means the default (strict), as upstream's `Set`.
    fn from_str(s: &str) -> Result<Scope, ParseScopeError> {
        match s {
            "" | "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            _ => Err(ParseScopeError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_follow_encryption_label() {
        assert_eq!(Scope::Strict.label("ns", "n"), b"ns/n");
        assert_eq!(Scope::NamespaceWide.label("ns", "n"), b"ns");
        assert_eq!(Scope::ClusterWide.label("ns", "n"), b"");
    }

    #[test]
    fn cluster_wide_is_checked_first_and_only_true_counts() {
        let both = json!({CLUSTER_WIDE_ANNOTATION: "true", NAMESPACE_WIDE_ANNOTATION: "true"});
        assert_eq!(Scope::of_annotations(&both), Scope::ClusterWide);
        let yes = json!({CLUSTER_WIDE_ANNOTATION: "yes", NAMESPACE_WIDE_ANNOTATION: "true"});
        assert_eq!(Scope::of_annotations(&yes), Scope::NamespaceWide);
        assert_eq!(Scope::of_annotations(&json!(null)), Scope::Strict);
        assert_eq!(
            Scope::of_annotations(&json!({CLUSTER_WIDE_ANNOTATION: true})),
            Scope::Strict
        );
    }

    #[test]
    fn annotate_replaces_the_other_scope() {
        let mut a = json!({CLUSTER_WIDE_ANNOTATION: "true", "x": "y"});
        Scope::NamespaceWide.annotate(&mut a);
        assert_eq!(a, json!({"x": "y", NAMESPACE_WIDE_ANNOTATION: "true"}));
        Scope::Strict.annotate(&mut a);
        assert_eq!(a, json!({"x": "y"}));
        let mut n = serde_json::Value::Null;
        Scope::ClusterWide.annotate(&mut n);
        assert_eq!(n, json!({CLUSTER_WIDE_ANNOTATION: "true"}));
    }

    #[test]
    fn scope_names_parse_as_kubeseal_flags() {
        assert_eq!("".parse::<Scope>().ok(), Some(Scope::Strict));
        assert_eq!(
            "cluster-wide".parse::<Scope>().ok(),
            Some(Scope::ClusterWide)
        );
        assert_eq!(
            "cluster".parse::<Scope>().unwrap_err().to_string(),
            "must be one of: strict, namespace-wide, cluster-wide"
        );
    }
}
