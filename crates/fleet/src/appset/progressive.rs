//! Progressive syncs: an ApplicationSet's `RollingSync` strategy, as Argo CD's
//! `applicationset/progressivesync` computes it. Generated Applications are grouped into
//! steps by their labels; their automated sync is turned off and the set syncs them itself,
//! step by step — an Application of a step is synced (an `operation` written on it) only
//! once every Application of the steps before is Healthy, at most `maxUpdate` of a step at
//! a time. Each Application's progress is `status.applicationStatus`: Waiting (changes to
//! sync), Pending (a sync asked), Progressing (the sync started), Healthy.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::sync::{Condition, ConditionStatus};
use crate::argocd::application::Application;
use crate::argocd::applicationset::{ApplicationSet, IntOrString, MatchExpression};

/// The Application statuses of a progressive sync.
pub mod state {
    /// Changes wait for their step.
    pub const WAITING: &str = "Waiting";
    /// A sync was asked.
    pub const PENDING: &str = "Pending";
    /// The sync started.
    pub const PROGRESSING: &str = "Progressing";
    /// Synced and Healthy.
    pub const HEALTHY: &str = "Healthy";
}

/// Who Argo CD says asked for the syncs it triggers.
pub const SYNC_INITIATOR: &str = "applicationset-controller";

const REVISION_AND_SPEC_CHANGED: &str =
    "Application has pending changes (revision and spec differ), setting status to Waiting";
const REVISION_CHANGED: &str = "Application has pending changes, setting status to Waiting";
const SPEC_CHANGED: &str =
    "Application has pending changes (spec differs), setting status to Waiting";

/// One entry of `status.applicationStatus` (Argo CD's `ApplicationSetApplicationStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProgress {
    /// The Application's name.
    pub application: String,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// Why.
    #[serde(default)]
    pub message: String,
    /// Waiting, Pending, Progressing or Healthy.
    #[serde(default)]
    pub status: String,
    /// Its step, from 1 (`-1`: no step selects it).
    #[serde(default)]
    pub step: String,
    /// The revisions it was compared at when it entered Waiting.
    #[serde(default)]
    pub target_revisions: Vec<String>,
}

/// Whether the set asks for a `RollingSync` (Argo CD's `IsRollingSyncStrategy`).
pub fn is_rolling_sync(set: &ApplicationSet) -> bool {
    set.spec
        .strategy
        .as_ref()
        .is_some_and(|s| s.kind == "RollingSync" && s.rolling_sync.is_some())
}

/// A `RollingSync` with steps (`RollingSyncStrategyEnabled`).
pub fn has_rollout_steps(set: &ApplicationSet) -> bool {
    is_rolling_sync(set) && !steps_of(set).is_empty()
}

fn steps_of(set: &ApplicationSet) -> &[crate::argocd::applicationset::RolloutStep] {
    set.spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_sync.as_ref())
        .map_or(&[], |r| r.steps.as_slice())
}

/// Whether a deleted set deletes its Applications step by step, last step first
/// (`IsDeletionOrderReversed`: a `RollingSync` with steps and `deletionOrder: Reverse`).
pub fn deletes_in_reverse(set: &ApplicationSet) -> bool {
    has_rollout_steps(set)
        && set
            .spec
            .strategy
            .as_ref()
            .is_some_and(|s| s.deletion_order.eq_ignore_ascii_case("Reverse"))
}

/// `PerformReverseDeletion`'s order: the Applications some step selects, the last step's
/// first (by name within a step); Applications no step selects are not in it.
pub fn reverse_deletion_order(set: &ApplicationSet, current: &[Application]) -> Vec<String> {
    let (_, step_of, _) = group_into_steps(set, current);
    let mut order: Vec<(std::cmp::Reverse<usize>, &String)> = step_of
        .iter()
        .map(|(name, step)| (std::cmp::Reverse(*step), name))
        .collect();
    order.sort();
    order.into_iter().map(|(_, name)| name.clone()).collect()
}

/// What a reconcile of a `RollingSync` set decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The new `status.applicationStatus`, sorted by Application.
    pub statuses: Vec<AppProgress>,
    /// The Applications whose step may sync now.
    pub may_sync: BTreeSet<String>,
    /// `RolloutProgressing` and `InvalidRolloutConfig`.
    pub conditions: Vec<Condition>,
}

/// Problems with the steps, reported as the `InvalidRolloutConfig` condition.
#[derive(Debug, Default)]
struct Issues {
    /// (step, operator) of expressions with an operator other than In and NotIn.
    invalid_operators: Vec<(usize, String)>,
    /// Application → the steps that select it (more than one).
    selected_twice: BTreeMap<String, Vec<usize>>,
    /// Steps without Applications.
    empty_steps: Vec<usize>,
    /// (step, value) of maxUpdate values that are not a number or a percentage.
    invalid_max_updates: Vec<(usize, String)>,
}

