//! Red Hat 3scale API Management: the operator (`apps.3scale.net`) and its capabilities
//! (`capabilities.3scale.net`).

use serde_json::Value;

use super::Check;
use super::support::*;
use crate::health::HealthStatus::{self, *};

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("apps.3scale.net", "APIManager") => api_manager,
        ("capabilities.3scale.net", kind) => match kind {
            "ActiveDoc" => |o| first_true(o, "ActiveDoc", ACTIVE_DOC),
            "Application" => application,
            "ApplicationAuth" => |o| first_true(o, "ApplicationAuth", APPLICATION_AUTH),
            "Backend" => |o| first_true(o, "Backend", BACKEND),
            "CustomPolicyDefinition" => {
                |o| first_true(o, "CustomPolicyDefinition", CUSTOM_POLICY_DEFINITION)
            }
            "DeveloperAccount" => |o| first_true(o, "DeveloperAccount", DEVELOPER_ACCOUNT),
            "DeveloperUser" => developer_user,
            "OpenAPI" => |o| first_true(o, "OpenAPI", OPEN_API),
            "Product" => |o| first_true(o, "Product", PRODUCT),
            "ProxyConfigPromote" => |o| first_true(o, "ProxyConfigPromote", PROXY_CONFIG_PROMOTE),
            "Tenant" => tenant,
            _ => return None,
        },
        _ => return None,
    })
}

