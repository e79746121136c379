//! Field specs — "this field of objects of that kind" — and the transformer
//! configuration built from them: kustomize's defaults, extended by a kustomization's
//! `configurations` files and `crds`.
//!
//! The default tables state the same facts as kustomize's built-in configuration
//! (`api/internal/konfig/builtinpluginconsts`), grouped differently: the many
//! pod-template fields are generated from one list of workload kinds.

use serde_json::{Map, Value};

use super::resource::Gvk;

/// A field of objects of a kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FieldSpec {
    pub gvk: Gvk,
    /// Path segments; a trailing `[]` on a segment is dropped (lists are walked anyway).
    pub path: Vec<String>,
    /// Create the field when missing.
    pub create: bool,
    /// Per segment of `path`: whether it was written as a list (`name[]`). Upstream
    /// walks through such lists but never creates one.
    pub lists: Vec<bool>,
}

impl FieldSpec {
    pub(crate) fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            gvk: Gvk {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
            },
            path: split_path(path),
            create,
            lists: list_segments(path),
        }
    }

    /// [`walk`]s this field of `obj`, creating what is missing (lists excepted) when
    /// the spec says so.
    pub(crate) fn walk<E>(
        &self,
        obj: &mut Value,
        f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
    ) -> Result<(), E> {
        let create = self.create.then_some(self.lists.as_slice());
        walk_inner(obj, &self.path, create, f)
    }

    pub(crate) fn path_string(&self) -> String {
        self.path.join("/")
    }

    /// Reads `{path, group, version, kind, create}`.
    pub(crate) fn from_value(v: &Value) -> Option<FieldSpec> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        let path = s("path");
        let create = v.get("create").and_then(Value::as_bool).unwrap_or(false);
        Some(FieldSpec::new(
            s("group"),
            s("version"),
            s("kind"),
            path,
            create,
        ))
    }
}

/// Splits a field path on `/`, except where escaped as `\/`.
pub(crate) fn split_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.strip_suffix("[]").map(str::to_string).unwrap_or(p))
        .collect()
}

/// For each segment [`split_path`] returns, whether it ends in `[]`.
fn list_segments(path: &str) -> Vec<bool> {
    // The same segments as `split_path`, compared before their `[]` is dropped.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    let mut push = |cur: &mut String| {
        if !cur.is_empty() {
            out.push(cur.ends_with("[]"));
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => push(&mut cur),
            c => cur.push(c),
        }
    }
    push(&mut cur);
    out
}

/// References to objects of kind `gvk`, by name, in the fields `referrers`.
#[derive(Debug, Clone)]
pub(crate) struct NameBackReference {
    pub gvk: Gvk,
    pub referrers: Vec<FieldSpec>,
}

/// Which fields each built-in transformer touches.
#[derive(Debug, Clone, Default)]
pub(crate) struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackReference>,
    pub var_reference: Vec<FieldSpec>,
}

/// kustomize's `FsSlice.MergeAll`: each spec of `from` joins `into` unless a spec already
/// there has its path and a kind the newcomer selects (so a spec for one kind, kept first,
/// hides a later one for every kind: a `configurations` file's `namePrefix` for one kind
/// replaces the default for all, as tables are kept sorted with specific kinds before
/// the kind-less). Differing `create` flags there are a conflict.
fn merge_specs(table: &str, into: &mut Vec<FieldSpec>, from: &[FieldSpec]) -> Result<(), String> {
    for fs in from {
        let existing = into
            .iter()
            .find(|e| e.path == fs.path && e.lists == fs.lists && e.gvk.is_selected(&fs.gvk));
        match existing {
            Some(e) if e.create != fs.create => {
                return Err(format!(
                    "failed to merge {table} fieldSpec: conflicting fieldspecs: '{}' of {} (create: {}) and of {} (create: {})",
                    fs.path_string(),
                    gvk_text(&e.gvk),
                    e.create,
                    gvk_text(&fs.gvk),
                    fs.create
                ));
            }
            Some(_) => {}
            None => into.push(fs.clone()),
        }
    }
    Ok(())
}

