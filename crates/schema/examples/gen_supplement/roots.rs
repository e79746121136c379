//! The kinds whose 1.33 schemas the supplement is computed from: every built-in kind
//! kubesim serves (`BUILTINS` in crates/kubesim/src/resources.rs), plus the non-kind
//! types kubesim decodes or serves on its own (Scale, DeleteOptions).

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};

use crate::Error;

/// A served kind, as k8s-openapi describes it.
pub(crate) struct Root {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) api_version: &'static str,
    pub(crate) kind: &'static str,
    /// `None` for create-only kinds (the access and token reviews), which have no list.
    pub(crate) list_kind: Option<&'static str>,
    /// `Namespaced` or `Cluster`, as the catalog's `resources` entries spell it.
    pub(crate) scope: &'static str,
    /// The definition name, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub(crate) definition: String,
}

/// How the catalog's `resources` entries spell a scope.
trait ScopeName {
    const NAME: &'static str;
}

impl ScopeName for ClusterResourceScope {
    const NAME: &'static str = "Cluster";
}

impl ScopeName for NamespaceResourceScope {
    const NAME: &'static str = "Namespaced";
}

fn kind<K>(generator: &mut SchemaGenerator) -> Root
where
    K: ListableResource + JsonSchema,
    K::Scope: ScopeName,
{
    Root {
        list_kind: Some(K::LIST_KIND),
        ..create_only_kind::<K>(generator)
    }
}

/// A kind that can only be created (no list, get, or watch), e.g. `TokenReview`.
fn create_only_kind<K>(generator: &mut SchemaGenerator) -> Root
where
    K: Resource + JsonSchema,
    K::Scope: ScopeName,
{
    // Registers K and everything it references under generator's definitions.
    generator.subschema_for::<K>();
    Root {
        group: K::GROUP,
        version: K::VERSION,
        api_version: K::API_VERSION,
        kind: K::KIND,
        list_kind: None,
        scope: <K::Scope as ScopeName>::NAME,
        definition: K::schema_name().into_owned(),
    }
}

/// Registers the 1.33 schemas of every root with `generator` and describes the kinds.
pub(crate) fn register(generator: &mut SchemaGenerator) -> Vec<Root> {
    use k8s_openapi::api::{
        admissionregistration, apps, authentication, authorization, autoscaling, batch,
        coordination, core, networking, policy, rbac, scheduling, storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;

    // Not kinds of their own, but kubesim decodes and serves them: the scale
    // subresource's body and the body of DELETE requests.
    generator.subschema_for::<autoscaling::v1::Scale>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();

    vec![
        kind::<core::v1::ConfigMap>(generator),
        kind::<core::v1::Endpoints>(generator),
        kind::<core::v1::Event>(generator),
        kind::<core::v1::LimitRange>(generator),
        kind::<core::v1::Namespace>(generator),
        kind::<core::v1::Node>(generator),
        kind::<core::v1::PersistentVolumeClaim>(generator),
        kind::<core::v1::PersistentVolume>(generator),
        kind::<core::v1::Pod>(generator),
        kind::<core::v1::ResourceQuota>(generator),
        kind::<core::v1::Secret>(generator),
        kind::<core::v1::ServiceAccount>(generator),
        kind::<core::v1::Service>(generator),
        kind::<admissionregistration::v1::MutatingWebhookConfiguration>(generator),
        kind::<admissionregistration::v1::ValidatingWebhookConfiguration>(generator),
        kind::<apiextensions::v1::CustomResourceDefinition>(generator),
        kind::<apps::v1::ControllerRevision>(generator),
        kind::<apps::v1::DaemonSet>(generator),
        kind::<apps::v1::Deployment>(generator),
        kind::<apps::v1::ReplicaSet>(generator),
        kind::<apps::v1::StatefulSet>(generator),
        kind::<autoscaling::v2::HorizontalPodAutoscaler>(generator),
        kind::<batch::v1::CronJob>(generator),
        kind::<batch::v1::Job>(generator),
        kind::<coordination::v1::Lease>(generator),
        kind::<networking::v1::IngressClass>(generator),
        kind::<networking::v1::Ingress>(generator),
        kind::<networking::v1::NetworkPolicy>(generator),
        kind::<policy::v1::PodDisruptionBudget>(generator),
        kind::<rbac::v1::ClusterRoleBinding>(generator),
        kind::<rbac::v1::ClusterRole>(generator),
        kind::<rbac::v1::RoleBinding>(generator),
        kind::<rbac::v1::Role>(generator),
        kind::<scheduling::v1::PriorityClass>(generator),
        kind::<storage::v1::StorageClass>(generator),
        create_only_kind::<authentication::v1::SelfSubjectReview>(generator),
        create_only_kind::<authentication::v1::TokenReview>(generator),
        create_only_kind::<authorization::v1::LocalSubjectAccessReview>(generator),
        create_only_kind::<authorization::v1::SelfSubjectAccessReview>(generator),
        create_only_kind::<authorization::v1::SelfSubjectRulesReview>(generator),
        create_only_kind::<authorization::v1::SubjectAccessReview>(generator),
    ]
}

/// Fails unless `roots` are exactly the kinds of kubesim's `BUILTINS` table, so that a
/// kind added there cannot silently miss its 1.33 fields.
pub(crate) fn check_against_kubesim(roots: &[Root], resources_rs: &Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(resources_rs).map_err(|source| Error::Io {
        path: resources_rs.to_owned(),
        source,
    })?;
    let table = text
        .split_once("const BUILTINS: &[Builtin] = &[")
        .and_then(|(_, rest)| rest.split_once("];"))
        .map(|(table, _)| table)
        .ok_or_else(|| Error::Kubesim("no `const BUILTINS: &[Builtin] = &[…];` table".into()))?;
    // Each row starts `row("group", "version", "Kind", …`, on one line or several.
    let served: BTreeSet<(String, String, String)> = table
        .split("row(")
        .skip(1)
        .map(|args| {
            let mut quoted = args.split('"').skip(1).step_by(2);
            let mut next = || quoted.next().unwrap_or_default().to_owned();
            (next(), next(), next())
        })
        .collect();
    let ours: BTreeSet<(String, String, String)> = roots
        .iter()
        .map(|r| (r.group.into(), r.version.into(), r.kind.into()))
        .collect();
    if served.is_empty() || served != ours {
        return Err(Error::Kubesim(format!(
            "roots and BUILTINS differ: only served {:?}; only roots {:?}",
            served.difference(&ours).collect::<Vec<_>>(),
            ours.difference(&served).collect::<Vec<_>>(),
        )));
    }
    Ok(())
}