/// A condition type that decides when true: the status, and the message — fixed, or the
/// condition's own message with this as the default.
type Rule = (&'static str, HealthStatus, Message);

#[derive(Clone, Copy)]
enum Message {
    Fixed(&'static str),
    Own(&'static str),
}

const ACTIVE_DOC: &[Rule] = &[
    (
        "Ready",
        Healthy,
        Message::Fixed("3scale ActiveDoc is ready"),
    ),
    (
        "Invalid",
        Degraded,
        Message::Own("3scale ActiveDoc configuration is invalid"),
    ),
    (
        "Orphan",
        Degraded,
        Message::Own("3scale ActiveDoc references non-existing resources"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale ActiveDoc synchronization failed"),
    ),
];
const APPLICATION_AUTH: &[Rule] = &[
    (
        "Ready",
        Healthy,
        Message::Fixed("3scale ApplicationAuth is ready"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale ApplicationAuth failed"),
    ),
];
const BACKEND: &[Rule] = &[
    (
        "Synced",
        Healthy,
        Message::Fixed("3scale Backend is synced"),
    ),
    (
        "Invalid",
        Degraded,
        Message::Own("3scale Backend configuration is invalid"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale Backend synchronization failed"),
    ),
];
const CUSTOM_POLICY_DEFINITION: &[Rule] = &[
    (
        "Ready",
        Healthy,
        Message::Fixed("3scale CustomPolicyDefinition is ready"),
    ),
    (
        "Invalid",
        Degraded,
        Message::Own("3scale CustomPolicyDefinition configuration is invalid"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale CustomPolicyDefinition synchronization failed"),
    ),
];
const DEVELOPER_ACCOUNT: &[Rule] = &[
    (
        "Ready",
        Healthy,
        Message::Fixed("3scale DeveloperAccount is ready"),
    ),
    (
        "Invalid",
        Degraded,
        Message::Own("3scale DeveloperAccount configuration is invalid"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale DeveloperAccount synchronization failed"),
    ),
    (
        "Waiting",
        Suspended,
        Message::Own("3scale DeveloperAccount is waiting for approval"),
    ),
];
const DEVELOPER_USER: &[Rule] = &[
    (
        "Ready",
        Healthy,
        Message::Fixed("3scale DeveloperUser is ready"),
    ),
    (
        "Invalid",
        Degraded,
        Message::Own("3scale DeveloperUser configuration is invalid"),
    ),
    (
        "Orphan",
        Degraded,
        Message::Own("3scale DeveloperUser references non-existing resources"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale DeveloperUser synchronization failed"),
    ),
];
const OPEN_API: &[Rule] = &[
    ("Ready", Healthy, Message::Fixed("3scale OpenAPI is ready")),
    (
        "Invalid",
        Degraded,
        Message::Own("3scale OpenAPI configuration is invalid"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale OpenAPI reconciliation failed"),
    ),
];
const PRODUCT: &[Rule] = &[
    (
        "Synced",
        Healthy,
        Message::Fixed("3scale Product is synced"),
    ),
    (
        "Invalid",
        Degraded,
        Message::Own("3scale Product configuration is invalid"),
    ),
    (
        "Orphan",
        Degraded,
        Message::Own("3scale Product references non-existing resources"),
    ),
    (
        "Failed",
        Degraded,
        Message::Own("3scale Product synchronization failed"),
    ),
];
const PROXY_CONFIG_PROMOTE: &[Rule] = &[
    (
        "Ready",
        Healthy,
        Message::Fixed("3scale ProxyConfigPromote is ready"),
    ),
    (
        "In-progress",
        Progressing,
        Message::Own("3scale ProxyConfigPromote is in progress"),
    ),
    // Upstream's spelling.
    (
        "Failed",
        Degraded,
        Message::Own("3cale ProxyConfigPromote failed"),
    ),
];

/// The first true condition whose type has a rule.
fn decided(obj: &Value, rules: &[Rule]) -> Option<Verdict> {
    conditions(obj).iter().find_map(|c| {
        if field(c, "status") != Some("True") {
            return None;
        }
        let (_, status, msg) = rules.iter().find(|(ty, ..)| field(c, "type") == Some(ty))?;
        let msg = match msg {
            Message::Fixed(m) => m,
            Message::Own(default) => field(c, "message").unwrap_or(default),
        };
        Some(verdict(*status, msg))
    })
}

fn first_true(obj: &Value, kind: &str, rules: &[Rule]) -> Verdict {
    decided(obj, rules)
        .unwrap_or_else(|| progressing(format!("Waiting for 3scale {kind} status...")))
}

/// Whether `status.<key>` is a positive number (an id 3scale assigned).
fn has_id(obj: &Value, key: &str) -> bool {
    number(obj, &["status", key]).is_some_and(|n| n > 0.0)
}

/// Suspended by state; Ready; a Ready condition that is not true degrades only while the
/// application has no id yet.
fn application(obj: &Value) -> Verdict {
    if is(obj, &["status", "state"], "suspended") {
        return suspended("3scale Application is suspended");
    }
    let has_application_id = has_id(obj, "adminId");
    for c in conditions(obj) {
        if field(c, "type") != Some("Ready") {
            continue;
        }
        if field(c, "status") == Some("True") {
            return healthy("3scale Application is ready");
        }
        if !has_application_id {
            return degraded(field(c, "message").unwrap_or("3scale Application is not ready"));
        }
    }
    progressing("Waiting for 3scale Application status...")
}

fn developer_user(obj: &Value) -> Verdict {
    if is(obj, &["status", "developerUserState"], "suspended") {
        return suspended("3scale Developer user is waiting for admin approval");
    }
    first_true(obj, "DeveloperUser", DEVELOPER_USER)
}

/// Ready with both a tenant and an admin id; a Ready condition that is not true degrades.
fn tenant(obj: &Value) -> Verdict {
    let ready = find_condition(obj, "Ready", "True").is_some();
    if has(obj, &["status"]) && ready && has_id(obj, "tenantId") && has_id(obj, "adminId") {
        return healthy("3scale Tenant is ready");
    }
    let not_ready = conditions(obj)
        .iter()
        .find(|c| field(c, "type") == Some("Ready") && field(c, "status") != Some("True"));
    if let Some(c) = not_ready {
        return degraded(field(c, "message").unwrap_or("3scale Tenant is degraded"));
    }
    progressing("Waiting for 3scale Tenant status...")
}

/// The deployments' summary first (all ready, none starting or stopped), then the
/// Available condition (its reason when it is not true).
fn api_manager(obj: &Value) -> Verdict {
    const AVAILABLE: &str = "3scale APIManager is available";
    if let Some(deployments) = get(obj, &["status", "deployments"])
        && has(deployments, &["ready"])
        && !has(deployments, &["starting"])
        && !has(deployments, &["stopped"])
    {
        return healthy(AVAILABLE);
    }
    for c in conditions(obj) {
        if field(c, "type") != Some("Available") {
            continue;
        }
        if field(c, "status") == Some("True") {
            return healthy(AVAILABLE);
        }
        if let Some(reason) = get(c, &["reason"]).filter(|r| r.as_str() != Some("")) {
            let Some(reason) = concat_text(Some(reason)) else {
                return script_error("the Available condition's reason is not text");
            };
            return degraded(format!("3scale APIManager is degraded: {reason}"));
        }
    }
    progressing("Waiting for 3scale APIManager status...")
}