fn sort_specs(specs: &mut [FieldSpec]) {
    specs.sort_by(|a, b| super::sort::gvk_order(&a.gvk, &b.gvk));
}

/// A field spec's kind as a message names it (`every kind` when it names none).
fn gvk_text(gvk: &Gvk) -> String {
    if gvk.kind.is_empty() && gvk.group.is_empty() && gvk.version.is_empty() {
        return "every kind".into();
    }
    gvk.to_string()
}

impl TransformerConfig {
    /// kustomize's `TransformerConfig.Merge`: `other`'s specs join this config's (see
    /// [`merge_specs`]); the error names the table whose specs conflict.
    pub(crate) fn merge(&mut self, other: &TransformerConfig) -> Result<(), String> {
        merge_specs("NamePrefix", &mut self.name_prefix, &other.name_prefix)?;
        merge_specs("NameSuffix", &mut self.name_suffix, &other.name_suffix)?;
        merge_specs("NameSpace", &mut self.namespace, &other.namespace)?;
        merge_specs(
            "CommonAnnotations",
            &mut self.common_annotations,
            &other.common_annotations,
        )?;
        merge_specs(
            "CommonLabels",
            &mut self.common_labels,
            &other.common_labels,
        )?;
        merge_specs("Labels", &mut self.labels, &other.labels)?;
        merge_specs(
            "TemplateLabels",
            &mut self.template_labels,
            &other.template_labels,
        )?;
        merge_specs(
            "VarReference",
            &mut self.var_reference,
            &other.var_reference,
        )?;
        for br in &other.name_reference {
            match self.name_reference.iter_mut().find(|b| b.gvk == br.gvk) {
                Some(existing) => {
                    merge_specs("NameReference", &mut existing.referrers, &br.referrers)?
                }
                None => self.name_reference.push(br.clone()),
            }
        }
        merge_specs("Images", &mut self.images, &other.images)?;
        merge_specs("Replicas", &mut self.replicas, &other.replicas)?;
        self.sort();
        Ok(())
    }

    /// kustomize's `sortFields`: every table by kind (a back-reference's own specs keep
    /// their order).
    fn sort(&mut self) {
        for specs in [
            &mut self.name_prefix,
            &mut self.name_suffix,
            &mut self.namespace,
            &mut self.common_labels,
            &mut self.template_labels,
            &mut self.labels,
            &mut self.common_annotations,
            &mut self.images,
            &mut self.replicas,
            &mut self.var_reference,
        ] {
            sort_specs(specs);
        }
        self.name_reference
            .sort_by(|a, b| super::sort::gvk_order(&a.gvk, &b.gvk));
    }

