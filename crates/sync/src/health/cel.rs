//! Flux's custom health checks (`spec.healthCheckExprs` of a Kustomization): CEL
//! expressions per group and kind, evaluated as fluxcd/pkg's `runtime/cel` status
//! evaluator does (RFC 0009) — a `status.observedGeneration` behind `metadata.generation`
//! is InProgress, then `inProgress`, `failed` and `current` in that order, the first true
//! one decides, none true is InProgress. The object's top-level fields are the
//! expressions' variables (`status.conditions.filter(c, c.type == 'Ready')…`).
//!
//! CEL always ends (no loops, comprehensions only over the object's lists). The
//! interpreter is cel-interpreter's: the standard macros and functions, not cel-go's
//! `ext.Strings`/`ext.Sets`/`ext.Encoders` extensions nor optional field syntax (`.?`),
//! which fail when evaluated (the object's status then reads Unknown) or when parsed.

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeMap;

use cel_interpreter::{Context, Program, Value as CelValue};
use serde_json::Value;

use super::kstatus::Status;

/// One expression and its text (errors quote it).
struct Expression {
    text: String,
    program: Program,
}

/// The expressions of one `healthCheckExprs` entry.
struct Evaluator {
    current: Expression,
    failed: Option<Expression>,
    in_progress: Option<Expression>,
}

/// A Kustomization's custom health checks, by group and kind (an empty kind covers the
/// whole group).
#[derive(Default)]
pub struct HealthExprs {
    by_group_kind: BTreeMap<(String, String), Evaluator>,
}

impl std::fmt::Debug for HealthExprs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_group_kind.keys()).finish()
    }
}

impl HealthExprs {
    /// Compiles `spec.healthCheckExprs` (`[{apiVersion, kind, current, failed,
    /// inProgress}]`), with fluxcd/pkg's `NewStatusReader` errors.
    pub fn compile(checks: &[Value]) -> Result<HealthExprs, String> {
        let mut by_group_kind = BTreeMap::new();
        for (i, check) in checks.iter().enumerate() {
            let text = |key: &str| check.get(key).and_then(Value::as_str).unwrap_or("");
            let group = text("apiVersion")
                .rsplit_once('/')
                .map_or("", |(group, _)| group)
                .to_string();
            let kind = text("kind").to_string();
            let key = (group, kind);
            if by_group_kind.contains_key(&key) {
                return Err(format!(
                    "duplicate custom health check for GroupKind {} at healthchecks[{i}]",
                    group_kind_string(&key.0, &key.1)
                ));
            }
            let evaluator = Evaluator::new(text("current"), text("failed"), text("inProgress"))
                .map_err(|e| {
                    format!("failed to create custom status evaluator for healthchecks[{i}]: {e}")
                })?;
            by_group_kind.insert(key, evaluator);
        }
        Ok(HealthExprs { by_group_kind })
    }

    /// Whether no check is defined.
    pub fn is_empty(&self) -> bool {
        self.by_group_kind.is_empty()
    }

    /// The kstatus of `obj` by its kind's (or its group's) check; `None` when no check
    /// covers it. An expression that fails to evaluate is an `Err` naming it.
    pub fn status(&self, obj: &Value) -> Option<Result<Status, String>> {
        let (group, _, kind) = super::group_kind(obj);
        let evaluator = self
            .by_group_kind
            .get(&(group.to_string(), kind.to_string()))
            .or_else(|| self.by_group_kind.get(&(group.to_string(), String::new())))?;
        Some(evaluator.evaluate(obj))
    }
}

impl Evaluator {
    fn new(current: &str, failed: &str, in_progress: &str) -> Result<Evaluator, String> {
        if current.is_empty() {
            return Err("expression Current not specified".into());
        }
        let optional = |text: &str, name: &str| {
            (!text.is_empty())
                .then(|| {
                    Expression::parse(text)
                        .map_err(|e| format!("failed to parse the expression {name}: {e}"))
                })
                .transpose()
        };
        Ok(Evaluator {
            current: Expression::parse(current)
                .map_err(|e| format!("failed to parse the expression Current: {e}"))?,
            failed: optional(failed, "Failed")?,
            in_progress: optional(in_progress, "InProgress")?,
        })
    }

