//! GitOps Promoter (`promoter.argoproj.io`). Every kind shares one gate: deletion (naming
//! the promoter finalizers still held, where the kind has some), then the Ready condition
//! (stale, false or unknown), then what the kind itself reports.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    if group != "promoter.argoproj.io" {
        return None;
    }
    Some(match kind {
        "ArgoCDCommitStatus" => argocd_commit_status,
        "ChangeTransferPolicy" => change_transfer_policy,
        "ClusterScmProvider" => cluster_scm_provider,
        "CommitStatus" => commit_status,
        "GitCommitStatus" => git_commit_status,
        "GitRepository" => git_repository,
        "PromotionStrategy" => promotion_strategy,
        "PullRequest" => pull_request,
        "ScmProvider" => scm_provider,
        "TimedCommitStatus" => timed_commit_status,
        "WebRequestCommitStatus" => web_request_commit_status,
        _ => return None,
    })
}

/// A promoter finalizer: what the controller waits for, and the risk of removing it.
type Finalizer = (&'static str, &'static str, &'static str);

/// One kind's words for the shared gate.
struct Gate {
    /// Before the controller has written a status.
    initializing: &'static str,
    /// While being deleted (followed by the held finalizers, if `finalizers` is not empty).
    deleting: &'static str,
    finalizers: &'static [Finalizer],
    /// The Ready condition has not seen the current generation.
    stale: &'static str,
    /// Ready is "False" with reason ReconciliationError: this, then the message.
    failed: &'static str,
    /// Ready is "False" for another reason: this, then `(<reason>): <message>`.
    failed_because: &'static str,
    /// Ready is "Unknown": this, then `(<reason>): <message>`; `None` where the kind does
    /// not look at Unknown.
    unknown: Option<&'static str>,
    /// No Ready condition at all.
    not_ready: &'static str,
    /// The condition types that count as Ready.
    ready_types: &'static [&'static str],
}

/// The gate's verdict, or `None` when the object passed it.
fn gate(obj: &Value, g: &Gate) -> Option<Verdict> {
    if truthy(obj, &["metadata", "deletionTimestamp"]) {
        return Some(progressing(deleting(obj, g)));
    }
    if !truthy(obj, &["status"]) {
        return Some(progressing(g.initializing));
    }
    let generation = get(obj, &["metadata", "generation"]).filter(|v| v.as_bool() != Some(false));
    let mut has_ready = false;
    for c in conditions(obj) {
        if !field(c, "type").is_some_and(|t| g.ready_types.contains(&t)) {
            continue;
        }
        has_ready = true;
        let seen = get(c, &["observedGeneration"]).filter(|v| v.as_bool() != Some(false));
        if let (Some(seen), Some(generation)) = (seen, generation)
            && !same(Some(seen), Some(generation))
        {
            return Some(progressing(g.stale));
        }
        let reason = |default: &str| field(c, "reason").unwrap_or(default).to_string();
        match field(c, "status") {
            Some("False") => {
                let msg = field(c, "message").unwrap_or("Unknown error");
                let why = reason("Unknown");
                return Some(degraded(if why == "ReconciliationError" {
                    format!("{}{msg}", g.failed)
                } else {
                    format!("{}({why}): {msg}", g.failed_because)
                }));
            }
            Some("Unknown") if g.unknown.is_some() => {
                let msg = field(c, "message").unwrap_or("Unknown");
                let unknown = g.unknown.unwrap_or_default();
                return Some(progressing(format!(
                    "{unknown}({}): {msg}",
                    reason("Unknown")
                )));
            }
            _ => {}
        }
    }
    if !has_ready {
        return Some(progressing(g.not_ready));
    }
    None
}

/// The deletion message: the base, then for each held finalizer the kind knows, what it
/// waits for and the risk of removing it by hand.
fn deleting(obj: &Value, g: &Gate) -> String {
    if g.finalizers.is_empty() || !truthy(obj, &["metadata", "finalizers"]) {
        return g.deleting.to_string();
    }
    let mut parts = vec![g.deleting.to_string()];
    for f in items(obj, &["metadata", "finalizers"]) {
        if let Some((name, wait, risk)) = g.finalizers.iter().find(|(n, ..)| f.as_str() == Some(n))
        {
            parts.push(format!("{name}: {wait} Risk if removed manually: {risk}"));
        }
    }
    parts.join(" ")
}