    /// Reads a `configurations` file's contents. Unknown keys are ignored.
    pub(crate) fn from_map(m: &Map<String, Value>) -> TransformerConfig {
        let specs = |key: &str| -> Vec<FieldSpec> {
            m.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(FieldSpec::from_value).collect())
                .unwrap_or_default()
        };
        let name_reference = m
            .get("nameReference")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|br| {
                        let s =
                            |k: &str| br.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        NameBackReference {
                            gvk: Gvk {
                                group: s("group"),
                                version: s("version"),
                                kind: s("kind"),
                            },
                            referrers: br
                                .get("fieldSpecs")
                                .and_then(Value::as_array)
                                .map(|a| a.iter().filter_map(FieldSpec::from_value).collect())
                                .unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut config = TransformerConfig {
            name_prefix: specs("namePrefix"),
            name_suffix: specs("nameSuffix"),
            namespace: specs("namespace"),
            common_labels: specs("commonLabels"),
            template_labels: specs("templateLabels"),
            labels: specs("labels"),
            common_annotations: specs("commonAnnotations"),
            images: specs("images"),
            replicas: specs("replicas"),
            name_reference,
            var_reference: specs("varReference"),
        };
        config.sort();
        config
    }

    /// kustomize's built-in configuration.
    pub(crate) fn defaults() -> TransformerConfig {
        let fs = FieldSpec::new;
        let metadata_labels = {
            let mut v = vec![fs("", "", "", "metadata/labels", true)];
            v.push(fs(
                "",
                "v1",
                "ReplicationController",
                "spec/template/metadata/labels",
                true,
            ));
            for kind in ["Deployment", "ReplicaSet", "DaemonSet"] {
                v.push(fs("", "", kind, "spec/template/metadata/labels", true));
            }
            v.push(fs(
                "apps",
                "",
                "StatefulSet",
                "spec/template/metadata/labels",
                true,
            ));
            v.push(fs(
                "batch",
                "",
                "Job",
                "spec/template/metadata/labels",
                true,
            ));
            v.push(fs(
                "batch",
                "",
                "CronJob",
                "spec/jobTemplate/metadata/labels",
                true,
            ));
            v.push(fs(
                "batch",
                "",
                "CronJob",
                "spec/jobTemplate/spec/template/metadata/labels",
                true,
            ));
            v
        };
        let mut common_labels = vec![
            fs("", "v1", "Service", "spec/selector", true),
            fs("", "v1", "ReplicationController", "spec/selector", true),
            fs("", "", "Deployment", "spec/selector/matchLabels", true),
        ];
        let affinity = [
            "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        ];
        for p in affinity {
            common_labels.push(fs("apps", "", "Deployment", p, false));
        }
        common_labels.push(fs("", "", "ReplicaSet", "spec/selector/matchLabels", true));
        common_labels.push(fs("", "", "DaemonSet", "spec/selector/matchLabels", true));
        common_labels.push(fs(
            "apps",
            "",
            "StatefulSet",
            "spec/selector/matchLabels",
            true,
        ));
        for p in affinity {
            common_labels.push(fs("apps", "", "StatefulSet", p, false));
        }
        common_labels.extend([
            fs("batch", "", "Job", "spec/selector/matchLabels", false),
            fs(
                "batch",
                "",
                "CronJob",
                "spec/jobTemplate/spec/selector/matchLabels",
                false,
            ),
            fs(
                "policy",
                "",
                "PodDisruptionBudget",
                "spec/selector/matchLabels",
                false,
            ),
            fs(
                "networking.k8s.io",
                "",
                "NetworkPolicy",
                "spec/podSelector/matchLabels",
                false,
            ),
            fs(
                "networking.k8s.io",
                "",
                "NetworkPolicy",
                "spec/ingress/from/podSelector/matchLabels",
                false,
            ),
            fs(
                "networking.k8s.io",
                "",
                "NetworkPolicy",
                "spec/egress/to/podSelector/matchLabels",
                false,
            ),
        ]);
        common_labels.extend(metadata_labels.iter().cloned());
        let volume_claim = fs(
            "apps",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        );
        common_labels.push(volume_claim);

        let mut common_annotations = vec![
            fs("", "", "", "metadata/annotations", true),
            fs(
                "",
                "v1",
                "ReplicationController",
                "spec/template/metadata/annotations",
                true,
            ),
        ];
        for kind in ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"] {
            common_annotations.push(fs("", "", kind, "spec/template/metadata/annotations", true));
        }
        common_annotations.extend([
            fs(
                "batch",
                "",
                "Job",
                "spec/template/metadata/annotations",
                true,
            ),
            fs(
                "batch",
                "",
                "CronJob",
                "spec/jobTemplate/metadata/annotations",
                true,
            ),
            fs(
                "batch",
                "",
                "CronJob",
                "spec/jobTemplate/spec/template/metadata/annotations",
                true,
            ),
        ]);

        let images = ["spec", "spec/template/spec"]
            .iter()
            .flat_map(|pre| {
                ["containers", "initContainers", "volumes/image/reference"].map(|suffix| {
                    let path = if suffix == "volumes/image/reference" {
                        format!("{pre}/volumes/image/reference")
                    } else {
                        format!("{pre}/{suffix}/image")
                    };
                    fs("", "", "", &path, true)
                })
            })
            .collect();

        let replicas = [
            "Deployment",
            "ReplicationController",
            "ReplicaSet",
            "StatefulSet",
        ]
        .map(|k| fs("", "", k, "spec/replicas", true))
        .to_vec();

        let mut config = TransformerConfig {
            name_prefix: vec![fs("", "", "", "metadata/name", false)],
            name_suffix: vec![fs("", "", "", "metadata/name", false)],
            namespace: vec![
                fs("", "", "Namespace", "metadata/name", true),
                fs(
                    "apiregistration.k8s.io",
                    "",
                    "APIService",
                    "spec/service/namespace",
                    true,
                ),
                fs(
                    "apiextensions.k8s.io",
                    "",
                    "CustomResourceDefinition",
                    "spec/conversion/webhook/clientConfig/service/namespace",
                    false,
                ),
            ],
            common_labels,
            template_labels: metadata_labels,
            labels: Vec::new(),
            common_annotations,
            images,
            replicas,
            name_reference: default_name_references(),
            var_reference: default_var_references(),
        };
        config.sort();
        config
    }
}

/// Where workload kinds keep their pod spec. `Pod` and `PodTemplate` come first.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
];