    fn evaluate(&self, obj: &Value) -> Result<Status, String> {
        let int_at = |path: &str| obj.at(path).and_then(Value::as_i64);
        if let (Some(observed), Some(generation)) = (
            int_at("/status/observedGeneration"),
            int_at("/metadata/generation"),
        ) && observed != generation
        {
            return Ok(Status::InProgress);
        }
        let mut context = Context::default();
        if let Value::Object(fields) = obj {
            for (name, value) in fields {
                context
                    .add_variable(name.as_str(), value.clone())
                    .map_err(|e| format!("cannot give the object to CEL: {e}"))?;
            }
        }
        for (expression, status) in [
            (self.in_progress.as_ref(), Status::InProgress),
            (self.failed.as_ref(), Status::Failed),
            (Some(&self.current), Status::Current),
        ] {
            if let Some(expression) = expression
                && expression.is_true(&context)?
            {
                return Ok(status);
            }
        }
        Ok(Status::InProgress)
    }
}

impl Expression {
    fn parse(text: &str) -> Result<Expression, String> {
        // The ANTLR parser under cel-interpreter panics on some malformed input (a
        // dangling `==`); a tenant's expression must only ever be an error.
        let compiled = std::panic::catch_unwind(|| Program::compile(text)).map_err(|_| {
            format!("failed to parse the CEL expression '{text}': the expression is malformed")
        })?;
        let program =
            compiled.map_err(|e| format!("failed to parse the CEL expression '{text}': {e}"))?;
        Ok(Expression {
            text: text.to_string(),
            program,
        })
    }

    fn is_true(&self, context: &Context) -> Result<bool, String> {
        let executed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.program.execute(context)
        }))
        .map_err(|_| {
            format!(
                "failed to evaluate the CEL expression '{}': the interpreter failed",
                self.text
            )
        })?;
        match executed {
            Ok(CelValue::Bool(b)) => Ok(b),
            Ok(_) => Err(format!(
                "failed to evaluate CEL expression as boolean: '{}'",
                self.text
            )),
            Err(e) => Err(format!(
                "failed to evaluate the CEL expression '{}': {e}",
                self.text
            )),
        }
    }
}

/// A boolean CEL expression over named objects: a `dependsOn[].readyExpr`, whose `self`
/// is the Kustomization and `dep` its dependency.
pub struct BoolExpr(Expression);

impl BoolExpr {
    /// Parses `text` (fluxcd/pkg's "failed to parse the CEL expression '…': …").
    pub fn parse(text: &str) -> Result<BoolExpr, String> {
        Expression::parse(text).map(BoolExpr)
    }

    /// Evaluates it with `variables` bound; an error names the expression, a result that
    /// is not a boolean is an error too.
    pub fn eval(&self, variables: &[(&str, &Value)]) -> Result<bool, String> {
        let mut context = Context::default();
        for (name, value) in variables {
            context
                .add_variable(*name, (*value).clone())
                .map_err(|e| format!("cannot give {name} to CEL: {e}"))?;
        }
        self.0.is_true(&context)
    }
}