/// `PerformProgressiveSyncs`: the set's Applications (`current`, as they are on the hub,
/// with their status), what the generators want (`desired`), the previous
/// `status.applicationStatus` on `set`; `ignore` keeps `spec.ignoreApplicationDifferences`
/// out of the comparison of desired and current specs. Times are RFC 3339.
pub fn rollout(
    set: &ApplicationSet,
    current: &[Application],
    desired: &[Application],
    now: &str,
) -> Result<Rollout, String> {
    let ignore = super::ignore::compile(&set.spec.ignore_application_differences)?;
    let (steps, step_of, mut issues) = group_into_steps(set, desired);
    let previous = previous_statuses(set);
    let updated = keep_unless_changed(
        &previous,
        updated_statuses(&previous, current, desired, &step_of, &ignore, now),
    );
    let may_sync = may_sync(&steps, current, &updated);
    let progressed = keep_unless_changed(
        &updated,
        progress(set, &updated, &may_sync, &step_of, &mut issues, now),
    );
    let conditions = vec![invalid_config(&issues), progressing(set, &progressed)];
    Ok(Rollout {
        statuses: progressed,
        may_sync,
        conditions,
    })
}

fn previous_statuses(set: &ApplicationSet) -> Vec<AppProgress> {
    set.status
        .as_ref()
        .and_then(|s| s.get("applicationStatus"))
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

/// `setAppSetApplicationStatus`: the new list (sorted by name) only when an entry's status,
/// step or message changed, or the list's length; otherwise the list as it was.
fn keep_unless_changed(old: &[AppProgress], mut new: Vec<AppProgress>) -> Vec<AppProgress> {
    let changed = old.len() != new.len()
        || new.iter().any(|n| {
            old.iter()
                .find(|o| o.application == n.application)
                .is_none_or(|o| o.status != n.status || o.step != n.step || o.message != n.message)
        });
    if changed {
        new.sort_by(|a, b| a.application.cmp(&b.application));
        new
    } else {
        old.to_vec()
    }
}

/// `buildAppDependencyList`: each step's Applications (by name) and each Application's step.
fn group_into_steps(
    set: &ApplicationSet,
    apps: &[Application],
) -> (Vec<Vec<String>>, BTreeMap<String, usize>, Issues) {
    let mut issues = Issues::default();
    let steps = if has_rollout_steps(set) {
        steps_of(set)
    } else {
        &[]
    };
    let mut grouped: Vec<Vec<String>> = vec![Vec::new(); steps.len()];
    let mut step_of: BTreeMap<String, usize> = BTreeMap::new();
    for app in apps {
        let name = &app.metadata.name;
        for (i, step) in steps.iter().enumerate() {
            let mut selected = true;
            for expression in &step.match_expressions {
                match app.metadata.labels.get(&expression.key) {
                    Some(value) => match label_matches(value, expression) {
                        Ok(true) => {}
                        Ok(false) => {
                            selected = false;
                            break;
                        }
                        Err(()) => {
                            let seen = issues
                                .invalid_operators
                                .iter()
                                .any(|(s, o)| *s == i && *o == expression.operator);
                            if !seen {
                                issues
                                    .invalid_operators
                                    .push((i, expression.operator.clone()));
                            }
                            selected = false;
                            break;
                        }
                    },
                    // Without the label, only an `In` expression deselects (upstream).
                    None if expression.operator == "In" => {
                        selected = false;
                        break;
                    }
                    None => {}
                }
            }
            if !selected {
                continue;
            }
            grouped[i].push(name.clone());
            match step_of.get(name) {
                Some(first) => issues
                    .selected_twice
                    .entry(name.clone())
                    .or_insert_with(|| vec![*first])
                    .push(i),
                None => {
                    step_of.insert(name.clone(), i);
                }
            }
        }
    }
    issues.empty_steps = grouped
        .iter()
        .enumerate()
        .filter(|(_, apps)| apps.is_empty())
        .map(|(i, _)| i)
        .collect();
    (grouped, step_of, issues)
}

/// `labelMatchedExpression`; an operator other than In and NotIn is an error.
fn label_matches(value: &str, expression: &MatchExpression) -> Result<bool, ()> {
    let is_in = match expression.operator.as_str() {
        "In" => true,
        "NotIn" => false,
        _ => return Err(()),
    };
    Ok(expression.values.iter().any(|v| v == value) == is_in)
}

/// `getAppStep`: the step from 1, `-1` for none.
fn step_label(name: &str, step_of: &BTreeMap<String, usize>) -> String {
    step_of
        .get(name)
        .map_or_else(|| "-1".to_string(), |i| (i + 1).to_string())
}

/// What of an Application's status a progressive sync reads.
struct Observed<'a> {
    health: &'a str,
    sync: &'a str,
    revisions: Vec<String>,
    reconciled_at: Option<&'a str>,
    operation_phase: Option<&'a str>,
    operation_started_at: Option<&'a str>,
    has_error: bool,
}

impl<'a> Observed<'a> {
    fn of(app: &'a Application) -> Observed<'a> {
        let status = app.status.as_ref();
        let text = |pointer: &str| {
            status
                .and_then(|s| s.pointer(pointer))
                .and_then(Value::as_str)
        };
        // `GetRevisions`: the sources' revisions, else the one revision.
        let revisions = match status
            .and_then(|s| s.pointer("/sync/revisions"))
            .and_then(Value::as_array)
        {
            Some(many) if !many.is_empty() => many
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => text("/sync/revision")
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .into_iter()
                .collect(),
        };
        // `isApplicationWithError`: errors that keep it from syncing at all.
        let has_error = status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions.iter().any(|c| {
                    matches!(
                        c.get("type").and_then(Value::as_str),
                        Some("InvalidSpecError" | "UnknownError")
                    )
                })
            });
        Observed {
            health: text("/health/status").unwrap_or_default(),
            sync: text("/sync/status").unwrap_or_default(),
            revisions,
            reconciled_at: text("/reconciledAt"),
            operation_phase: text("/operationState/phase"),
            operation_started_at: text("/operationState/startedAt"),
            has_error,
        }
    }
}