fn pod_fields(kinds: &[&str], suffixes: &[&str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (kind, pre) in POD_SPECS {
        if !kinds.contains(kind) {
            continue;
        }
        for suffix in suffixes {
            let version = if *kind == "Pod" { "v1" } else { "" };
            out.push(FieldSpec::new(
                "",
                version,
                kind,
                &format!("{pre}/{suffix}"),
                false,
            ));
        }
    }
    out
}

fn default_name_references() -> Vec<NameBackReference> {
    let fs = |g: &str, k: &str, p: &str| FieldSpec::new(g, "", k, p, false);
    let gvk = |g: &str, v: &str, k: &str| Gvk {
        group: g.into(),
        version: v.into(),
        kind: k.into(),
    };
    let config_map_users = [
        "Pod",
        "PodTemplate",
        "Deployment",
        "ReplicaSet",
        "DaemonSet",
        "StatefulSet",
        "Job",
        "CronJob",
    ];
    let service_account_users = [
        "Pod",
        "StatefulSet",
        "Deployment",
        "ReplicationController",
        "CronJob",
        "Job",
        "DaemonSet",
    ];
    let mut out = Vec::new();
    for kind in [
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    ] {
        out.push(NameBackReference {
            gvk: gvk("", "", kind),
            referrers: vec![fs(
                "",
                "HorizontalPodAutoscaler",
                "spec/scaleTargetRef/name",
            )],
        });
    }
    let mut cm = pod_fields(
        &config_map_users,
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
    );
    cm.extend([
        fs("", "Node", "spec/configSource/configMap"),
        fs("", "Role", "rules/resourceNames"),
        fs("", "ClusterRole", "rules/resourceNames"),
        fs(
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        ),
    ]);
    out.push(NameBackReference {
        gvk: gvk("", "v1", "ConfigMap"),
        referrers: cm,
    });
    let mut secret = pod_fields(
        &config_map_users,
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
    );
    secret.extend([
        fs("", "Ingress", "spec/tls/secretName"),
        fs(
            "",
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        fs(
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        fs(
            "",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        fs("", "ServiceAccount", "imagePullSecrets/name"),
        fs("", "StorageClass", "parameters/secretName"),
        fs("", "StorageClass", "parameters/adminSecretName"),
        fs("", "StorageClass", "parameters/userSecretName"),
        fs("", "StorageClass", "parameters/secretRef"),
        fs("", "Role", "rules/resourceNames"),
        fs("", "ClusterRole", "rules/resourceNames"),
        FieldSpec::new(
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
            false,
        ),
        fs("", "PersistentVolume", "spec/azureFile/secretName"),
    ]);
    out.push(NameBackReference {
        gvk: gvk("", "v1", "Secret"),
        referrers: secret,
    });
    out.push(NameBackReference {
        gvk: gvk("", "v1", "Service"),
        referrers: vec![
            fs("apps", "StatefulSet", "spec/serviceName"),
            fs("", "Ingress", "spec/rules/http/paths/backend/serviceName"),
            fs("", "Ingress", "spec/backend/serviceName"),
            fs("", "Ingress", "spec/rules/http/paths/backend/service/name"),
            fs("", "Ingress", "spec/defaultBackend/service/name"),
            fs("apiregistration.k8s.io", "APIService", "spec/service/name"),
            fs(
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
            fs(
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
        ],
    });
    let rbac = "rbac.authorization.k8s.io";
    out.push(NameBackReference {
        gvk: gvk(rbac, "", "Role"),
        referrers: vec![fs(rbac, "RoleBinding", "roleRef/name")],
    });
    out.push(NameBackReference {
        gvk: gvk(rbac, "", "ClusterRole"),
        referrers: vec![
            fs(rbac, "RoleBinding", "roleRef/name"),
            fs(rbac, "ClusterRoleBinding", "roleRef/name"),
        ],
    });
    let mut sa = vec![
        fs(rbac, "RoleBinding", "subjects"),
        fs(rbac, "ClusterRoleBinding", "subjects"),
    ];
    for kind in service_account_users {
        let pre = POD_SPECS
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or("", |p| p.1);
        sa.push(fs("", kind, &format!("{pre}/serviceAccountName")));
    }
    out.push(NameBackReference {
        gvk: gvk("", "v1", "ServiceAccount"),
        referrers: sa,
    });
    let mut pvc = Vec::new();
    let mut priority = Vec::new();
    for kind in service_account_users {
        let pre = POD_SPECS
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or("", |p| p.1);
        pvc.push(fs(
            "",
            kind,
            &format!("{pre}/volumes/persistentVolumeClaim/claimName"),
        ));
        priority.push(fs("", kind, &format!("{pre}/priorityClassName")));
    }
    out.push(NameBackReference {
        gvk: gvk("", "v1", "PersistentVolumeClaim"),
        referrers: pvc,
    });
    out.push(NameBackReference {
        gvk: gvk("", "v1", "PersistentVolume"),
        referrers: vec![
            fs("", "PersistentVolumeClaim", "spec/volumeName"),
            fs("", "ClusterRole", "rules/resourceNames"),
        ],
    });
    out.push(NameBackReference {
        gvk: gvk("storage.k8s.io", "v1", "StorageClass"),
        referrers: vec![
            fs("", "PersistentVolume", "spec/storageClassName"),
            fs("", "PersistentVolumeClaim", "spec/storageClassName"),
            fs(
                "",
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
            ),
        ],
    });
    out.push(NameBackReference {
        gvk: gvk("scheduling.k8s.io", "v1", "PriorityClass"),
        referrers: priority,
    });
    // Upstream writes the group as `networking.k8s.io/v1`, so this entry never matches
    // an IngressClass; kept as upstream has it.
    out.push(NameBackReference {
        gvk: gvk("networking.k8s.io/v1", "v1", "IngressClass"),
        referrers: vec![fs("", "Ingress", "spec/ingressClassName")],
    });
    out.push(NameBackReference {
        gvk: gvk(
            "admissionregistration.k8s.io",
            "",
            "ValidatingAdmissionPolicy",
        ),
        referrers: vec![fs(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
        )],
    });
    out
}

/// Fields where `$(VAR)` references are expanded (legacy `vars`).
fn default_var_references() -> Vec<FieldSpec> {
    let fs = |k: &str, p: &str| FieldSpec::new("", "", k, p, false);
    let mut out = Vec::new();
    for (kind, pre) in POD_SPECS {
        if matches!(*kind, "PodTemplate" | "ReplicationController") {
            continue;
        }
        for c in ["containers", "initContainers"] {
            for suffix in ["args", "command", "env/value", "volumeMounts/mountPath"] {
                out.push(fs(kind, &format!("{pre}/{c}/{suffix}")));
            }
        }
        // Upstream's CronJob entry lacks the inner `spec`, and StatefulSet's points
        // into its volume claim templates; both kept as upstream has them.
        let nfs = match *kind {
            "CronJob" => "spec/jobTemplate/spec/template/volumes/nfs/server".to_string(),
            "StatefulSet" => "spec/volumeClaimTemplates/spec/nfs/server".to_string(),
            _ => format!("{pre}/volumes/nfs/server"),
        };
        out.push(fs(kind, &nfs));
    }
    out.extend([
        fs("Deployment", "spec/template/metadata/annotations"),
        fs("Ingress", "spec/rules/host"),
        fs("Ingress", "spec/tls/hosts"),
        fs("Ingress", "spec/tls/secretName"),
        fs("Service", "spec/ports/port"),
        fs("Service", "spec/ports/targetPort"),
        fs("PersistentVolume", "spec/nfs/server"),
        fs("", "metadata/labels"),
        fs("", "metadata/annotations"),
    ]);
    out
}

/// Walks `path` from `node`, through lists element by element, and calls `f` on each
/// node found at the end. Missing fields are created (as maps, or `null` at the end
/// for `f` to fill) when `create` is set, and skipped otherwise.
pub(crate) fn walk<E>(
    node: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    walk_inner(node, path, create.then_some(&[][..]), f)
}

/// [`walk`], with `create` as the per-segment list marks of the path remaining (a
/// marked segment is never created); `None` creates nothing.
fn walk_inner<E>(
    node: &mut Value,
    path: &[String],
    create: Option<&[bool]>,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    if let Value::Array(items) = node
        && !path.is_empty()
    {
        for item in items {
            walk_inner(item, path, create, f)?;
        }
        return Ok(());
    }
    let Some((first, rest)) = path.split_first() else {
        return f(node);
    };
    let Value::Object(map) = node else {
        return Ok(());
    };
    let (is_list, rest_marks) = match create {
        Some(marks) => (
            marks.first().copied().unwrap_or(false),
            Some(marks.get(1..).unwrap_or(&[])),
        ),
        None => (false, None),
    };
    let missing = map.get(first).is_none_or(Value::is_null);
    if missing {
        if create.is_none() || is_list {
            return Ok(());
        }
        let fresh = if rest.is_empty() {
            Value::Null
        } else {
            Value::Object(Map::new())
        };
        map.insert(first.clone(), fresh);
    }
    match map.get_mut(first) {
        Some(child) => {
            walk_inner(child, rest, rest_marks, f)?;
            // A leaf created for `f` that `f` left empty was never wanted.
            if missing && rest.is_empty() && child.is_null() {
                map.shift_remove(first);
            }
            Ok(())
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaped_slash_stays_in_the_segment() {
        assert_eq!(
            split_path("metadata/annotations/a.io\\/b"),
            ["metadata", "annotations", "a.io/b"]
        );
        assert_eq!(
            split_path("spec/containers[]/image"),
            ["spec", "containers", "image"]
        );
    }

    #[test]
    fn walk_goes_through_lists_and_creates() {
        let mut v = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        let mut seen = Vec::new();
        walk::<()>(
            &mut v,
            &split_path("spec/containers/image"),
            false,
            &mut |n| {
                seen.push(n.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, [json!("a"), json!("b")]);
        let mut v = json!({});
        walk::<()>(&mut v, &split_path("metadata/labels"), true, &mut |n| {
            *n = json!({"x": "y"});
            Ok(())
        })
        .unwrap();
        assert_eq!(v, json!({"metadata": {"labels": {"x": "y"}}}));
    }

    #[test]
    fn lists_are_walked_but_never_created() {
        let fs = FieldSpec::new("", "", "", "spec/claims[]/metadata/labels", true);
        let mut absent = json!({"spec": {}});
        fs.walk::<()>(&mut absent, &mut |n| {
            *n = json!({"a": "b"});
            Ok(())
        })
        .unwrap();
        assert_eq!(absent, json!({"spec": {}}));
        let mut present = json!({"spec": {"claims": [{"metadata": {}}, {}]}});
        fs.walk::<()>(&mut present, &mut |n| {
            *n = json!({"a": "b"});
            Ok(())
        })
        .unwrap();
        assert_eq!(
            present,
            json!({"spec": {"claims": [
                {"metadata": {"labels": {"a": "b"}}},
                {"metadata": {"labels": {"a": "b"}}}
            ]}})
        );
    }
}