/// Go's `GroupKind.String()`: `Kind.group`, or the kind alone in the core group.
fn group_kind_string(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example of Flux's Kustomization documentation (healthCheckExprs for a Strimzi
    /// Kafka).
    fn kafka_checks() -> HealthExprs {
        HealthExprs::compile(&[json!({
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "Kafka",
            "failed": "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')",
            "current": "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')",
        })])
        .unwrap()
    }

    fn kafka(generation: i64, status: Value) -> Value {
        json!({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "Kafka",
               "metadata": {"name": "k", "generation": generation}, "status": status})
    }

    #[test]
    fn the_documented_kafka_check_follows_its_ready_condition() {
        let checks = kafka_checks();
        let ready = kafka(
            2,
            json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        assert_eq!(checks.status(&ready), Some(Ok(Status::Current)));
        let failed = kafka(
            2,
            json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "False"}]}),
        );
        assert_eq!(checks.status(&failed), Some(Ok(Status::Failed)));
        let behind = kafka(
            3,
            json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        assert_eq!(
            checks.status(&behind),
            Some(Ok(Status::InProgress)),
            "an observedGeneration behind the generation"
        );
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(checks.status(&other), None, "another kind keeps kstatus");
    }

    // fluxcd/pkg's status_evaluator_test cases: the order inProgress, failed, current,
    // and InProgress when none is true.
    #[test]
    fn expressions_are_tried_in_progress_failed_current_order() {
        let checks = HealthExprs::compile(&[json!({
            "apiVersion": "example.com/v1",
            "inProgress": "status.phase == 'Pending'",
            "failed": "status.phase == 'Failed' || status.phase == 'Pending'",
            "current": "status.phase == 'Ready'",
        })])
        .unwrap();
        let with_phase = |phase: &str| json!({"apiVersion": "example.com/v1", "kind": "Anything", "status": {"phase": phase}});
        assert_eq!(
            checks.status(&with_phase("Pending")),
            Some(Ok(Status::InProgress))
        );
        assert_eq!(
            checks.status(&with_phase("Failed")),
            Some(Ok(Status::Failed))
        );
        assert_eq!(
            checks.status(&with_phase("Ready")),
            Some(Ok(Status::Current))
        );
        assert_eq!(
            checks.status(&with_phase("Other")),
            Some(Ok(Status::InProgress))
        );
        let no_status = json!({"apiVersion": "example.com/v1", "kind": "Anything"});
        let error = checks.status(&no_status).unwrap().unwrap_err();
        assert!(
            error.starts_with("failed to evaluate the CEL expression 'status.phase == 'Pending''"),
            "{error}"
        );
    }

    /// The readyExpr of Flux's Kustomization documentation: the dependency's Ready
    /// condition and its source's revision compared with the Kustomization's own.
    #[test]
    fn ready_expressions_read_self_and_dep() {
        let expr = BoolExpr::parse(
            "dep.metadata.generation == dep.status.observedGeneration && \
             dep.status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True') && \
             dep.spec.sourceRef.name == self.spec.sourceRef.name",
        )
        .unwrap();
        let this = json!({"spec": {"sourceRef": {"name": "platform"}}});
        let dep = |generation: i64, ready: &str| {
            json!({"metadata": {"generation": 2},
                   "spec": {"sourceRef": {"name": "platform"}},
                   "status": {"observedGeneration": generation,
                              "conditions": [{"type": "Ready", "status": ready}]}})
        };
        assert_eq!(
            expr.eval(&[("self", &this), ("dep", &dep(2, "True"))]),
            Ok(true)
        );
        assert_eq!(
            expr.eval(&[("self", &this), ("dep", &dep(1, "True"))]),
            Ok(false)
        );
        assert_eq!(
            expr.eval(&[("self", &this), ("dep", &dep(2, "False"))]),
            Ok(false)
        );
        assert!(expr.eval(&[("self", &this)]).is_err(), "dep unbound");
    }

    #[test]
    fn bad_checks_are_refused_in_flux_words() {
        let error =
            HealthExprs::compile(&[json!({"apiVersion": "a.io/v1", "kind": "A"})]).unwrap_err();
        assert_eq!(
            error,
            "failed to create custom status evaluator for healthchecks[0]: expression Current not specified"
        );
        let error = HealthExprs::compile(&[
            json!({"apiVersion": "a.io/v1", "kind": "A", "current": "true"}),
            json!({"apiVersion": "a.io/v2", "kind": "A", "current": "true"}),
        ])
        .unwrap_err();
        assert_eq!(
            error,
            "duplicate custom health check for GroupKind A.a.io at healthchecks[1]"
        );
        let error = HealthExprs::compile(&[
            json!({"apiVersion": "a.io/v1", "kind": "A", "current": "status.ready ==", "failed": "true"}),
        ])
        .unwrap_err();
        assert!(
            error.starts_with(
                "failed to create custom status evaluator for healthchecks[0]: failed to parse the expression Current: failed to parse the CEL expression 'status.ready =='"
            ),
            "{error}"
        );
        let checks = HealthExprs::compile(&[
            json!({"apiVersion": "a.io/v1", "kind": "A", "current": "'not a boolean'"}),
        ])
        .unwrap();
        assert_eq!(
            checks.status(&json!({"apiVersion": "a.io/v1", "kind": "A"})),
            Some(Err(
                "failed to evaluate CEL expression as boolean: ''not a boolean''".into()
            ))
        );
    }
}