/// The first seven characters of a SHA ("" for none).
fn short_sha(sha: Option<&str>) -> &str {
    match sha {
        None => "",
        Some(s) => s.get(..7).unwrap_or(s),
    }
}

/// The counts and the lists of pending and failed keys, as the scripts write them (a
/// status without a key is counted but not named: `table.insert` of nil adds nothing).
fn tally_message(statuses: &[Value]) -> String {
    let (pending, success, failed) = counts(statuses);
    let keys = |phase: &str| {
        statuses
            .iter()
            .filter(|s| field(s, "phase") == Some(phase))
            .filter_map(|s| concat_text(get(s, &["key"])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut m = format!("{pending} pending, {success} successful, {failed} failed. ");
    if pending > 0 {
        m.push_str(&format!("Pending commit statuses: {}. ", keys("pending")));
    }
    if failed > 0 {
        m.push_str(&format!("Failed commit statuses: {}. ", keys("failure")));
    }
    m
}

/// (pending, successful, failed) counts.
fn counts(statuses: &[Value]) -> (usize, usize, usize) {
    let phase = |p: &str| {
        statuses
            .iter()
            .filter(|s| field(s, "phase") == Some(p))
            .count()
    };
    (phase("pending"), phase("success"), phase("failure"))
}

/// Per-environment gates (GitCommitStatus, TimedCommitStatus, WebRequestCommitStatus):
/// any failed branch degrades, then any branch not yet "success" (a missing phase is
/// "pending") progresses. `words`: reconciled with no environments, the failed and
/// pending prefixes, and the passed prefix before the count.
fn environments(obj: &Value, words: [&str; 4]) -> Verdict {
    let [reconciled, failed, pending, passed] = words;
    let envs = items(obj, &["status", "environments"]);
    if envs.is_empty() {
        return healthy(reconciled);
    }
    let (mut pending_branches, mut failed_branches, mut success) = (vec![], vec![], 0);
    for env in envs {
        let branch = concat_text(get(env, &["branch"])).unwrap_or_else(|| "?".to_string());
        match field(env, "phase").unwrap_or("pending") {
            "failure" => failed_branches.push(branch),
            "success" => success += 1,
            _ => pending_branches.push(branch),
        }
    }
    if !failed_branches.is_empty() {
        return degraded(format!("{failed}{}", failed_branches.join(", ")));
    }
    if !pending_branches.is_empty() {
        return progressing(format!("{pending}{}", pending_branches.join(", ")));
    }
    healthy(format!("{passed}{success} environment(s)"))
}

const READY: &[&str] = &["Ready"];

fn argocd_commit_status(obj: &Value) -> Verdict {
    if let Some(v) = gate(
        obj,
        &Gate {
            initializing: "Initializing Argo CD commit status",
            deleting: "Argo CD commit status is being deleted",
            finalizers: &[],
            stale: "Waiting for Argo CD commit status spec update to be observed",
            failed: "Argo CD commit status reconciliation failed: ",
            failed_because: "Argo CD commit status reconciliation failed ",
            unknown: None,
            not_ready: "Argo CD commit status is not ready yet",
            ready_types: READY,
        },
    ) {
        return v;
    }
    let apps = len(obj, &["status", "applicationsSelected"]);
    if apps == 0 {
        return degraded("Argo CD commit status has no applications configured");
    }
    healthy(format!(
        "Argo CD commit status is healthy and is tracking {apps} applications"
    ))
}

fn change_transfer_policy(obj: &Value) -> Verdict {
    if let Some(v) = gate(
        obj,
        &Gate {
            initializing: "Initializing change transfer policy",
            deleting: "Change transfer policy is being deleted.",
            finalizers: &[(
                "changetransferpolicy.promoter.argoproj.io/finalizer",
                "Waiting to clear related PullRequest finalizers and finish cleanup before this policy is removed.",
                "The 'changetransferpolicy.promoter.argoproj.io/pullrequest-finalizer' finalizer may not be cleaned up from PullRequests owned by this ChangeTransferPolicy.",
            )],
            stale: "Waiting for change transfer policy spec update to be observed",
            failed: "Change transfer policy reconciliation failed: ",
            failed_because: "Change transfer policy reconciliation failed ",
            unknown: None,
            not_ready: "Change transfer policy is not ready yet",
            ready_types: READY,
        },
    ) {
        return v;
    }
    let dry_sha = |side: &str| text(obj, &["status", side, "dry", "sha"]).filter(|s| !s.is_empty());
    let Some(active) = dry_sha("active") else {
        return progressing("The active commit DRY SHA is missing or empty.");
    };
    let Some(proposed) = dry_sha("proposed") else {
        return progressing("The proposed commit DRY SHA is missing or empty.");
    };
    if proposed != active {
        let statuses = items(obj, &["status", "proposed", "commitStatuses"]);
        return progressing(format!(
            "Promotion in progress from '{}' to '{}': {}",
            short_sha(Some(active)),
            short_sha(Some(proposed)),
            tally_message(statuses)
        ));
    }
    let statuses = items(obj, &["status", "active", "commitStatuses"]);
    let (pending, _, failed) = counts(statuses);
    if pending > 0 || failed > 0 {
        return healthy(format!(
            "Environment is up-to-date, but there are non-successful active commit statuses: {}",
            tally_message(statuses)
        ));
    }
    healthy(format!(
        "Environment is up-to-date on commit {}.",
        short_sha(Some(active))
    ))
}

fn cluster_scm_provider(obj: &Value) -> Verdict {
    gate(
        obj,
        &Gate {
            initializing: "Initializing cluster SCM provider",
            deleting: "ClusterScmProvider is being deleted.",
            finalizers: &[(
                "clusterscmprovider.promoter.argoproj.io/finalizer",
                "Waiting until no GitRepository still references this cluster-wide SCM provider.",
                "GitRepository objects can reference a provider that no longer exists.",
            )],
            stale: "Waiting for ClusterScmProvider spec update to be observed",
            failed: "Cluster SCM provider validation failed: ",
            failed_because: "Cluster SCM provider not ready ",
            unknown: Some("Cluster SCM provider readiness unknown "),
            not_ready: "ClusterScmProvider Ready condition is missing",
            ready_types: READY,
        },
    )
    .unwrap_or_else(|| healthy("Cluster SCM provider is ready"))
}

fn commit_status(obj: &Value) -> Verdict {
    if let Some(v) = gate(
        obj,
        &Gate {
            initializing: "Initializing commit status",
            deleting: "Commit status is being deleted",
            finalizers: &[],
            stale: "Waiting for commit status spec update to be observed",
            failed: "Commit status reconciliation failed: ",
            failed_because: "Commit status reconciliation failed ",
            unknown: None,
            not_ready: "Commit status is not ready yet",
            ready_types: READY,
        },
    ) {
        return v;
    }
    let sha = get(obj, &["status", "sha"]).filter(|v| v.as_bool() != Some(false));
    let phase = get(obj, &["status", "phase"]).filter(|v| v.as_bool() != Some(false));
    let (Some(sha), Some(phase)) = (sha, phase) else {
        return healthy("Commit status is healthy");
    };
    match (concat_text(Some(sha)), concat_text(Some(phase))) {
        (Some(sha), Some(phase)) => {
            healthy(format!("Commit status for commit {sha} reports {phase}"))
        }
        _ => script_error("status.sha or status.phase is not a string"),
    }
}

fn git_commit_status(obj: &Value) -> Verdict {
    gate(
        obj,
        &Gate {
            initializing: "Initializing git commit validation",
            deleting: "GitCommitStatus is being deleted",
            finalizers: &[],
            stale: "Waiting for GitCommitStatus spec update to be observed",
            failed: "Git commit validation failed: ",
            failed_because: "Git commit validation not ready ",
            unknown: Some("Git commit validation status unknown "),
            not_ready: "GitCommitStatus Ready condition is missing",
            ready_types: READY,
        },
    )
    .unwrap_or_else(|| {
        environments(
            obj,
            [
                "Git commit validation reconciled",
                "Git commit validation failed for branch(es): ",
                "Git commit validation pending for branch(es): ",
                "Git commit validation passed for ",
            ],
        )
    })
}

fn git_repository(obj: &Value) -> Verdict {
    gate(
        obj,
        &Gate {
            initializing: "Initializing Git repository",
            deleting: "GitRepository is being deleted.",
            finalizers: &[(
                "gitrepository.promoter.argoproj.io/finalizer",
                "Waiting until no non-deleting PullRequests still reference this repository.",
                "repository metadata may be removed while promotions still depend on it.",
            )],
            stale: "Waiting for GitRepository spec update to be observed",
            failed: "Git repository validation failed: ",
            failed_because: "Git repository not ready ",
            unknown: Some("Git repository readiness unknown "),
            not_ready: "GitRepository Ready condition is missing",
            ready_types: READY,
        },
    )
    .unwrap_or_else(|| healthy("Git repository is ready"))
}

/// The active dry SHA of an environment, if not empty.
fn active_sha(env: &Value) -> Option<&str> {
    text(env, &["active", "dry", "sha"]).filter(|s| !s.is_empty())
}

/// The proposed dry SHA of an environment: the hydrator note's, else the proposed commit's.
fn proposed_dry_sha(env: &Value) -> Option<&str> {
    text(env, &["proposed", "note", "drySha"])
        .filter(|s| !s.is_empty())
        .or_else(|| text(env, &["proposed", "dry", "sha"]).filter(|s| !s.is_empty()))
}

fn promotion_strategy(obj: &Value) -> Verdict {
    if let Some(v) = gate(
        obj,
        &Gate {
            initializing: "Initializing promotion strategy",
            deleting: "Promotion strategy is being deleted",
            finalizers: &[],
            stale: "Waiting for promotion strategy spec update to be observed",
            failed: "Promotion strategy reconciliation failed: ",
            failed_because: "Promotion strategy reconciliation failed ",
            unknown: None,
            not_ready: "Promotion strategy is not ready yet",
            ready_types: READY,
        },
    ) {
        return v;
    }
    let envs = items(obj, &["status", "environments"]);
    if envs.is_empty() {
        return degraded("Promotion strategy has no environments configured");
    }
    let branch = |env: &Value| concat_text(get(env, &["branch"]));
    for env in envs {
        let missing = if active_sha(env).is_none() {
            "active"
        } else if proposed_dry_sha(env).is_none() {
            "proposed"
        } else {
            continue;
        };
        let Some(branch) = branch(env) else {
            return script_error("an environment has no branch");
        };
        return progressing(format!(
            "The {missing} commit DRY SHA is missing or empty in environment '{branch}'."
        ));
    }
    let first = proposed_dry_sha(&envs[0]);
    if envs.iter().any(|env| proposed_dry_sha(env) != first) {
        return progressing(
            "Not all environments have the same proposed commit SHA. This likely means the hydrator has not run for all environments yet.",
        );
    }
    // A promotable difference: the proposed commit's own dry SHA (not the note's) differs
    // from the active one; a re-hydration that only moved the note needs no promotion.
    for env in envs {
        if !has(env, &["proposed", "dry"]) {
            return script_error("an environment has no proposed.dry");
        }
        let proposed = text(env, &["proposed", "dry", "sha"]);
        if proposed == active_sha(env) {
            continue;
        }
        let Some(branch) = branch(env) else {
            return script_error("an environment has no branch");
        };
        return progressing(format!(
            "Promotion in progress for environment '{branch}' from '{}' to '{}': {}Hydrator has processed dry commit '{}'. ",
            short_sha(active_sha(env)),
            short_sha(proposed.filter(|s| !s.is_empty())),
            tally_message(items(env, &["proposed", "commitStatuses"])),
            short_sha(proposed_dry_sha(env)),
        ));
    }
    // Environments whose active commit has pending or failed statuses, by branch (a branch
    // listed twice keeps its first place and its last counts, as a Lua table does).
    let mut lagging: Vec<(String, usize, usize)> = Vec::new();
    for env in envs {
        let (pending, _, failed) = counts(items(env, &["active", "commitStatuses"]));
        if pending == 0 && failed == 0 {
            continue;
        }
        let Some(branch) = branch(env) else {
            return script_error("an environment has no branch");
        };
        match lagging.iter_mut().find(|(b, ..)| *b == branch) {
            Some(entry) => *entry = (branch, failed, pending),
            None => lagging.push((branch, failed, pending)),
        }
    }
    if !lagging.is_empty() {
        let listed: Vec<String> = lagging
            .iter()
            .map(|(b, failed, pending)| format!("{b} ({failed} failed, {pending} pending)"))
            .collect();
        return healthy(format!(
            "Environments are up-to-date, but some environments have non-successful commit statuses: {}.",
            listed.join(", ")
        ));
    }
    healthy(format!(
        "All environments are up-to-date on commit '{}'. Hydrator has processed dry commit '{}'.",
        short_sha(active_sha(&envs[0])),
        short_sha(proposed_dry_sha(&envs[0]))
    ))
}

fn pull_request(obj: &Value) -> Verdict {
    if let Some(v) = gate(
        obj,
        &Gate {
            initializing: "Initializing pull request",
            deleting: "Pull request is being deleted.",
            finalizers: &[
                (
                    "pullrequest.promoter.argoproj.io/finalizer",
                    "Waiting for SCM closure or reconciliation of the pull request.",
                    "the real PR can stay open after the CR is gone.",
                ),
                (
                    "changetransferpolicy.promoter.argoproj.io/pullrequest-finalizer",
                    "Waiting for the ChangeTransferPolicy to observe PR identity and state.",
                    "promotion status or history can be wrong or racy.",
                ),
            ],
            stale: "Waiting for pull request spec update to be observed",
            failed: "Pull request reconciliation failed: ",
            failed_because: "Pull request reconciliation failed ",
            unknown: None,
            not_ready: "Pull request is not ready yet",
            ready_types: &["Reconciled", "Ready"],
        },
    ) {
        return v;
    }
    let id = get(obj, &["status", "id"]).filter(|v| v.as_bool() != Some(false));
    let state = get(obj, &["status", "state"]).filter(|v| v.as_bool() != Some(false));
    let (Some(id), Some(state)) = (id, state) else {
        return healthy("Pull request is healthy");
    };
    match (concat_text(Some(state)), concat_text(Some(id))) {
        (Some(state), Some(id)) => healthy(format!("Pull request is {state} as PR {id}")),
        _ => script_error("status.state or status.id is not a string"),
    }
}

fn scm_provider(obj: &Value) -> Verdict {
    gate(
        obj,
        &Gate {
            initializing: "Initializing SCM provider",
            deleting: "ScmProvider is being deleted.",
            finalizers: &[(
                "scmprovider.promoter.argoproj.io/finalizer",
                "Waiting until no GitRepository in this namespace still references this provider.",
                "GitRepository objects can reference a provider that no longer exists.",
            )],
            stale: "Waiting for ScmProvider spec update to be observed",
            failed: "SCM provider validation failed: ",
            failed_because: "SCM provider not ready ",
            unknown: Some("SCM provider readiness unknown "),
            not_ready: "ScmProvider Ready condition is missing",
            ready_types: READY,
        },
    )
    .unwrap_or_else(|| healthy("SCM provider is ready"))
}

fn timed_commit_status(obj: &Value) -> Verdict {
    gate(
        obj,
        &Gate {
            initializing: "Initializing timed commit gate",
            deleting: "TimedCommitStatus is being deleted",
            finalizers: &[],
            stale: "Waiting for TimedCommitStatus spec update to be observed",
            failed: "Timed commit gate failed: ",
            failed_because: "Timed commit gate not ready ",
            unknown: Some("Timed commit gate status unknown "),
            not_ready: "TimedCommitStatus Ready condition is missing",
            ready_types: READY,
        },
    )
    .unwrap_or_else(|| {
        environments(
            obj,
            [
                "Timed commit gate reconciled",
                "Timed commit gate failed for branch(es): ",
                "Timed commit gate pending for branch(es): ",
                "Timed commit gate satisfied for ",
            ],
        )
    })
}

fn web_request_commit_status(obj: &Value) -> Verdict {
    gate(
        obj,
        &Gate {
            initializing: "Initializing web request commit validation",
            deleting: "WebRequestCommitStatus is being deleted",
            finalizers: &[],
            stale: "Waiting for WebRequestCommitStatus spec update to be observed",
            failed: "Web request commit validation failed: ",
            failed_because: "Web request commit validation not ready ",
            unknown: Some("Web request commit validation unknown "),
            not_ready: "WebRequestCommitStatus Ready condition is missing",
            ready_types: READY,
        },
    )
    .unwrap_or_else(|| {
        environments(
            obj,
            [
                "Web request commit validation reconciled",
                "Web request validation failed for branch(es): ",
                "Web request validation pending for branch(es): ",
                "Web request validation passed for ",
            ],
        )
    })
}
