//! RBAC, evaluated from a cluster's own Role, ClusterRole, RoleBinding and ClusterRoleBinding
//! objects, with kube-apiserver's matching rules (`k8s.io/kubernetes` `pkg/apis/rbac/v1`
//! `evaluation_helpers.go`, `plugin/pkg/auth/authorizer/rbac/rbac.go`) and its wording.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::UserInfo;
use crate::resources::StorageKey;
use crate::store::State;

/// The API group of the RBAC kinds.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// The four resources a policy is read from (the cache is dropped when one of them changes).
pub fn is_rbac_resource(key: &StorageKey) -> bool {
    &*key.group == GROUP
        && matches!(
            &*key.resource,
            "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings"
        )
}

/// One `PolicyRule`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Rule {
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources` (`deployments`, `deployments/status`, `*/scale`, `*`).
    pub resources: Vec<String>,
    /// `resourceNames`; empty means every name.
    pub resource_names: Vec<String>,
    /// `nonResourceURLs` (`/healthz`, `/apis/*`).
    pub non_resource_urls: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

impl Rule {
    /// Read a rule from its JSON form.
    pub fn from_json(v: &Value) -> Rule {
        Rule {
            verbs: strings(v.get("verbs")),
            api_groups: strings(v.get("apiGroups")),
            resources: strings(v.get("resources")),
            resource_names: strings(v.get("resourceNames")),
            non_resource_urls: strings(v.get("nonResourceURLs")),
        }
    }

    /// The JSON form, without empty lists (as the API server omits them).
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        let mut put = |k: &str, v: &Vec<String>| {
            if !v.is_empty() {
                o.insert(k.into(), json!(v));
            }
        };
        put("verbs", &self.verbs);
        put("apiGroups", &self.api_groups);
        put("resources", &self.resources);
        put("resourceNames", &self.resource_names);
        put("nonResourceURLs", &self.non_resource_urls);
        Value::Object(o)
    }

    /// Whether the rule allows the request (`RuleAllows`).
    pub fn allows(&self, attrs: &Attributes) -> bool {
        let verb_ok = |verb: &str| self.verbs.iter().any(|v| v == "*" || v == verb);
        match attrs {
            Attributes::Resource(r) => {
                verb_ok(&r.verb)
                    && self.api_groups.iter().any(|g| g == "*" || *g == r.group)
                    && self.resource_matches(&r.resource, &r.subresource)
                    && (self.resource_names.is_empty() || self.resource_names.contains(&r.name))
            }
            Attributes::NonResource { verb, path } => {
                verb_ok(verb)
                    && self.non_resource_urls.iter().any(|u| {
                        u == "*"
                            || u == path
                            || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                    })
            }
        }
    }

    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        let combined = if subresource.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}/{subresource}")
        };
        self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                // `*/scale` matches the scale subresource of anything.
                || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
        })
    }
}

/// A resource request as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceAttributes {
    /// Verb: get, list, watch, create, update, patch, delete, deletecollection, impersonate, …
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, or "".
    pub subresource: String,
    /// Namespace, or "" for cluster scope.
    pub namespace: String,
    /// Object name, or "".
    pub name: String,
}

/// What is being asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// An API resource.
    Resource(ResourceAttributes),
    /// Any other path (`/version`, `/apis`, `/healthz`); the verb is the lowercase method.
    NonResource {
        /// `get`, `post`, …
        verb: String,
        /// The path below the cluster prefix, starting with `/`.
        path: String,
    },
}

/// `User "…" cannot …`: `forbiddenMessage` of `apiserver` `responsewriters/errors.go`.
pub fn forbidden_message(user: &str, attrs: &Attributes) -> String {
    match attrs {
        Attributes::NonResource { verb, path } => {
            format!("User {user:?} cannot {verb} path {path:?}")
        }
        Attributes::Resource(r) => {
            let resource = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let scope = if r.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", r.namespace)
            };
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                r.verb, r.group
            )
        }
    }
}

/// A binding subject.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Subject {
    kind: String,
    name: String,
    namespace: String,
}

impl Subject {
    /// `appliesToUser` of the RBAC authorizer.
    fn applies_to(&self, user: &UserInfo, binding_namespace: &str) -> bool {
        match self.kind.as_str() {
            "User" => self.name == user.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                user.name == format!("system:serviceaccount:{ns}:{}", self.name)
            }
            _ => false,
        }
    }

    /// `describeSubject`: how an allow reason names the subject.
    fn describe(&self, binding_namespace: &str) -> String {
        if self.kind == "ServiceAccount" {
            let ns = if self.namespace.is_empty() {
                binding_namespace
            } else {
                &self.namespace
            };
            format!("{} {:?}", self.kind, format!("{}/{ns}", self.name))
        } else {
            format!("{} {:?}", self.kind, self.name)
        }
    }
}

/// A RoleBinding (namespace set) or ClusterRoleBinding.
#[derive(Debug, Clone)]
struct Binding {
    name: String,
    namespace: String,
    role_kind: String,
    role_name: String,
    subjects: Vec<Subject>,
}

impl Binding {
    fn from_json(v: &Value) -> Binding {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let subjects = v
            .get("subjects")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let f =
                            |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        Subject {
                            kind: f("kind"),
                            name: f("name"),
                            namespace: f("namespace"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Binding {
            name: s("/metadata/name"),
            namespace: s("/metadata/namespace"),
            role_kind: s("/roleRef/kind"),
            role_name: s("/roleRef/name"),
            subjects,
        }
    }

    /// `ClusterRoleBinding "x" of ClusterRole "y"` / `RoleBinding "x/ns" of Role "y"`.
    fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!(
                "ClusterRoleBinding {:?} of {} {:?}",
                self.name, self.role_kind, self.role_name
            )
        } else {
            format!(
                "RoleBinding {:?} of {} {:?}",
                format!("{}/{}", self.name, self.namespace),
                self.role_kind,
                self.role_name
            )
        }
    }
}

/// The outcome of an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// `RBAC: allowed by …`, or on denial the resolution errors (`RBAC: clusterrole… not
    /// found`), or "".
    pub reason: String,
}

