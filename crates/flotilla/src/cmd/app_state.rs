//! What `flotilla demo` and `flotilla bench fleet` read of an Application while they
//! follow a fleet converging: its name, its first Helm value file (the demo's region) and
//! whether it is Synced and Healthy. Decoding only that keeps the observer's cost (it
//! shares the machine with the fleet it watches) far below a whole object's, and a watch
//! replaces listing thousands of Applications in a loop, which loaded the API server more
//! than the hub did.

/// An Application as the observers see it.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) metadata: kube::api::ObjectMeta,
    pub(crate) synced: bool,
    pub(crate) healthy: bool,
    /// `spec.source.helm.valueFiles[0]`.
    pub(crate) value_file: Option<String>,
}

impl AppState {
    /// `namespace/name`.
    pub(crate) fn key(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }

    /// Synced and Healthy.
    pub(crate) fn converged(&self) -> bool {
        self.synced && self.healthy
    }
}

impl<'de> serde::Deserialize<'de> for AppState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AppState, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            name: Option<String>,
            namespace: Option<String>,
            resource_version: Option<String>,
        }
        #[derive(serde::Deserialize, Default)]
        struct Status {
            #[serde(default)]
            sync: Named,
            #[serde(default)]
            health: Named,
        }
        #[derive(serde::Deserialize, Default)]
        struct Named {
            #[serde(default)]
            status: String,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Helm {
            #[serde(default)]
            value_files: Vec<String>,
        }
        #[derive(serde::Deserialize, Default)]
        struct Source {
            #[serde(default)]
            helm: Option<Helm>,
        }
        #[derive(serde::Deserialize, Default)]
        struct Spec {
            #[serde(default)]
            source: Option<Source>,
        }
        #[derive(serde::Deserialize)]
        struct Wire {
            metadata: Meta,
            #[serde(default)]
            spec: Option<Spec>,
            #[serde(default)]
            status: Option<Status>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let status = wire.status.unwrap_or_default();
        Ok(AppState {
            metadata: kube::api::ObjectMeta {
                name: wire.metadata.name,
                namespace: wire.metadata.namespace,
                resource_version: wire.metadata.resource_version,
                ..Default::default()
            },
            synced: status.sync.status == "Synced",
            healthy: status.health.status == "Healthy",
            value_file: wire
                .spec
                .and_then(|s| s.source)
                .and_then(|s| s.helm)
                .and_then(|h| h.value_files.into_iter().next()),
        })
    }
}

flotilla_hub::dynamic_resource!(AppState, metadata);

/// The Applications a watch has shown, by key, and how many of them are converged (kept
/// as events come, not counted again at each).
#[derive(Debug, Default)]
pub(crate) struct Converging {
    apps: std::collections::BTreeMap<String, AppState>,
    converged: usize,
}

impl Converging {
    /// Takes in one watch event.
    pub(crate) fn observe(&mut self, event: kube::runtime::watcher::Event<AppState>) {
        use kube::runtime::watcher::Event;
        let was = match event {
            Event::Apply(app) | Event::InitApply(app) => {
                self.converged += usize::from(app.converged());
                self.apps.insert(app.key(), app)
            }
            Event::Delete(app) => self.apps.remove(&app.key()),
            Event::Init | Event::InitDone => None,
        };
        self.converged -= usize::from(was.is_some_and(|w| w.converged()));
    }

    /// How many Applications exist.
    pub(crate) fn len(&self) -> usize {
        self.apps.len()
    }

    /// How many are Synced and Healthy.
    pub(crate) fn converged(&self) -> usize {
        self.converged
    }

    /// Whether `expected` Applications exist and are all Synced and Healthy.
    pub(crate) fn done(&self, expected: usize) -> bool {
        self.len() >= expected && self.converged >= expected
    }

    /// The Applications.
    pub(crate) fn apps(&self) -> impl Iterator<Item = &AppState> {
        self.apps.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn converging_counts_what_the_watch_shows() {
        use kube::runtime::watcher::Event;
        let app = |name: &str, health: &str| -> AppState {
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "argocd"},
                "status": {"sync": {"status": "Synced"}, "health": {"status": health}},
            }))
            .unwrap()
        };
        let mut c = Converging::default();
        c.observe(Event::InitApply(app("a", "Progressing")));
        c.observe(Event::InitDone);
        c.observe(Event::Apply(app("b", "Healthy")));
        assert_eq!((c.len(), c.converged()), (2, 1));
        assert!(!c.done(2));
        c.observe(Event::Apply(app("a", "Healthy")));
        assert!(c.done(2));
        // Healthy again: counted once.
        c.observe(Event::Apply(app("a", "Healthy")));
        assert_eq!(c.converged(), 2);
        c.observe(Event::Apply(app("b", "Degraded")));
        c.observe(Event::Delete(app("a", "Healthy")));
        assert_eq!((c.len(), c.converged()), (1, 0));
        assert_eq!(c.apps().count(), 1);
    }

    #[test]
    fn an_application_is_converged_when_synced_and_healthy() {
        let state = |status: Value| -> AppState {
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "web", "namespace": "argocd", "resourceVersion": "7",
                             "managedFields": [{"manager": "m"}]},
                "spec": {"project": "default",
                         "source": {"helm": {"valueFiles": ["values-eu-west-1.yaml", "b.yaml"]}}},
                "status": status,
            }))
            .unwrap()
        };
        let synced = state(
            json!({"sync": {"status": "Synced"}, "health": {"status": "Healthy"},
                                  "resources": [{"kind": "ConfigMap"}]}),
        );
        assert!(synced.converged());
        assert_eq!(synced.key(), "argocd/web");
        assert_eq!(synced.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(synced.value_file.as_deref(), Some("values-eu-west-1.yaml"));
        let progressing =
            state(json!({"sync": {"status": "Synced"}, "health": {"status": "Progressing"}}));
        assert!(progressing.synced && !progressing.healthy && !progressing.converged());
        assert!(
            !state(json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"}}))
                .converged()
        );
        assert!(!state(Value::Null).converged());
        // No Helm source: no value file.
        let plain: AppState = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"source": {"path": "deploy"}},
        }))
        .unwrap();
        assert_eq!(plain.value_file, None);
    }
}
