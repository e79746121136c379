//! Argo CD's notifications, as notifications-engine runs them inside Argo CD's
//! notifications controller: the configuration of `argocd-notifications-cm` and
//! `argocd-notifications-secret` ([`Config::parse`]), which triggers fire for an
//! Application and who is told ([`Config::evaluate`]), what the templates render
//! ([`Config::render`]), the notified state kept in the Application's annotation
//! ([`state`]), and the requests the services send ([`services`]). The hub watches,
//! sends and writes; everything here is pure.
//!
//! Where Flotilla differs from upstream on purpose: a trigger, template or service that
//! cannot be read is reported and left out, instead of disabling every notification
//! (notifications-engine fails the whole configuration).

pub mod expr;
pub mod services;
pub mod state;
pub mod subscriptions;
pub mod templates;
pub mod triggers;

use std::collections::BTreeMap;
use std::rc::Rc;

use chrono::{DateTime, FixedOffset};
use serde_json::Value as Json;

pub use services::{Outbound, Service, ServiceEntry};
pub use state::{NOTIFIED_ANNOTATION, State};
pub use subscriptions::{Destination, Destinations};
pub use templates::Notification;
pub use triggers::ConditionResult;

/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "argocd-notifications-cm";
/// The Secret's name.
pub const SECRET: &str = "argocd-notifications-secret";

/// A YAML document as JSON (`null` when empty), as `sigs.k8s.io/yaml` reads it.
fn yaml_value(text: &str) -> Result<Json, String> {
    crate::yaml::parse_first(text)
}

/// A YAML document into `T` (its default when the document is empty).
fn from_yaml<T: serde::de::DeserializeOwned + Default>(text: &str) -> Result<T, String> {
    match yaml_value(text)? {
        Json::Null => Ok(T::default()),
        value => serde_json::from_value(value).map_err(|e| e.to_string()),
    }
}

/// The notifications configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `trigger.<name>`: the conditions, or why the trigger cannot be read.
    pub triggers: BTreeMap<String, Result<Vec<triggers::Condition>, String>>,
    /// `template.<name>`: compiled, or why not.
    pub templates: BTreeMap<String, Result<templates::NotificationTemplate, String>>,
    /// `service.<type>[.<name>]` by name.
    pub services: BTreeMap<String, ServiceEntry>,
    /// `subscriptions`.
    pub subscriptions: Vec<subscriptions::GlobalSubscription>,
    /// `defaultTriggers` and `defaultTriggers.<service>`.
    pub defaults: subscriptions::DefaultTriggers,
    /// `context`.
    pub context: BTreeMap<String, String>,
    /// `argocd-notifications-secret`'s data, for templates' `.secrets`.
    pub secrets: BTreeMap<String, String>,
    /// What could not be read or will not work, one line each, naming the key.
    pub problems: Vec<String>,
}

/// A notification to send: a trigger's condition fired for a destination not yet told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The trigger.
    pub trigger: String,
    /// The condition's result.
    pub result: ConditionResult,
    /// Whom to tell.
    pub to: Destination,
}

/// What evaluating an Application's triggers found.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The state after the evaluation (the sends taken as made; see [`Evaluation::failed`]).
    pub state: State,
    /// What to send.
    pub deliveries: Vec<Delivery>,
    /// Conditions true and already notified: `(trigger, condition key, destination)`.
    pub already: Vec<(String, String, Destination)>,
    /// Why a subscribed trigger could not be evaluated.
    pub errors: Vec<String>,
    /// Whether the object has destinations at all (without, its annotation is left as
    /// it is).
    pub subscribed: bool,
    now: i64,
}

impl Evaluation {
    /// A delivery failed: it is not recorded as notified, so it is tried again.
    pub fn failed(&mut self, delivery: &Delivery) {
        self.state.set_notified(
            &delivery.trigger,
            &delivery.result,
            &delivery.to,
            false,
            self.now,
        );
    }
}