/// Whether RFC 3339 time `a` is at or after `b`. Argo CD asks for strictly after; at whole
/// seconds that waits for ever for a sync started in the second its Application turned
/// Pending, so the same second counts here.
fn at_or_after(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a >= b,
        _ => false,
    }
}

/// `UpdateApplicationSetApplicationStatus`: each current Application's entry, moved on by
/// what its status shows.
fn updated_statuses(
    previous: &[AppProgress],
    current: &[Application],
    desired: &[Application],
    step_of: &BTreeMap<String, usize>,
    ignore: &[super::ignore::IgnoreRule],
    now: &str,
) -> Vec<AppProgress> {
    let desired: BTreeMap<&str, &Application> = desired
        .iter()
        .map(|a| (a.metadata.name.as_str(), a))
        .collect();
    current
        .iter()
        .map(|app| {
            let name = app.metadata.name.as_str();
            let seen = Observed::of(app);
            let before = previous.iter().find(|p| p.application == name).cloned();
            let mut entry = before.clone().unwrap_or_else(|| AppProgress {
                application: name.to_string(),
                last_transition_time: Some(now.to_string()),
                message: "No Application status found, defaulting status to Waiting".into(),
                status: state::WAITING.into(),
                step: step_label(name, step_of),
                target_revisions: seen.revisions.clone(),
            });
            entry.step = step_label(name, step_of);
            let previous_status = before.as_ref().map(|b| b.status.as_str());
            let revisions_changed = before
                .as_ref()
                .is_some_and(|b| b.target_revisions != seen.revisions);
            let spec_changed = desired
                .get(name)
                .is_some_and(|wanted| !specs_equivalent(ignore, app, wanted));
            let transition = |entry: &mut AppProgress, status: &str, message: &str| {
                entry.status = status.into();
                entry.message = message.into();
                entry.last_transition_time = Some(now.to_string());
            };
            if revisions_changed || spec_changed {
                entry.target_revisions = seen.revisions.clone();
                let message = match (revisions_changed, spec_changed) {
                    (true, true) => REVISION_AND_SPEC_CHANGED,
                    (true, false) => REVISION_CHANGED,
                    _ => SPEC_CHANGED,
                };
                transition(&mut entry, state::WAITING, message);
            }
            if entry.status == state::WAITING {
                // Nothing to sync when it already is.
                if seen.sync == "Synced" {
                    if seen.health == "Healthy" {
                        transition(&mut entry, state::HEALTHY, "Application resource has synced, updating status to Healthy");
                    } else {
                        transition(&mut entry, state::PROGRESSING, "Application resource has synced, updating status to Progressing");
                    }
                }
                return entry;
            }
            if previous_status == Some(state::PENDING) {
                let since = entry.last_transition_time.clone().unwrap_or_default();
                let looked_again = seen
                    .reconciled_at
                    .is_none_or(|at| at_or_after(at, &since));
                if looked_again {
                    let synced_since = seen
                        .operation_started_at
                        .is_some_and(|at| at_or_after(at, &since));
                    if synced_since {
                        let message = match seen.operation_phase {
                            Some("Succeeded") => "Application resource completed a sync successfully, updating status from Pending to Progressing",
                            Some("Failed" | "Error") => "Application resource completed a sync, updating status from Pending to Progressing",
                            _ => "Application resource became Progressing, updating status from Pending to Progressing",
                        };
                        transition(&mut entry, state::PROGRESSING, message);
                    } else if seen.has_error {
                        transition(&mut entry, state::PROGRESSING, "Application resource has error and cannot sync, updating status to Progressing");
                    }
                }
            }
            // Upstream reads the status it started from here, not the one just set: an
            // entry that went Pending → Progressing waits for the next reconcile.
            if previous_status == Some(state::PROGRESSING) && seen.health == "Healthy" && seen.sync == "Synced" {
                transition(&mut entry, state::HEALTHY, "Application resource became Healthy, updating status from Progressing to Healthy");
            }
            entry
        })
        .collect()
}

/// `SpecsEquivalent`: the specs equal once both are normalized (an empty project is
/// `default`), the desired one with automated sync off as the set writes it, and the
/// ignored fields taken from the live one.
fn specs_equivalent(
    ignore: &[super::ignore::IgnoreRule],
    live: &Application,
    desired: &Application,
) -> bool {
    let mut live = live.clone();
    super::sync::normalize_spec(&mut live);
    let mut wanted = desired.clone();
    disable_automated_sync(&mut wanted);
    super::sync::normalize_spec(&mut wanted);
    if !ignore.is_empty() {
        wanted = super::sync::with_ignored_fields_kept(ignore, &live, wanted);
    }
    live.spec == wanted.spec
}

/// `getAppsToSync`: the Applications of every step up to the first one not yet wholly
/// created and Healthy.
fn may_sync(
    steps: &[Vec<String>],
    current: &[Application],
    statuses: &[AppProgress],
) -> BTreeSet<String> {
    let exists: BTreeSet<&str> = current.iter().map(|a| a.metadata.name.as_str()).collect();
    let mut out = BTreeSet::new();
    for step in steps {
        out.extend(step.iter().cloned());
        let done = step.iter().all(|name| {
            exists.contains(name.as_str())
                && statuses
                    .iter()
                    .find(|s| &s.application == name)
                    .is_some_and(|s| s.status == state::HEALTHY)
        });
        if !done {
            break;
        }
    }
    out
}

