//! Templates (`template.<name>` in `argocd-notifications-cm`): Go text/template with
//! Sprig (without `env` and `expandenv`), as notifications-engine's `pkg/templates` and
//! `pkg/services` render them. `message` is for every service; `webhook.<name>`
//! (`method`, `path`, `body`) and `slack` (`attachments`, `blocks`, `username`, `icon`,
//! `groupingKey`, `notifyBroadcast`, `deliveryPolicy`) for theirs. A notification sent
//! with several templates is built by each in turn: a later non-empty message replaces
//! an earlier one, a later webhook or Slack section replaces the earlier one's fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_template::{Functions, Template, Value};

/// A rendered notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// `message`.
    pub message: String,
    /// The webhook sections by webhook name.
    pub webhook: BTreeMap<String, WebhookNotification>,
    /// The Slack section.
    pub slack: Option<SlackNotification>,
    /// The GitHub section.
    pub github: Option<GitHubNotification>,
}

/// A rendered GitHub section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitHubNotification {
    /// The repository (`repoURLPath`, by default the Application's `spec.source.repoURL`).
    pub repo_url: String,
    /// The commit (`revisionPath`, by default the operation's synced revision).
    pub revision: String,
    /// The commit status to set.
    pub status: Option<GitHubStatus>,
    /// The parts Flotilla does not send (`deployment`, `pullRequestComment`, …).
    pub unsupported: Vec<String>,
}

/// A commit status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitHubStatus {
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// The status's context.
    pub label: String,
    /// Where it links to.
    pub target_url: String,
}

/// A rendered webhook section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookNotification {
    /// The HTTP method (not a template).
    pub method: String,
    /// Appended to the service's URL.
    pub path: String,
    /// The request's body.
    pub body: String,
}

/// A rendered Slack section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackNotification {
    /// Overrides the service's username.
    pub username: String,
    /// Overrides the service's icon (an emoji `:name:` or a URL).
    pub icon: String,
    /// A JSON array of attachments.
    pub attachments: String,
    /// A JSON array of blocks.
    pub blocks: String,
    /// Messages with the same key go to one thread.
    pub grouping_key: String,
    /// Replies in a thread are also sent to the channel.
    pub notify_broadcast: bool,
    /// `Post`, `PostAndUpdate` or `Update`.
    pub delivery_policy: String,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct NotificationTemplate {
    message: Template,
    webhook: BTreeMap<String, (String, Template, Template)>,
    slack: Option<SlackTemplate>,
    github: Option<GitHubTemplate>,
    /// The other services' sections it has (`email`, `teams`, …), not rendered.
    pub other_sections: Vec<String>,
}

#[derive(Debug, Clone)]
struct GitHubTemplate {
    repo_url: Template,
    revision: Template,
    status: Option<(Template, Template, Template)>,
    unsupported: Vec<String>,
}