fn string_map(json: Option<&Json>) -> BTreeMap<String, String> {
    json.and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl Config {
    /// Reads the ConfigMap's `data` and the Secret's (decoded) data.
    pub fn parse(data: &BTreeMap<String, String>, secret: &BTreeMap<String, Vec<u8>>) -> Config {
        let mut config = Config {
            secrets: secret
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect(),
            ..Config::default()
        };
        let mut problems = Vec::new();
        if let Some(yaml) = data.get("subscriptions") {
            match subscriptions::parse_global(yaml) {
                Ok(s) => config.subscriptions = s,
                Err(e) => problems.push(format!("{CONFIG_MAP} key subscriptions: {e}")),
            }
        }
        if let Some(yaml) = data.get("defaultTriggers") {
            match from_yaml(yaml) {
                Ok(t) => config.defaults.all = t,
                Err(e) => problems.push(format!("{CONFIG_MAP} key defaultTriggers: {e}")),
            }
        }
        if let Some(yaml) = data.get("context") {
            match from_yaml(yaml) {
                Ok(c) => config.context = c,
                Err(e) => problems.push(format!("{CONFIG_MAP} key context: {e}")),
            }
        }
        for legacy in ["config.yaml"] {
            if data.get(legacy).is_some_and(|v| !v.is_empty()) {
                problems.push(format!(
                    "{CONFIG_MAP} key {legacy}: the legacy argocd-notifications configuration is not read; write trigger.<name>, template.<name> and service.<type> keys"
                ));
            }
        }
        if secret.get("notifiers.yaml").is_some_and(|v| !v.is_empty()) {
            problems.push(format!(
                "{SECRET} key notifiers.yaml: the legacy services configuration is not read; write service.<type> keys in {CONFIG_MAP}"
            ));
        }
        for (key, value) in data {
            if let Some(name) = key.strip_prefix("template.") {
                let parsed = templates::parse(name, value)
                    .map_err(|e| format!("failed to unmarshal template {name}: {e}"));
                if let Err(e) = &parsed {
                    problems.push(format!("{CONFIG_MAP} key {key}: {e}"));
                }
                config.templates.insert(name.to_string(), parsed);
            } else if let Some(name) = key.strip_prefix("trigger.") {
                let parsed = triggers::parse(value)
                    .map_err(|e| format!("failed to unmarshal trigger {name}: {e}"));
                match &parsed {
                    Ok(conditions) => problems.extend(
                        triggers::compile_errors(name, conditions)
                            .into_iter()
                            .map(|e| format!("{CONFIG_MAP} key {key}: {e}")),
                    ),
                    Err(e) => problems.push(format!("{CONFIG_MAP} key {key}: {e}")),
                }
                config.triggers.insert(name.to_string(), parsed);
            } else if let Some(service) = key.strip_prefix("defaultTriggers.") {
                match from_yaml(value) {
                    Ok(t) => {
                        config.defaults.per_service.insert(service.to_string(), t);
                    }
                    Err(e) => problems.push(format!(
                        "{CONFIG_MAP} key {key}: failed to unmarshal default trigger {service}: {e}"
                    )),
                }
            } else if let Some(rest) = key.strip_prefix("service.") {
                let parts: Vec<&str> = rest.split('.').collect();
                let (service_type, name) = match parts.as_slice() {
                    [t] => (*t, *t),
                    [t, n] => (*t, *n),
                    _ => {
                        problems.push(format!(
                            "{CONFIG_MAP}: invalid service key; expected 'service.<type>(.<name>)' but got '{key}'"
                        ));
                        continue;
                    }
                };
                let entry =
                    services::parse(key, service_type, value, &config.secrets, &mut problems);
                if let Err(e) = &entry.service {
                    problems.push(format!("{CONFIG_MAP} key {key}: {e}"));
                }
                config.services.insert(name.to_string(), entry);
            }
        }
        // Sections of templates that no service of theirs would read.
        for (name, template) in &config.templates {
            let Ok(template) = template else { continue };
            for hook in template.webhooks() {
                if config
                    .services
                    .get(hook)
                    .is_none_or(|s| s.service_type != "webhook")
                {
                    problems.push(format!(
                        "{CONFIG_MAP} key template.{name}: webhook.{hook} names no service.webhook.{hook}"
                    ));
                }
            }
        }
        for (name, conditions) in &config.triggers {
            let Ok(conditions) = conditions else { continue };
            for template in conditions.iter().flat_map(|c| &c.send) {
                if !config.templates.contains_key(template) {
                    problems.push(format!(
                        "{CONFIG_MAP} key trigger.{name}: template '{template}' is not defined"
                    ));
                }
            }
        }
        config.problems = problems;
        config
    }

    /// Whether anything can fire: the ConfigMap defines triggers.
    pub fn active(&self) -> bool {
        !self.triggers.is_empty()
    }

    /// Who is told of which trigger for `app` (of `project`): the global subscriptions,
    /// the Application's annotations, its project's (and the project's legacy
    /// annotation), each destination once per trigger; and what could not be read.
    pub fn destinations(&self, app: &Json, project: Option<&Json>) -> (Destinations, Vec<String>) {
        let labels = string_map(app.pointer("/metadata/labels"));
        let mut out =
            subscriptions::global_destinations(&self.subscriptions, &self.defaults, &labels);
        let annotations = string_map(app.pointer("/metadata/annotations"));
        let (own, mut problems) =
            subscriptions::annotation_destinations(&annotations, &self.defaults);
        out.merge(own);
        if let Some(project) = project {
            let annotations = string_map(project.pointer("/metadata/annotations"));
            let (of_project, more) =
                subscriptions::annotation_destinations(&annotations, &self.defaults);
            problems.extend(more.into_iter().map(|p| format!("AppProject: {p}")));
            out.merge(of_project);
            out.merge(subscriptions::legacy_destinations(
                &annotations,
                &self.defaults,
            ));
        }
        (out.dedup(), problems)
    }

    /// The variables triggers see: `app`, `appProject` (`{}` without one), `context`,
    /// `secrets`, and the helpers.
    fn env<'a>(
        &'a self,
        app: &'a Json,
        project: &'a Json,
        now: DateTime<FixedOffset>,
    ) -> expr::Env<'a> {
        let strings = |m: &BTreeMap<String, String>| {
            expr::Value::Map(Rc::new(
                m.iter()
                    .map(|(k, v)| (k.clone(), expr::Value::string(v)))
                    .collect(),
            ))
        };
        expr::Env::new(now)
            .json("app", app)
            .json("appProject", project)
            .with("context", strings(&self.context))
            .with("secrets", strings(&self.secrets))
    }

    /// Evaluates the triggers `app` is subscribed to (notifications-engine's
    /// `processResourceWithAPI`): a condition that is false clears its notified state;
    /// one that is true and not yet notified for a destination is a delivery, recorded
    /// as notified.
    pub fn evaluate(
        &self,
        app: &Json,
        project: Option<&Json>,
        now: DateTime<FixedOffset>,
    ) -> Evaluation {
        let annotation = app
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(NOTIFIED_ANNOTATION))
            .and_then(Json::as_str);
        let (destinations, mut errors) = self.destinations(app, project);
        let mut evaluation = Evaluation {
            state: State::parse(annotation),
            deliveries: Vec::new(),
            already: Vec::new(),
            errors: Vec::new(),
            subscribed: !destinations.is_empty(),
            now: now.timestamp(),
        };
        if !evaluation.subscribed {
            evaluation.errors = errors;
            return evaluation;
        }
        let empty = Json::Object(Default::default());
        let env = self.env(app, project.unwrap_or(&empty), now);
        for (trigger, to_list) in &destinations.0 {
            let conditions = match self.triggers.get(trigger) {
                Some(Ok(conditions)) => conditions,
                Some(Err(e)) => {
                    errors.push(format!(
                        "failed to evaluate condition of trigger {trigger}: {e}"
                    ));
                    continue;
                }
                None => {
                    errors.push(format!(
                        "failed to evaluate condition of trigger {trigger}: trigger '{trigger}' is not configured"
                    ));
                    continue;
                }
            };
            for result in triggers::run(conditions, &env) {
                if let Some(e) = &result.error {
                    errors.push(format!("trigger {trigger} condition {}: {e}", result.key));
                }
                for to in to_list {
                    let changed = evaluation.state.set_notified(
                        trigger,
                        &result,
                        to,
                        result.triggered,
                        evaluation.now,
                    );
                    if !result.triggered {
                        continue;
                    }
                    if changed {
                        evaluation.deliveries.push(Delivery {
                            trigger: trigger.clone(),
                            result: result.clone(),
                            to: to.clone(),
                        });
                    } else {
                        evaluation
                            .already
                            .push((trigger.clone(), result.key.clone(), to.clone()));
                    }
                }
            }
        }
        evaluation.errors = errors;
        evaluation
    }

    /// The variables templates see for a delivery to `to`.
    fn template_vars(
        &self,
        app: &Json,
        project: Option<&Json>,
        to: &Destination,
    ) -> flotilla_template::Value {
        use flotilla_template::Value as T;
        let strings = |m: &BTreeMap<String, String>| {
            T::map(
                m.iter()
                    .map(|(k, v)| (k.clone(), T::string(v.as_str())))
                    .collect(),
            )
        };
        // Argo CD's `injectLegacyVar`: `notificationType` unless the context sets it.
        let mut context = BTreeMap::from([("notificationType".to_string(), to.service.clone())]);
        context.extend(self.context.clone());
        T::map(BTreeMap::from([
            ("app".to_string(), T::from(app)),
            (
                "appProject".to_string(),
                project.map_or_else(|| T::map(BTreeMap::new()), T::from),
            ),
            ("context".to_string(), strings(&context)),
            ("secrets".to_string(), strings(&self.secrets)),
            ("serviceType".to_string(), T::string(to.service.as_str())),
            ("recipient".to_string(), T::string(to.recipient.as_str())),
        ]))
    }

    /// The notification `templates` render for `app` and `to` (`FormatNotification`).
    pub fn render(
        &self,
        template_names: &[String],
        app: &Json,
        project: Option<&Json>,
        to: &Destination,
    ) -> Result<Notification, String> {
        let vars = self.template_vars(app, project, to);
        let mut notification = Notification::default();
        for name in template_names {
            match self.templates.get(name) {
                Some(Ok(template)) => template.apply(&mut notification, &vars)?,
                Some(Err(e)) => return Err(format!("template '{name}' cannot be used: {e}")),
                None => return Err(format!("template '{name}' is not supported")),
            }
        }
        Ok(notification)
    }
}

/// Whether Argo CD's notifications controller would skip `app` for now
/// (`isAppSyncStatusRefreshed`): an operation that completed after the last comparison
/// (`reconciledAt`, `observedAt`) leaves a sync status that does not show it yet.
pub fn sync_status_outdated(app: &Json) -> bool {
    let Some(state) = app.pointer("/status/operationState") else {
        return false;
    };
    let Some(phase) = state.get("phase").and_then(Json::as_str) else {
        return false;
    };
    if !matches!(phase, "Failed" | "Error" | "Succeeded") {
        return false;
    }
    let Some(finished) = state
        .get("finishedAt")
        .and_then(Json::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    else {
        return true;
    };
    let at = |field: &str| {
        app.pointer(&format!("/status/{field}"))
            .and_then(Json::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    };
    let after = |t: Option<DateTime<FixedOffset>>| t.is_none_or(|t| finished > t);
    after(at("reconciledAt")) && after(at("observedAt"))
}

#[cfg(test)]
mod tests;