/// `UpdateApplicationSetApplicationStatusProgress`: Waiting entries of the steps that may
/// sync become Pending, at most `maxUpdate` of a step Pending or Progressing at once.
fn progress(
    set: &ApplicationSet,
    statuses: &[AppProgress],
    may_sync: &BTreeSet<String>,
    step_of: &BTreeMap<String, usize>,
    issues: &mut Issues,
    now: &str,
) -> Vec<AppProgress> {
    if !has_rollout_steps(set) {
        return Vec::new();
    }
    let steps = steps_of(set);
    // An Application no step selects counts in the first step, as upstream's map lookup
    // defaults it to 0.
    let step_index = |name: &str| step_of.get(name).copied().unwrap_or(0);
    let mut updating = vec![0usize; steps.len()];
    let mut total = vec![0usize; steps.len()];
    for s in statuses {
        let i = step_index(&s.application);
        total[i] += 1;
        if s.status == state::PENDING || s.status == state::PROGRESSING {
            updating[i] += 1;
        }
    }
    statuses
        .iter()
        .map(|s| {
            let i = step_index(&s.application);
            let allowed = match &steps[i].max_update {
                None => true,
                Some(max) => {
                    let limit = match scaled(max, total[i]) {
                        Ok(n) => n,
                        Err(()) => {
                            if !issues.invalid_max_updates.iter().any(|(step, _)| *step == i) {
                                issues.invalid_max_updates.push((i, shown(max)));
                            }
                            0
                        }
                    };
                    // A percentage above 0% always lets one through.
                    let limit = match max {
                        IntOrString::String(text) if text != "0%" && limit < 1 => 1,
                        _ => limit,
                    };
                    (updating[i] as i64) < limit
                }
            };
            let mut s = s.clone();
            if s.status == state::WAITING && may_sync.contains(&s.application) && allowed {
                s.status = state::PENDING.into();
                s.message = "Application moved to Pending status, watching for the Application resource to start Progressing".into();
                s.last_transition_time = Some(now.to_string());
                updating[i] += 1;
            }
            s
        })
        .collect()
}

/// `GetScaledValueFromIntOrPercent` rounding down.
fn scaled(value: &IntOrString, total: usize) -> Result<i64, ()> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            let percent: i64 = text.strip_suffix('%').ok_or(())?.parse().map_err(|_| ())?;
            Ok((percent as f64 * total as f64 / 100.0).floor() as i64)
        }
    }
}

fn shown(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(text) => text.clone(),
    }
}

/// `getProgressingCondition`: the first step with an Application not Healthy.
fn progressing(set: &ApplicationSet, statuses: &[AppProgress]) -> Condition {
    let mut complete: BTreeMap<&str, bool> = BTreeMap::new();
    for s in statuses {
        let healthy = s.status == state::HEALTHY;
        complete
            .entry(s.step.as_str())
            .and_modify(|done| *done = *done && healthy)
            .or_insert(healthy);
    }
    let step = (1..=steps_of(set).len())
        .map(|i| i.to_string())
        .find(|step| complete.get(step.as_str()) == Some(&false));
    match step {
        Some(step) => condition(
            "RolloutProgressing",
            ConditionStatus::True,
            "ApplicationSetModified",
            &format!("ApplicationSet is performing rollout of step {step}"),
        ),
        None => condition(
            "RolloutProgressing",
            ConditionStatus::False,
            "ApplicationSetRolloutComplete",
            "ApplicationSet Rollout has completed",
        ),
    }
}

/// `getInvalidRolloutConfig` with `ValidationIssues.getConditionMessage`: the first kind
/// of problem, in Argo CD's words.
fn invalid_config(issues: &Issues) -> Condition {
    let steps = |list: &[usize]| list.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>();
    let message = if !issues.invalid_operators.is_empty() {
        let numbers = steps(
            &issues
                .invalid_operators
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>(),
        );
        let operators: Vec<&str> = issues
            .invalid_operators
            .iter()
            .map(|(_, o)| o.as_str())
            .collect();
        if numbers.len() == 1 {
            format!(
                "Step {} has invalid matchExpression operators: {}. Supported Operators are 'In' and 'NotIn'",
                numbers[0],
                operators.join(", ")
            )
        } else {
            format!(
                "Steps {} have invalid matchExpression operators: {}. Supported Operators are 'In' and 'NotIn'",
                numbers.join(", "),
                operators.join(", ")
            )
        }
    } else if !issues.selected_twice.is_empty() {
        let names: Vec<&str> = issues.selected_twice.keys().map(String::as_str).collect();
        let chosen: Vec<String> = issues
            .selected_twice
            .values()
            .map(|s| steps(s).join("-"))
            .collect();
        if names.len() == 1 {
            format!(
                "Application '{}' is selected by multiple steps: ({})",
                names[0], chosen[0]
            )
        } else {
            format!(
                "Applications '{}' are selected by multiple steps: [({})]",
                names.join("', '"),
                chosen.join("), (")
            )
        }
    } else if !issues.invalid_max_updates.is_empty() {
        let numbers = steps(
            &issues
                .invalid_max_updates
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>(),
        );
        let values: Vec<&str> = issues
            .invalid_max_updates
            .iter()
            .map(|(_, v)| v.as_str())
            .collect();
        if numbers.len() == 1 {
            format!(
                "Step {} has an invalid maxUpdate value: {}",
                numbers[0], values[0]
            )
        } else {
            format!(
                "Steps {} have invalid maxUpdate values: [{}]",
                numbers.join(", "),
                values.join(", ")
            )
        }
    } else if !issues.empty_steps.is_empty() {
        format!(
            "Steps [{}] have no applications matching their criteria",
            steps(&issues.empty_steps).join(" ")
        )
    } else {
        return condition(
            "InvalidRolloutConfig",
            ConditionStatus::False,
            "ApplicationSetValidRolloutConfig",
            "Rolling Sync Configured correctly",
        );
    };
    condition(
        "InvalidRolloutConfig",
        ConditionStatus::True,
        "ApplicationSetInvalidRolloutConfig",
        &message,
    )
}

