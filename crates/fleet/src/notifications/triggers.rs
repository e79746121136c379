//! Triggers (`trigger.<name>` in `argocd-notifications-cm`): a list of conditions, each a
//! `when` expression, the templates it `send`s, an optional `oncePer` expression and a
//! `description` — notifications-engine's `pkg/triggers`.
//!
//! A condition's key is its index and a hash of its `when` text (`[0].<sha1>`), so that
//! the notified state follows the condition, not its position alone. An empty `when` is
//! `false`. A `when` that fails, or answers anything but `true`, does not fire; an
//! `oncePer` is evaluated only when `when` is true, and printed as Go's `%v` prints it.

use base64::Engine as _;
use sha1::Digest as _;

use super::expr::{Env, Program};

/// One condition of a trigger.
#[derive(Debug, Clone)]
pub struct Condition {
    /// `when`, compiled (or why it does not compile).
    pub when: Result<Program, String>,
    /// `oncePer`, compiled, if set.
    pub once_per: Option<Result<Program, String>>,
    /// The templates to send.
    pub send: Vec<String>,
    /// `description`.
    pub description: String,
    /// `[index].<hash of when>`.
    pub key: String,
}

/// What one condition answered for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionResult {
    /// The condition's key.
    pub key: String,
    /// The `oncePer` value, printed; empty without one.
    pub once_per: String,
    /// The templates to send.
    pub templates: Vec<String>,
    /// Whether it fired.
    pub triggered: bool,
    /// Why `when` or `oncePer` could not be evaluated.
    pub error: Option<String>,
}

/// How a condition is written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawCondition {
    when: String,
    once_per: String,
    send: Vec<String>,
    description: String,
}

/// The hash in a condition's key (notifications-engine's `hash`: SHA-1, base64url
/// without padding).
fn hash(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(text.as_bytes()))
}

/// Reads a trigger's YAML: a list of conditions. A condition whose expressions do not
/// compile is kept with the error, so that the rest of the trigger still works.
pub fn parse(yaml: &str) -> Result<Vec<Condition>, String> {
    let raw: Vec<RawCondition> = super::from_yaml(yaml)?;
    Ok(raw
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let when_text = if c.when.is_empty() { "false" } else { &c.when };
            Condition {
                when: Program::compile(when_text).map_err(|e| e.to_string()),
                once_per: (!c.once_per.is_empty())
                    .then(|| Program::compile(&c.once_per).map_err(|e| e.to_string())),
                send: c.send,
                description: c.description,
                key: format!("[{i}].{}", hash(&c.when)),
            }
        })
        .collect())
}

/// What compiling a trigger's expressions found wrong, one line per expression.
pub fn compile_errors(name: &str, conditions: &[Condition]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in conditions.iter().enumerate() {
        if let Err(e) = &c.when {
            out.push(format!("trigger {name}: condition [{i}] when: {e}"));
        }
        if let Some(Err(e)) = &c.once_per {
            out.push(format!("trigger {name}: condition [{i}] oncePer: {e}"));
        }
    }
    out
}

/// Runs every condition over `env` (`Service.Run`).
pub fn run(conditions: &[Condition], env: &Env) -> Vec<ConditionResult> {
    conditions
        .iter()
        .map(|c| {
            let mut result = ConditionResult {
                key: c.key.clone(),
                once_per: String::new(),
                templates: c.send.clone(),
                triggered: false,
                error: None,
            };
            match &c.when {
                Ok(program) => match program.run(env) {
                    Ok(v) => result.triggered = v.as_bool() == Some(true),
                    Err(e) => result.error = Some(format!("failed to execute when condition: {e}")),
                },
                Err(e) => result.error = Some(format!("when does not compile: {e}")),
            }
            if result.triggered {
                match &c.once_per {
                    Some(Ok(program)) => match program.run(env) {
                        Ok(v) => result.once_per = v.sprint(),
                        Err(e) => {
                            result.error = Some(format!("failed to execute oncePer condition: {e}"))
                        }
                    },
                    Some(Err(e)) => result.error = Some(format!("oncePer does not compile: {e}")),
                    None => {}
                }
            }
            result
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env<'a>(app: &'a serde_json::Value) -> Env<'a> {
        Env::new(chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap())
            .json("app", app)
    }

    /// triggers.md's "Conditions Bundles" example, and notifications-engine's
    /// service_test.go (keys, oncePer, a failing condition).
    #[test]
    fn every_condition_answers_with_its_key_and_once_per() {
        let conditions = parse(
            "- when: app.status?.operationState.phase in ['Succeeded']\n  send: [github-commit-status]\n  oncePer: app.status.sync.revision\n- when: app.status?.operationState.phase in ['Running']\n  send: [github-commit-status]\n- when: app.status?.operationState.phase in ['Error', 'Failed']\n  send: [app-sync-failed, github-commit-status]\n",
        )
        .unwrap();
        let app = json!({"status": {"operationState": {"phase": "Succeeded"}, "sync": {"revision": "abc"}}});
        let results = run(&conditions, &env(&app));
        assert_eq!(results.len(), 3);
        assert!(results[0].triggered);
        assert_eq!(results[0].once_per, "abc");
        assert_eq!(
            results[0].key,
            format!(
                "[0].{}",
                hash("app.status?.operationState.phase in ['Succeeded']")
            )
        );
        assert!(!results[1].triggered);
        assert_eq!(
            results[2].templates,
            ["app-sync-failed", "github-commit-status"]
        );
        // No status: the `?.` guards `status` only, so `.phase` of a nil operationState
        // fails and nothing fires.
        let bare = json!({"status": {}});
        let results = run(&conditions, &env(&bare));
        assert!(results.iter().all(|r| !r.triggered));
        assert!(
            results[0]
                .error
                .as_deref()
                .unwrap()
                .contains("cannot fetch phase from <nil>")
        );
    }

    #[test]
    fn keys_hash_the_when_text_and_an_empty_when_is_false() {
        assert_eq!(
            hash(""),
            "2jmj7l5rSw0yVb_vlWAYkK_YBwk",
            "SHA-1 of nothing, base64url"
        );
        let conditions = parse("- send: [t]\n").unwrap();
        assert_eq!(conditions[0].key, "[0].2jmj7l5rSw0yVb_vlWAYkK_YBwk");
        let app = json!({});
        assert!(!run(&conditions, &env(&app))[0].triggered);
    }

    #[test]
    fn a_nil_once_per_is_printed_as_go_prints_nil() {
        let conditions = parse("- when: 'true'\n  oncePer: app.missing\n  send: [t]\n").unwrap();
        let app = json!({});
        assert_eq!(run(&conditions, &env(&app))[0].once_per, "<nil>");
    }

    #[test]
    fn a_condition_that_does_not_compile_is_named_and_the_others_run() {
        let conditions = parse(
            "- when: app.status.sync.status = 'Unknown'\n  send: [a]\n- when: 'true'\n  send: [b]\n",
        )
        .unwrap();
        let errors = compile_errors("on-broken", &conditions);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(
                "trigger on-broken: condition [0] when: unexpected token Operator(\"=\")"
            ),
            "{errors:?}"
        );
        let app = json!({});
        let results = run(&conditions, &env(&app));
        assert!(!results[0].triggered && results[0].error.is_some());
        assert!(results[1].triggered);
        assert!(
            parse("when: 'true'\n")
                .unwrap_err()
                .contains("invalid type"),
            "a map, not a list"
        );
    }
}