/// notifications-engine's defaults of `repoURLPath` and `revisionPath`.
const REPO_URL_TEMPLATE: &str = "{{.app.spec.source.repoURL}}";
const REVISION_TEMPLATE: &str = "{{.app.status.operationState.syncResult.revision}}";

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawGitHub {
    #[serde(rename = "repoURLPath")]
    repo_url_path: String,
    revision_path: String,
    status: Option<RawGitHubStatus>,
    deployment: Option<serde_json::Value>,
    pull_request_comment: Option<serde_json::Value>,
    check_run: Option<serde_json::Value>,
    repository_dispatch: Option<serde_json::Value>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawGitHubStatus {
    state: String,
    label: String,
    #[serde(rename = "targetURL")]
    target_url: String,
}

#[derive(Debug, Clone)]
struct SlackTemplate {
    username: Template,
    icon: Template,
    attachments: Template,
    blocks: Template,
    grouping_key: Template,
    notify_broadcast: bool,
    delivery_policy: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RawWebhook {
    method: String,
    path: String,
    body: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawSlack {
    username: String,
    icon: String,
    attachments: String,
    blocks: String,
    grouping_key: String,
    notify_broadcast: bool,
    delivery_policy: String,
}

/// The services whose sections notifications-engine's `Notification` has.
const SECTIONS: &[&str] = &[
    "awssqs",
    "gcppubsub",
    "email",
    "slack",
    "mattermost",
    "rocketchat",
    "teams",
    "teams-workflows",
    "webhook",
    "opsgenie",
    "github",
    "alertmanager",
    "googlechat",
    "pagerduty",
    "pagerdutyv2",
    "newrelic",
];

/// The functions templates may call: Sprig's text functions without `env` and
/// `expandenv`.
pub fn functions() -> Arc<Functions> {
    static FUNCTIONS: std::sync::OnceLock<Arc<Functions>> = std::sync::OnceLock::new();
    FUNCTIONS
        .get_or_init(|| Arc::new(Functions::sprig()))
        .clone()
}

fn compile(name: &str, text: &str) -> Result<Template, String> {
    Template::new(name)
        .functions(functions())
        .parse(text)
        .map_err(|e| e.to_string())
}

/// Reads and compiles the template `name`.
pub fn parse(name: &str, yaml: &str) -> Result<NotificationTemplate, String> {
    let raw: serde_json::Map<String, serde_json::Value> = super::from_yaml(yaml)?;
    let field = |key: &str| -> Result<Option<serde_json::Value>, String> {
        Ok(raw.get(key).filter(|v| !v.is_null()).cloned())
    };
    let message: String = match field("message")? {
        Some(v) => serde_json::from_value(v).map_err(|e| format!("message: {e}"))?,
        None => String::new(),
    };
    let mut webhook = BTreeMap::new();
    if let Some(v) = field("webhook")? {
        let hooks: BTreeMap<String, RawWebhook> =
            serde_json::from_value(v).map_err(|e| format!("webhook: {e}"))?;
        for (hook, w) in hooks {
            let key = format!("{name}{hook}");
            webhook.insert(
                hook,
                (w.method, compile(&key, &w.path)?, compile(&key, &w.body)?),
            );
        }
    }
    let slack = match field("slack")? {
        Some(v) => {
            let s: RawSlack = serde_json::from_value(v).map_err(|e| format!("slack: {e}"))?;
            Some(SlackTemplate {
                username: compile(name, &s.username)?,
                icon: compile(name, &s.icon)?,
                attachments: compile(name, &s.attachments)?,
                blocks: compile(name, &s.blocks)?,
                grouping_key: compile(name, &s.grouping_key)?,
                notify_broadcast: s.notify_broadcast,
                delivery_policy: s.delivery_policy,
            })
        }
        None => None,
    };
    let github = match field("github")? {
        Some(v) => {
            let g: RawGitHub = serde_json::from_value(v).map_err(|e| format!("github: {e}"))?;
            let or = |text: String, default: &str| {
                if text.is_empty() {
                    default.to_string()
                } else {
                    text
                }
            };
            let repo_url_path = or(g.repo_url_path, REPO_URL_TEMPLATE);
            let revision_path = or(g.revision_path, REVISION_TEMPLATE);
            let status = match g.status {
                Some(s) => Some((
                    compile(name, &s.state)?,
                    compile(name, &s.label)?,
                    compile(name, &s.target_url)?,
                )),
                None => None,
            };
            let unsupported = [
                ("deployment", g.deployment.is_some()),
                ("pullRequestComment", g.pull_request_comment.is_some()),
                ("checkRun", g.check_run.is_some()),
                ("repositoryDispatch", g.repository_dispatch.is_some()),
            ]
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(part, _)| format!("github.{part}"))
            .collect();
            Some(GitHubTemplate {
                repo_url: compile(name, &repo_url_path)?,
                revision: compile(name, &revision_path)?,
                status,
                unsupported,
            })
        }
        None => None,
    };
    Ok(NotificationTemplate {
        message: compile(name, &message)?,
        webhook,
        slack,
        github,
        other_sections: raw
            .keys()
            .filter(|k| {
                SECTIONS.contains(&k.as_str()) && !matches!(k.as_str(), "webhook" | "slack")
            })
            .cloned()
            .collect(),
    })
}

impl NotificationTemplate {
    /// The webhook names it has sections for.
    pub fn webhooks(&self) -> impl Iterator<Item = &str> {
        self.webhook.keys().map(String::as_str)
    }

    /// Whether it has a Slack section.
    pub fn has_slack(&self) -> bool {
        self.slack.is_some()
    }

    /// Renders itself into `notification` over `vars`.
    pub fn apply(&self, notification: &mut Notification, vars: &Value) -> Result<(), String> {
        let run = |t: &Template| t.execute(vars).map_err(|e| e.to_string());
        let message = run(&self.message)?;
        if !message.is_empty() {
            notification.message = message;
        }
        if let Some(s) = &self.slack {
            notification.slack = Some(SlackNotification {
                username: run(&s.username)?,
                icon: run(&s.icon)?,
                attachments: run(&s.attachments)?,
                blocks: run(&s.blocks)?,
                grouping_key: run(&s.grouping_key)?,
                notify_broadcast: s.notify_broadcast,
                delivery_policy: s.delivery_policy.clone(),
            });
        }
        if let Some(g) = &self.github {
            let github = notification
                .github
                .get_or_insert_with(GitHubNotification::default);
            github.repo_url = run(&g.repo_url)?;
            github.revision = run(&g.revision)?;
            if let Some((state, label, target_url)) = &g.status {
                github.status = Some(GitHubStatus {
                    state: run(state)?,
                    label: run(label)?,
                    target_url: run(target_url)?,
                });
            }
            for part in &g.unsupported {
                if !github.unsupported.contains(part) {
                    github.unsupported.push(part.clone());
                }
            }
        }
        for (hook, (method, path, body)) in &self.webhook {
            notification.webhook.insert(
                hook.clone(),
                WebhookNotification {
                    method: method.clone(),
                    body: run(body)?,
                    path: run(path)?,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: serde_json::Value) -> Value {
        Value::from(&v)
    }

    /// templates.md's examples: a message over `.app` and `.context`, a webhook section
    /// with `.secrets`, Sprig functions; the catalog's YAML anchors.
    #[test]
    fn messages_and_webhook_sections_render_over_the_variables() {
        let t = parse(
            "t",
            "message: |\n  Application {{.app.metadata.name}} sync is {{.app.status.sync.status}}.\n  Application details: {{.context.argocdUrl}}/applications/{{.app.metadata.name}}.\nwebhook:\n  sample-webhook:\n    method: POST\n    path: 'webhook/endpoint/with/auth'\n    body: 'token={{ .secrets.sampleWebhookToken }}&variables[APP_SOURCE_PATH]={{ .app.spec.source.path | upper }}'\nemail:\n  subject: x\n",
        )
        .unwrap();
        assert_eq!(t.other_sections, ["email"]);
        let mut n = Notification::default();
        t.apply(
            &mut n,
            &vars(json!({
                "app": {"metadata": {"name": "guestbook"}, "status": {"sync": {"status": "Synced"}},
                        "spec": {"source": {"path": "guestbook"}}},
                "context": {"argocdUrl": "https://argocd.example.com"},
                "secrets": {"sampleWebhookToken": "secret-token"},
            })),
        )
        .unwrap();
        assert_eq!(
            n.message,
            "Application guestbook sync is Synced.\nApplication details: https://argocd.example.com/applications/guestbook.\n"
        );
        assert_eq!(
            n.webhook["sample-webhook"],
            WebhookNotification {
                method: "POST".into(),
                path: "webhook/endpoint/with/auth".into(),
                body: "token=secret-token&variables[APP_SOURCE_PATH]=GUESTBOOK".into(),
            }
        );
        let anchored = parse("a", "message: &message Application {{.app.metadata.name}} has been created.\nemail:\n  subject: *message\n").unwrap();
        let mut n = Notification::default();
        anchored
            .apply(&mut n, &vars(json!({"app": {"metadata": {"name": "web"}}})))
            .unwrap();
        assert_eq!(n.message, "Application web has been created.");
    }

    #[test]
    fn later_templates_override_earlier_ones_but_not_with_an_empty_message() {
        let first = parse("a", "message: first\nslack:\n  attachments: '[1]'\n").unwrap();
        let second = parse("b", "slack:\n  blocks: '[2]'\n  deliveryPolicy: Update\n").unwrap();
        let mut n = Notification::default();
        first.apply(&mut n, &vars(json!({}))).unwrap();
        second.apply(&mut n, &vars(json!({}))).unwrap();
        assert_eq!(n.message, "first");
        let slack = n.slack.unwrap();
        assert_eq!(
            (slack.attachments.as_str(), slack.blocks.as_str()),
            ("", "[2]")
        );
        assert_eq!(slack.delivery_policy, "Update");
    }

    /// github.md's template: the repository and revision default to the Application's
    /// source and synced revision; the status's fields are templates.
    #[test]
    fn a_github_section_renders_the_commit_status() {
        let t = parse(
            "app-deployed",
            "message: Application {{.app.metadata.name}} is now running new version.\ngithub:\n  status:\n    state: success\n    label: \"continuous-delivery/{{.app.metadata.name}}\"\n    targetURL: \"{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true\"\n  deployment:\n    state: success\n",
        )
        .unwrap();
        let mut n = Notification::default();
        t.apply(
            &mut n,
            &vars(json!({
                "app": {"metadata": {"name": "guestbook"},
                        "spec": {"source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git"}},
                        "status": {"operationState": {"syncResult": {"revision": "0123abc"}}}},
                "context": {"argocdUrl": "https://argocd.example.com"},
            })),
        )
        .unwrap();
        assert_eq!(
            n.github,
            Some(GitHubNotification {
                repo_url: "https://github.com/argoproj/argocd-example-apps.git".into(),
                revision: "0123abc".into(),
                status: Some(GitHubStatus {
                    state: "success".into(),
                    label: "continuous-delivery/guestbook".into(),
                    target_url: "https://argocd.example.com/applications/guestbook?operation=true"
                        .into(),
                }),
                unsupported: vec!["github.deployment".into()],
            })
        );
    }

    #[test]
    fn missing_keys_print_as_go_prints_them_and_bad_templates_are_errors() {
        let t = parse("t", "message: '{{.app.metadata.missing}}'\n").unwrap();
        let mut n = Notification::default();
        t.apply(&mut n, &vars(json!({"app": {"metadata": {}}})))
            .unwrap();
        assert_eq!(n.message, "<no value>");
        assert!(parse("t", "message: '{{.app'\n").is_err());
        assert!(
            parse("t", "message: [not, a, string]\n")
                .unwrap_err()
                .starts_with("message:")
        );
        assert!(
            parse("t", "message: '{{ env \"HOME\" }}'\n").is_err(),
            "env is not offered"
        );
    }
}