fn condition(kind: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    Condition {
        kind: kind.into(),
        status,
        reason: reason.into(),
        message: message.into(),
    }
}

/// `disableAutomatedSync`: `automated.enabled: false` where the template turns it on.
pub fn disable_automated_sync(app: &mut Application) {
    if let Some(automated) = app
        .spec
        .sync_policy
        .as_mut()
        .and_then(|p| p.automated.as_mut())
    {
        automated.enabled = Some(false);
    }
}

/// `SyncDesiredApplications`: every desired Application with automated sync off, and a
/// sync operation on those that may sync and are Pending (`syncApplication`: asked by the
/// ApplicationSet controller as an automated sync, five retries unless the template's
/// policy says, its sync options, prune as its automated policy had it).
pub fn with_rollout_syncs(rollout: &Rollout, desired: &mut [Application]) {
    for app in desired {
        let policy = app.spec.sync_policy.clone();
        let prune = policy
            .as_ref()
            .and_then(|p| p.automation())
            .is_some_and(|a| a.prune);
        disable_automated_sync(app);
        let pending = rollout
            .statuses
            .iter()
            .any(|s| s.application == app.metadata.name && s.status == state::PENDING);
        if !(pending && rollout.may_sync.contains(&app.metadata.name)) {
            continue;
        }
        let mut sync = json!({});
        let mut retry = json!({"limit": 5});
        if let Some(policy) = &policy {
            if let Some(spec_retry) = &policy.retry {
                retry = serde_json::to_value(spec_retry).unwrap_or(retry);
            }
            if !policy.sync_options.is_empty() {
                sync["syncOptions"] = json!(policy.sync_options);
            }
            if prune {
                sync["prune"] = json!(true);
            }
        }
        app.operation = Some(json!({
            "initiatedBy": {"username": SYNC_INITIATOR, "automated": true},
            "info": [{"name": "Reason", "value": "ApplicationSet RollingSync triggered a sync of this Application resource"}],
            "sync": sync,
            "retry": retry,
        }));
    }
}

#[cfg(test)]
mod tests {
    //! Cases from Argo CD's `progressive_sync_test.go` and
    //! `progressive_sync_dependencies_test.go`, with their expected values.
    use super::*;

    const NOW: &str = "2026-11-28T10:00:00Z";
    const EARLIER: &str = "2026-11-28T09:55:00Z";

    fn set(steps: Value, statuses: Value) -> ApplicationSet {
        ApplicationSet::from_value(&json!({
            "metadata": {"name": "name", "namespace": "argocd"},
            "spec": {"generators": [], "template": {},
                     "strategy": {"type": "RollingSync", "rollingSync": {"steps": steps}}},
            "status": {"applicationStatus": statuses},
        }))
        .unwrap()
    }

