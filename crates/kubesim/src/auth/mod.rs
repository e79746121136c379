//! Authentication and authorization: who is calling, as whom, and whether they may.
//!
//! Every request to a cluster passes three steps, in kube-apiserver's order:
//!
//! 1. **Authentication** ([`authn`]): a bearer token is the cluster's admin token (user
//!    `kubesim-admin` in `system:masters`) or a ServiceAccount token from the TokenRequest
//!    API. No token means `system:anonymous`; a token nobody issued is a 401.
//!    *Plain-HTTP mode* (a fleet served by [`crate::Server::start`], or used through
//!    [`crate::router`] without a server) treats a request without a token as the admin, so
//!    that part-1 clients and tests need no credentials. Over TLS
//!    ([`crate::Server::start_tls`], the `kubesim serve` default) anonymous is anonymous.
//! 2. **Impersonation** ([`impersonate`]): `Impersonate-User`/`-Group`/`-Uid`/`-Extra-*`,
//!    each checked against the `impersonate` verb.
//! 3. **Authorization** ([`rbac`]): `system:masters` always passes; everyone else is judged
//!    by the cluster's own Role/ClusterRole/RoleBinding/ClusterRoleBinding objects, with the
//!    default roles of [`bootstrap`] present from the start.
//!
//! The simulator's own controls (`/clusters/<name>/_kubesim/…`) are outside all of this.

pub mod aggregation;
pub mod authn;
pub mod bootstrap;
pub mod impersonate;
pub mod rbac;
pub mod reviews;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::cluster::Cluster;
use crate::store::Event;

/// The group that is always allowed everything.
pub const MASTERS: &str = "system:masters";
/// Every authenticated user's group.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The anonymous user's group.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The anonymous user.
pub const ANONYMOUS: &str = "system:anonymous";
/// The user the admin token authenticates as.
pub const ADMIN_USER: &str = "kubesim-admin";

/// A user as the API server knows it (`user.Info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// UID, when known.
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The admin of every cluster.
    pub fn admin() -> UserInfo {
        UserInfo::named(ADMIN_USER, &[MASTERS, AUTHENTICATED])
    }

    /// `system:anonymous`.
    pub fn anonymous() -> UserInfo {
        UserInfo::named(ANONYMOUS, &[UNAUTHENTICATED])
    }

    /// An authenticated user with `groups` (plus `system:authenticated`).
    pub fn user(name: &str, groups: &[&str]) -> UserInfo {
        let mut u = UserInfo::named(name, groups);
        u.groups.push(AUTHENTICATED.into());
        u
    }

    /// A ServiceAccount's user: `system:serviceaccount:<ns>:<name>` with the ServiceAccount
    /// groups and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> UserInfo {
        UserInfo {
            name: service_account_username(namespace, name),
            uid: uid.into(),
            groups: service_account_groups(namespace)
                .into_iter()
                .chain([AUTHENTICATED.to_string()])
                .collect(),
            extra: BTreeMap::new(),
        }
    }

    fn named(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }
}

/// `system:serviceaccount:<ns>:<name>`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// `system:serviceaccounts`, `system:serviceaccounts:<ns>`.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

/// `(namespace, name)` of a ServiceAccount user name.
pub fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// Who a request is from, and whom it acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user the credentials belong to.
    pub authenticated: UserInfo,
    /// The user it impersonates, if any.
    pub impersonated: Option<UserInfo>,
}

impl Identity {
    /// The user the request acts as (and is authorized as).
    pub fn effective(&self) -> &UserInfo {
        self.impersonated.as_ref().unwrap_or(&self.authenticated)
    }
}

/// One cluster's credentials and its RBAC cache.
pub struct ClusterAuth {
    tokens: authn::Tokens,
    policy: Mutex<Option<CachedPolicy>>,
}

/// The parsed policy and a receiver that says when it went stale.
struct CachedPolicy {
    changes: broadcast::Receiver<Arc<Event>>,
    policy: Arc<rbac::Policy>,
}

impl ClusterAuth {
    /// Fresh credentials (a new random admin token).
    pub fn new() -> ClusterAuth {
        ClusterAuth {
            tokens: authn::Tokens::new(),
            policy: Mutex::new(None),
        }
    }

    /// The cluster's tokens.
    pub fn tokens(&self) -> &authn::Tokens {
        &self.tokens
    }

    /// The RBAC policy as the store holds it now. The parsed policy is kept until an event
    /// on one of the RBAC resources arrives: the store publishes each event before the write
    /// returns, so a binding created by one request governs the next one. (The receiver is
    /// drained only when a non-admin request comes, so it may pin up to the channel's
    /// capacity of recent events in between; it never blocks writers.)
    pub fn policy(&self, cluster: &Cluster) -> Arc<rbac::Policy> {
        let mut cached = self.policy.lock();
        if let Some(c) = cached.as_mut() {
            let mut stale = false;
            loop {
                match c.changes.try_recv() {
                    Ok(e) => stale |= rbac::is_rbac_resource(&e.resource),
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Lagged(_)) => stale = true,
                    Err(broadcast::error::TryRecvError::Closed) => {
                        stale = true;
                        break;
                    }
                }
            }
            if !stale {
                return c.policy.clone();
            }
        }
        // Subscribe and read under one lock, so no change falls between the two.
        let (changes, policy) =
            cluster.inspect(|s| (s.subscribe(), Arc::new(rbac::Policy::from_state(s))));
        *cached = Some(CachedPolicy {
            changes,
            policy: policy.clone(),
        });
        policy
    }

    /// Authorize `user` for `attrs`.
    pub fn authorize(
        &self,
        cluster: &Cluster,
        user: &UserInfo,
        attrs: &rbac::Attributes,
    ) -> rbac::Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            // Skip reading the policy: the admin's requests (all of plain-HTTP mode) stay fast.
            return rbac::Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        self.policy(cluster).authorize(user, attrs)
    }
}

impl Default for ClusterAuth {
    fn default() -> Self {
        ClusterAuth::new()
    }
}