/// A cluster's RBAC objects, parsed, with aggregated ClusterRoles resolved.
#[derive(Debug, Default)]
pub struct Policy {
    roles: HashMap<(String, String), Arc<Vec<Rule>>>,
    cluster_roles: HashMap<String, Arc<Vec<Rule>>>,
    cluster_bindings: Vec<Binding>,
    bindings: HashMap<String, Vec<Binding>>,
}

/// A ClusterRole as read, before aggregation.
struct RawClusterRole {
    labels: BTreeMap<String, String>,
    rules: Vec<Rule>,
    /// `aggregationRule.clusterRoleSelectors`, when it has one.
    selectors: Option<Vec<Value>>,
}

impl Policy {
    /// Read the policy from a locked store.
    pub fn from_state(s: &State) -> Policy {
        let objs = |r: &str| -> Vec<Arc<Value>> {
            s.range(&StorageKey::new(GROUP, r), None, None)
                .map(|(_, o)| o.clone())
                .collect()
        };
        Policy::from_objects(
            &objs("roles"),
            &objs("clusterroles"),
            &objs("rolebindings"),
            &objs("clusterrolebindings"),
        )
    }

    /// Build a policy from the objects' JSON.
    pub fn from_objects<V: std::borrow::Borrow<Value>>(
        roles: &[V],
        cluster_roles: &[V],
        role_bindings: &[V],
        cluster_role_bindings: &[V],
    ) -> Policy {
        let name_of = |v: &Value, f: &str| {
            v.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let rules_of = |v: &Value| -> Vec<Rule> {
            v.get("rules")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Rule::from_json).collect())
                .unwrap_or_default()
        };
        let mut p = Policy::default();
        for r in roles {
            let r = r.borrow();
            p.roles.insert(
                (name_of(r, "namespace"), name_of(r, "name")),
                Arc::new(rules_of(r)),
            );
        }
        let raw: HashMap<String, RawClusterRole> = cluster_roles
            .iter()
            .map(|r| {
                let r = r.borrow();
                let labels = r
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let selectors = r
                    .pointer("/aggregationRule/clusterRoleSelectors")
                    .and_then(Value::as_array)
                    .cloned();
                (
                    name_of(r, "name"),
                    RawClusterRole {
                        labels,
                        rules: rules_of(r),
                        selectors,
                    },
                )
            })
            .collect();
        for name in raw.keys() {
            let rules = aggregated_rules(&raw, name, &mut HashSet::new());
            p.cluster_roles.insert(name.clone(), Arc::new(rules));
        }
        for b in cluster_role_bindings {
            p.cluster_bindings.push(Binding::from_json(b.borrow()));
        }
        for b in role_bindings {
            let b = Binding::from_json(b.borrow());
            p.bindings.entry(b.namespace.clone()).or_default().push(b);
        }
        p
    }

    /// The effective rules of a ClusterRole (aggregation resolved), if it exists.
    pub fn cluster_role_rules(&self, name: &str) -> Option<&[Rule]> {
        self.cluster_roles.get(name).map(|r| r.as_slice())
    }

    fn role_rules(&self, b: &Binding) -> Result<&[Rule], String> {
        match b.role_kind.as_str() {
            "ClusterRole" => self
                .cluster_roles
                .get(&b.role_name)
                .map(|r| r.as_slice())
                .ok_or_else(|| format!("clusterrole.{GROUP} {:?} not found", b.role_name)),
            "Role" => self
                .roles
                .get(&(b.namespace.clone(), b.role_name.clone()))
                .map(|r| r.as_slice())
                .ok_or_else(|| format!("role.{GROUP} {:?} not found", b.role_name)),
            other => Err(format!("unknown role kind {other:?}")),
        }
    }

    /// Visit every rule that applies to `user` in `namespace` ("" = cluster bindings only),
    /// ClusterRoleBindings first, as the rule resolver does. `visit` returns false to stop.
    fn visit(
        &self,
        user: &UserInfo,
        namespace: &str,
        errors: &mut Vec<String>,
        mut visit: impl FnMut(&Binding, &Subject, &Rule) -> bool,
    ) {
        let namespaced = if namespace.is_empty() {
            None
        } else {
            self.bindings.get(namespace)
        };
        for b in self
            .cluster_bindings
            .iter()
            .chain(namespaced.into_iter().flatten())
        {
            let Some(subject) = b.subjects.iter().find(|s| s.applies_to(user, &b.namespace)) else {
                continue;
            };
            match self.role_rules(b) {
                Ok(rules) => {
                    for r in rules {
                        if !visit(b, subject, r) {
                            return;
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    }

    /// Decide a request. `system:masters` is always allowed, as kube-apiserver's privileged
    /// group authorizer allows it before RBAC is asked.
    pub fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == super::MASTERS) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let namespace = match attrs {
            Attributes::Resource(r) => r.namespace.as_str(),
            Attributes::NonResource { .. } => "",
        };
        let mut errors = Vec::new();
        let mut allowed_by = None;
        self.visit(user, namespace, &mut errors, |b, s, rule| {
            if rule.allows(attrs) {
                allowed_by = Some(format!(
                    "RBAC: allowed by {} to {}",
                    b.describe(),
                    s.describe(&b.namespace)
                ));
                return false;
            }
            true
        });
        match allowed_by {
            Some(reason) => Decision {
                allowed: true,
                reason,
            },
            None => Decision {
                allowed: false,
                reason: rbac_errors(&errors),
            },
        }
    }

    /// Every rule `user` holds in `namespace` (SelfSubjectRulesReview), and the resolution
    /// errors met on the way.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<Rule>, Vec<String>) {
        let mut errors = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        self.visit(user, namespace, &mut errors, |_, _, r| {
            rules.push(r.clone());
            true
        });
        (rules, errors)
    }
}

/// `RBAC: <aggregate of errors>` as the authorizer words a denial with resolution errors.
fn rbac_errors(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

/// The rules of `name`: its own, or for an aggregated role the union of the roles its
/// selectors pick (themselves aggregated), as the clusterrole-aggregation controller
/// converges to.
fn aggregated_rules(
    raw: &HashMap<String, RawClusterRole>,
    name: &str,
    seen: &mut HashSet<String>,
) -> Vec<Rule> {
    let Some(role) = raw.get(name) else {
        return vec![];
    };
    let Some(selectors) = &role.selectors else {
        return role.rules.clone();
    };
    if !seen.insert(name.to_string()) {
        return vec![];
    }
    let mut names: Vec<&String> = raw
        .iter()
        .filter(|(other, r)| {
            other.as_str() != name && selectors.iter().any(|s| selector_matches(s, &r.labels))
        })
        .map(|(n, _)| n)
        .collect();
    // The controller sorts the matching roles by name.
    names.sort();
    let mut out: Vec<Rule> = Vec::new();
    for n in names {
        for r in aggregated_rules(raw, n, seen) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    seen.remove(name);
    out
}

/// A `metav1.LabelSelector` against labels; an empty selector matches everything.
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| {
            m.iter()
                .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
        });
    let exprs_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values = strings(e.get("values"));
                let have = labels.get(key);
                match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                    "In" => have.is_some_and(|h| values.contains(h)),
                    "NotIn" => have.is_none_or(|h| !values.contains(h)),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
        });
    labels_ok && exprs_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(ns: &str, name: &str) -> UserInfo {
        UserInfo::service_account(ns, name, "")
    }

    fn res(verb: &str, group: &str, resource: &str, ns: &str) -> Attributes {
        Attributes::Resource(ResourceAttributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: ns.into(),
            ..Default::default()
        })
    }

    fn policy() -> Policy {
        let mut cluster_roles: Vec<Value> = super::super::bootstrap::cluster_roles();
        cluster_roles.push(json!({
            "metadata": {"name": "cm-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["only"]}],
        }));
        let roles = vec![json!({
            "metadata": {"name": "status-writer", "namespace": "t1"},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments/status", "*/scale"], "verbs": ["update"]}],
        })];
        let bindings = vec![
            json!({"metadata": {"name": "flux-edit", "namespace": "t1"},
                   "roleRef": {"kind": "ClusterRole", "name": "edit"},
                   "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "t1"}]}),
            json!({"metadata": {"name": "sw", "namespace": "t1"},
                   "roleRef": {"kind": "Role", "name": "status-writer"},
                   "subjects": [{"kind": "User", "name": "bob"}]}),
            json!({"metadata": {"name": "dangling", "namespace": "t3"},
                   "roleRef": {"kind": "ClusterRole", "name": "missing"},
                   "subjects": [{"kind": "Group", "name": "devs"}]}),
        ];
        let cluster_bindings = vec![json!({"metadata": {"name": "readers"},
            "roleRef": {"kind": "ClusterRole", "name": "cm-reader"},
            "subjects": [{"kind": "Group", "name": "devs"}]})];
        let mut all_cluster_bindings = super::super::bootstrap::cluster_role_bindings();
        all_cluster_bindings.extend(cluster_bindings);
        Policy::from_objects(&roles, &cluster_roles, &bindings, &all_cluster_bindings)
    }

    #[test]
    fn edit_is_aggregated_from_view_and_its_own_rules() {
        let p = policy();
        let edit = p.cluster_role_rules("edit").expect("edit exists");
        let allows = |verb: &str, group: &str, resource: &str| {
            edit.iter()
                .any(|r| r.allows(&res(verb, group, resource, "x")))
        };
        assert!(allows("create", "apps", "deployments"));
        assert!(
            allows("get", "", "configmaps"),
            "view's rules are part of edit"
        );
        assert!(!allows("create", "rbac.authorization.k8s.io", "roles"));
        let admin = p.cluster_role_rules("admin").expect("admin exists");
        assert!(
            admin
                .iter()
                .any(|r| r.allows(&res("create", GROUP, "roles", "x")))
        );
        assert!(
            admin
                .iter()
                .any(|r| r.allows(&res("get", "", "configmaps", "x")))
        );
    }

    #[test]
    fn role_binding_grants_only_in_its_namespace() {
        let p = policy();
        let flux = sa("t1", "flux");
        let d = p.authorize(&flux, &res("create", "apps", "deployments", "t1"));
        assert!(d.allowed);
        assert_eq!(
            d.reason,
            "RBAC: allowed by RoleBinding \"flux-edit/t1\" of ClusterRole \"edit\" to ServiceAccount \"flux/t1\""
        );
        assert!(
            !p.authorize(&flux, &res("create", "apps", "deployments", "t2"))
                .allowed
        );
        assert!(
            !p.authorize(&flux, &res("list", "", "configmaps", ""))
                .allowed
        );
    }

    #[test]
    fn subresources_resource_names_and_wildcards() {
        let p = policy();
        let bob = UserInfo::user("bob", &[]);
        let mut status = res("update", "apps", "deployments", "t1");
        if let Attributes::Resource(r) = &mut status {
            r.subresource = "status".into();
        }
        assert!(p.authorize(&bob, &status).allowed);
        let mut scale = res("update", "apps", "statefulsets", "t1");
        if let Attributes::Resource(r) = &mut scale {
            r.subresource = "scale".into();
        }
        assert!(p.authorize(&bob, &scale).allowed, "*/scale");
        assert!(
            !p.authorize(&bob, &res("update", "apps", "deployments", "t1"))
                .allowed
        );

        let dev = UserInfo::user("carol", &["devs"]);
        let mut only = res("get", "", "configmaps", "any");
        assert!(
            !p.authorize(&dev, &only).allowed,
            "no name, resourceNames set"
        );
        if let Attributes::Resource(r) = &mut only {
            r.name = "only".into();
        }
        assert!(p.authorize(&dev, &only).allowed);
    }

    #[test]
    fn non_resource_urls_and_masters() {
        let p = policy();
        let anon = UserInfo::anonymous();
        let get = |path: &str| Attributes::NonResource {
            verb: "get".into(),
            path: path.into(),
        };
        assert!(p.authorize(&anon, &get("/version")).allowed);
        assert!(!p.authorize(&anon, &get("/apis")).allowed);
        let authed = UserInfo::user("bob", &[]);
        assert!(
            p.authorize(&authed, &get("/apis/apps/v1")).allowed,
            "/apis/*"
        );
        assert!(!p.authorize(&authed, &get("/metrics")).allowed);
        let admin = UserInfo::admin();
        assert!(p.authorize(&admin, &res("delete", "x", "y", "")).allowed);
    }

    #[test]
    fn missing_roles_are_named_in_the_denial_reason() {
        let p = policy();
        let dev = UserInfo::user("carol", &["devs"]);
        let d = p.authorize(&dev, &res("list", "", "pods", "t3"));
        assert!(!d.allowed);
        assert_eq!(
            d.reason,
            "RBAC: clusterrole.rbac.authorization.k8s.io \"missing\" not found"
        );
    }

    #[test]
    fn forbidden_messages_match_the_api_server() {
        let flux = "system:serviceaccount:t1:flux";
        assert_eq!(
            forbidden_message(flux, &res("create", "apps", "deployments", "t2")),
            "User \"system:serviceaccount:t1:flux\" cannot create resource \"deployments\" in API group \"apps\" in the namespace \"t2\""
        );
        assert_eq!(
            forbidden_message(flux, &res("list", "", "namespaces", "")),
            "User \"system:serviceaccount:t1:flux\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
        let mut status = res("patch", "apps", "deployments", "t2");
        if let Attributes::Resource(r) = &mut status {
            r.subresource = "status".into();
            r.name = "web".into();
        }
        assert_eq!(
            forbidden_message(flux, &status),
            "User \"system:serviceaccount:t1:flux\" cannot patch resource \"deployments/status\" in API group \"apps\" in the namespace \"t2\""
        );
        assert_eq!(
            forbidden_message(
                "system:anonymous",
                &Attributes::NonResource {
                    verb: "get".into(),
                    path: "/apis".into()
                }
            ),
            "User \"system:anonymous\" cannot get path \"/apis\""
        );
    }

    #[test]
    fn selectors_support_expressions() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(selector_matches(&json!({}), &labels));
        assert!(selector_matches(
            &json!({"matchLabels": {"a": "1"}}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"a": "2"}}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "b", "operator": "Exists"}]}),
            &labels
        ));
    }
}