    fn app(name: &str, labels: Value, status: Value) -> Application {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"project": "default"},
            "status": status,
        }))
        .unwrap()
    }

    fn labelled(name: &str, labels: Value) -> Application {
        app(name, labels, json!({}))
    }

    fn names(step: &[String]) -> Vec<&str> {
        step.iter().map(String::as_str).collect()
    }

    #[test]
    fn steps_select_by_in_and_not_in_and_report_their_problems() {
        // "in a mix of 'In' and 'NotIn' selectors, 'NotIn' takes precedence"
        let mixed = set(
            json!([{"matchExpressions": [
                {"key": "env", "operator": "In", "values": ["qa", "prod"]},
                {"key": "region", "operator": "NotIn", "values": ["us-west-2"]}]}]),
            json!([]),
        );
        let apps = [
            labelled("app-dev", json!({"env": "dev"})),
            labelled("app-qa1", json!({"env": "qa", "region": "us-west-2"})),
            labelled("app-qa2", json!({"env": "qa", "region": "us-east-2"})),
        ];
        let (steps, step_of, issues) = group_into_steps(&mixed, &apps);
        assert_eq!(names(&steps[0]), ["app-qa2"]);
        assert_eq!(step_of.get("app-qa2"), Some(&0));
        assert_eq!(invalid_config(&issues).status, ConditionStatus::False);

        // "multiple 'NotIn' selectors remove Applications with missing labels on any match"
        let not_in = set(
            json!([{"matchExpressions": [
                {"key": "region", "operator": "NotIn", "values": ["us-east-2"]},
                {"key": "env", "operator": "NotIn", "values": ["qa"]}]}]),
            json!([]),
        );
        let apps = [
            labelled("app-qa1", json!({"env": "qa"})),
            labelled("app-qa2", json!({"env": "qa", "region": "us-east-2"})),
        ];
        let (steps, _, issues) = group_into_steps(&not_in, &apps);
        assert!(steps[0].is_empty());
        assert_eq!(
            invalid_config(&issues).message,
            "Steps [1] have no applications matching their criteria"
        );

        // "app selected in multiple steps is captured as validation issue"
        let twice = set(
            json!([{"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
                   {"matchExpressions": [{"key": "region", "operator": "In", "values": ["us-west-2"]}]}]),
            json!([]),
        );
        let apps = [
            labelled("app-dev", json!({"env": "dev", "region": "us-west-2"})),
            labelled("app-qa", json!({"region": "us-west-2"})),
        ];
        let (steps, step_of, issues) = group_into_steps(&twice, &apps);
        assert_eq!(names(&steps[0]), ["app-dev"]);
        assert_eq!(names(&steps[1]), ["app-dev", "app-qa"]);
        assert_eq!((step_of["app-dev"], step_of["app-qa"]), (0, 1));
        let condition = invalid_config(&issues);
        assert_eq!(
            (
                condition.status,
                condition.reason.as_str(),
                condition.message.as_str()
            ),
            (
                ConditionStatus::True,
                "ApplicationSetInvalidRolloutConfig",
                "Application 'app-dev' is selected by multiple steps: (1-2)"
            )
        );

        let bad = set(
            json!([{"matchExpressions": [{"key": "env", "operator": "Exists", "values": []}]}]),
            json!([]),
        );
        let (_, _, issues) = group_into_steps(&bad, &[labelled("a", json!({"env": "dev"}))]);
        assert_eq!(
            invalid_config(&issues).message,
            "Step 1 has invalid matchExpression operators: Exists. Supported Operators are 'In' and 'NotIn'"
        );
    }

    fn status(application: &str, status: &str, since: &str, revisions: Value) -> Value {
        json!({"application": application, "message": "", "status": status, "step": "1",
               "targetRevisions": revisions, "lastTransitionTime": since})
    }

    fn app_status(health: &str, sync: &str, revision: &str, reconciled: &str) -> Value {
        json!({"health": {"status": health}, "sync": {"status": sync, "revision": revision},
               "reconciledAt": reconciled})
    }

    /// The entry of `name` after one [`rollout`].
    fn after(set: &ApplicationSet, current: &[Application]) -> AppProgress {
        let rollout = rollout(set, current, current, NOW).unwrap();
        rollout.statuses[0].clone()
    }

    /// The entry of `app1` in a one-step set, from `previous` (since `since`, at revision
    /// `next`) and the Application's `status`.
    fn moved(previous: &str, since: &str, status: Value) -> AppProgress {
        let one_step = set(
            json!([{"matchExpressions": []}]),
            json!([self::status("app1", previous, since, json!(["next"]))]),
        );
        after(&one_step, &[app("app1", json!({}), status)])
    }

    #[test]
    fn an_applications_entry_moves_as_its_status_shows() {
        let one_step = |entries: Value| set(json!([{"matchExpressions": []}]), entries);
        // "moves a new application to healthy when app is synced and healthy"
        let entry = after(
            &one_step(json!([])),
            &[app(
                "app1",
                json!({}),
                app_status("Healthy", "Synced", "next", NOW),
            )],
        );
        assert_eq!(
            (
                entry.status.as_str(),
                entry.message.as_str(),
                entry.step.as_str()
            ),
            (
                "Healthy",
                "Application resource has synced, updating status to Healthy",
                "1"
            )
        );
        assert_eq!(entry.target_revisions, ["next"]);

        // "moves an application with new version to waiting when it is OutOfSync": and then
        // Pending, its step being the first.
        let entry = after(
            &one_step(json!([status(
                "app1",
                "Healthy",
                EARLIER,
                json!(["current"])
            )])),
            &[app(
                "app1",
                json!({}),
                app_status("Healthy", "OutOfSync", "next", NOW),
            )],
        );
        assert_eq!(entry.status, "Pending");
        let (set_, current) = (
            one_step(json!([status(
                "app1",
                "Healthy",
                EARLIER,
                json!(["current"])
            )])),
            [app(
                "app1",
                json!({}),
                app_status("Healthy", "OutOfSync", "next", NOW),
            )],
        );
        let (_, step_of, _) = group_into_steps(&set_, &current);
        let updated = updated_statuses(
            &previous_statuses(&set_),
            &current,
            &current,
            &step_of,
            &[],
            NOW,
        );
        assert_eq!(
            (updated[0].status.as_str(), updated[0].message.as_str()),
            (
                "Waiting",
                "Application has pending changes, setting status to Waiting"
            )
        );

        // "moves a pending application to progressing when operation is running"
        let mut running = app_status("Healthy", "OutOfSync", "next", NOW);
        running["operationState"] =
            json!({"phase": "Running", "startedAt": "2026-11-28T09:59:00Z"});
        let entry = moved("Pending", EARLIER, running);
        assert_eq!(
            (entry.status.as_str(), entry.message.as_str()),
            (
                "Progressing",
                "Application resource became Progressing, updating status from Pending to Progressing"
            )
        );

        // "does not move a pending application to progressing if sync happened before transition"
        let mut before = app_status("Progressing", "Synced", "next", NOW);
        before["operationState"] = json!({"phase": "Succeeded", "startedAt": EARLIER});
        let entry = moved("Pending", NOW, before);
        assert_eq!(entry.status, "Pending");

        // "does not move a pending application to progressing if it has not been reconciled
        // since transition"
        let mut stale = app_status("Healthy", "Synced", "next", EARLIER);
        stale["operationState"] =
            json!({"phase": "Succeeded", "startedAt": "2026-11-28T09:59:00Z"});
        let entry = moved("Pending", "2026-11-28T09:58:00Z", stale);
        assert_eq!(entry.status, "Pending");

        // "moves a pending application with InvalidSpecError errors to progressing"
        let mut invalid = app_status("Missing", "Unknown", "next", NOW);
        invalid["conditions"] = json!([{"type": "InvalidSpecError", "message": "x"}]);
        let entry = moved("Pending", EARLIER, invalid);
        assert_eq!(
            entry.message,
            "Application resource has error and cannot sync, updating status to Progressing"
        );

        // "moves a progressing application to healthy when it is synced and healthy", and
        // not while it is not healthy.
        let entry = moved(
            "Progressing",
            EARLIER,
            app_status("Healthy", "Synced", "next", NOW),
        );
        assert_eq!(
            entry.message,
            "Application resource became Healthy, updating status from Progressing to Healthy"
        );
        let entry = moved(
            "Progressing",
            EARLIER,
            app_status("Progressing", "Synced", "next", NOW),
        );
        assert_eq!(entry.status, "Progressing");

        // "application status that is not in steps is updated to -1"
        let other_step = set(
            json!([{"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}]),
            json!([]),
        );
        let entry = after(
            &other_step,
            &[app(
                "app1",
                json!({"env": "dev"}),
                app_status("Healthy", "Synced", "next", NOW),
            )],
        );
        assert_eq!(entry.step, "-1");
    }

    #[test]
    fn a_spec_the_generators_changed_waits_even_at_the_same_revision() {
        let one_step = set(
            json!([{"matchExpressions": []}]),
            json!([status("app1", "Healthy", EARLIER, json!(["next"]))]),
        );
        let live = app(
            "app1",
            json!({}),
            app_status("Healthy", "Synced", "next", NOW),
        );
        let mut wanted = live.clone();
        wanted.spec.revision_history_limit = Some(3);
        let (_, step_of, _) = group_into_steps(&one_step, std::slice::from_ref(&live));
        let updated = updated_statuses(
            &previous_statuses(&one_step),
            std::slice::from_ref(&live),
            &[wanted],
            &step_of,
            &[],
            NOW,
        );
        // Synced and Healthy as the app is, it is not kept Waiting (upstream moves it on).
        assert_eq!(updated[0].status, "Healthy");
        assert_eq!(
            updated[0].message,
            "Application resource has synced, updating status to Healthy"
        );
        // An automated policy the set turns off is no change.
        let mut automated = live.clone();
        automated.spec.sync_policy =
            serde_json::from_value(json!({"automated": {"prune": true}})).ok();
        let mut written = automated.clone();
        disable_automated_sync(&mut written);
        assert!(specs_equivalent(&[], &written, &automated));
        assert!(!specs_equivalent(&[], &automated, &automated));
    }

    fn waiting_step(max_update: Value, states: &[&str]) -> (ApplicationSet, Vec<Application>) {
        let entries: Vec<Value> = states
            .iter()
            .enumerate()
            .map(|(i, s)| status(&format!("app{}", i + 1), s, EARLIER, json!(["r"])))
            .collect();
        let set = set(
            json!([{"matchExpressions": [], "maxUpdate": max_update},
                   {"matchExpressions": [{"key": "env", "operator": "In", "values": ["none"]}]}]),
            Value::Array(entries),
        );
        let apps = (1..=states.len())
            .map(|i| {
                app(
                    &format!("app{i}"),
                    json!({}),
                    app_status("Healthy", "OutOfSync", "r", NOW),
                )
            })
            .collect();
        (set, apps)
    }

    fn pending(set: &ApplicationSet, apps: &[Application]) -> Vec<String> {
        rollout(set, apps, apps, NOW)
            .unwrap()
            .statuses
            .into_iter()
            .filter(|s| s.status == "Pending")
            .map(|s| s.application)
            .collect()
    }

    #[test]
    fn reverse_deletion_goes_from_the_last_step_to_the_first() {
        let mut reversed = set(
            json!([{"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
                   {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}]),
            json!([]),
        );
        let apps = [
            labelled("a-dev", json!({"env": "dev"})),
            labelled("b-prod", json!({"env": "prod"})),
            labelled("c-prod", json!({"env": "prod"})),
            labelled("unselected", json!({"env": "test"})),
        ];
        assert!(!deletes_in_reverse(&reversed));
        reversed.spec.strategy.as_mut().unwrap().deletion_order = "reverse".into();
        assert!(deletes_in_reverse(&reversed));
        assert_eq!(
            reverse_deletion_order(&reversed, &apps),
            ["b-prod", "c-prod", "a-dev"]
        );
    }

    #[test]
    fn max_update_bounds_the_applications_of_a_step_syncing_at_once() {
        // "does not update a status if maxUpdate has already been reached": 3 at once, one
        // Progressing and one Pending leave room for one more, the first by name.
        let (s, apps) = waiting_step(json!(3), &["Progressing", "Waiting", "Waiting", "Pending"]);
        assert_eq!(pending(&s, &apps), ["app2", "app4"]);
        // "rounds down for maxUpdate set to percentage string": 50% of 3 is 1.
        let (s, apps) = waiting_step(json!("50%"), &["Waiting", "Waiting", "Waiting"]);
        assert_eq!(pending(&s, &apps), ["app1"]);
        // "does not update any applications with maxUpdate set to 0"
        let (s, apps) = waiting_step(json!(0), &["Waiting", "Waiting"]);
        assert!(pending(&s, &apps).is_empty());
        let (s, apps) = waiting_step(json!("0%"), &["Waiting", "Waiting"]);
        assert!(pending(&s, &apps).is_empty());
        // "updates all applications with maxUpdate set to 100%"
        let (s, apps) = waiting_step(json!("100%"), &["Waiting", "Waiting", "Waiting"]);
        assert_eq!(pending(&s, &apps), ["app1", "app2", "app3"]);
        // "updates at least 1 application with maxUpdate >0%": 10% of 3 is 0, made 1.
        let (s, apps) = waiting_step(json!("10%"), &["Waiting", "Waiting", "Waiting"]);
        assert_eq!(pending(&s, &apps), ["app1"]);
        // Not a number nor a percentage: reported, and one at a time.
        let (s, apps) = waiting_step(json!("many"), &["Waiting", "Waiting"]);
        let rollout = rollout(&s, &apps, &apps, NOW).unwrap();
        assert_eq!(
            rollout.conditions[0].message,
            "Step 1 has an invalid maxUpdate value: many"
        );
        assert_eq!(pending(&s, &apps), ["app1"]);
    }

    #[test]
    fn a_step_syncs_only_once_every_application_before_it_is_healthy() {
        let two_steps = |dev: &str| {
            set(
                json!([{"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
                       {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}]),
                json!([
                    {"application": "dev", "status": dev, "step": "1", "message": "", "targetRevisions": ["r"], "lastTransitionTime": EARLIER},
                    {"application": "prod", "status": "Waiting", "step": "2", "message": "", "targetRevisions": ["r"], "lastTransitionTime": EARLIER},
                ]),
            )
        };
        let apps = [
            app(
                "dev",
                json!({"env": "dev"}),
                app_status("Progressing", "Synced", "r", NOW),
            ),
            app(
                "prod",
                json!({"env": "prod"}),
                app_status("Healthy", "OutOfSync", "r", NOW),
            ),
        ];
        let held = rollout(&two_steps("Progressing"), &apps, &apps, NOW).unwrap();
        assert_eq!(held.may_sync, BTreeSet::from(["dev".to_string()]));
        assert_eq!(held.statuses[1].status, "Waiting");
        assert_eq!(
            (
                held.conditions[1].status,
                held.conditions[1].message.as_str()
            ),
            (
                ConditionStatus::True,
                "ApplicationSet is performing rollout of step 1"
            )
        );
        let mut apps = apps;
        apps[0] = app(
            "dev",
            json!({"env": "dev"}),
            app_status("Healthy", "Synced", "r", NOW),
        );
        let next = rollout(&two_steps("Healthy"), &apps, &apps, NOW).unwrap();
        assert!(next.may_sync.contains("prod"));
        assert_eq!(next.statuses[1].status, "Pending");
        assert_eq!(
            next.conditions[1].message,
            "ApplicationSet is performing rollout of step 2"
        );

        // Pending ones get the sync operation, with automated sync turned off for all.
        let mut desired = apps.to_vec();
        for app in &mut desired {
            app.spec.sync_policy = serde_json::from_value(json!({
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": ["CreateNamespace=true"],
                "retry": {"limit": 2},
            }))
            .ok();
        }
        with_rollout_syncs(&next, &mut desired);
        for app in &desired {
            assert_eq!(
                app.spec
                    .sync_policy
                    .as_ref()
                    .unwrap()
                    .automated
                    .as_ref()
                    .unwrap()
                    .enabled,
                Some(false)
            );
        }
        assert!(desired[0].operation.is_none());
        // Argo CD's `TestSyncApplication` "Retry and SyncOptions from SyncPolicy are applied".
        assert_eq!(
            desired[1].operation,
            Some(json!({
                "initiatedBy": {"username": "applicationset-controller", "automated": true},
                "info": [{"name": "Reason", "value": "ApplicationSet RollingSync triggered a sync of this Application resource"}],
                "sync": {"syncOptions": ["CreateNamespace=true"], "prune": true},
                "retry": {"limit": 2},
            }))
        );
        let done = rollout(
            &set(
                json!([{"matchExpressions": []}]),
                json!([{"application": "dev", "status": "Healthy", "step": "1", "message": "", "targetRevisions": ["r"]}]),
            ),
            &apps[..1],
            &apps[..1],
            NOW,
        )
        .unwrap();
        assert_eq!(
            (
                done.conditions[1].status,
                done.conditions[1].reason.as_str(),
                done.conditions[1].message.as_str()
            ),
            (
                ConditionStatus::False,
                "ApplicationSetRolloutComplete",
                "ApplicationSet Rollout has completed"
            )
        );
    }
}
