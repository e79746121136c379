//! `flotilla controller --hub-kubeconfig K [--context C]`: the hub's controllers against
//! any Kubernetes API, with `/healthz` and `/metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::extract::State;
use axum::routing::get;
use flotilla_hub::run::{self, Hub, HubConfig};
use flotilla_source::Rewrite;
use flotilla_source::webhook::{Provider, Receiver};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Arguments of `flotilla controller`.
#[derive(Debug, clap::Args)]
pub(crate) struct ControllerArgs {
    /// Kubeconfig of the hub (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub(crate) hub_kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig (default: its current context).
    #[arg(long)]
    pub(crate) context: Option<String>,
    /// Where repository mirrors are kept.
    #[arg(long, default_value = ".flotilla/cache")]
    pub(crate) cache_dir: PathBuf,
    /// Fetch URLs starting with PREFIX from BASE instead, as git's
    /// `url.<BASE>.insteadOf PREFIX` (repeatable), e.g.
    /// `--rewrite http://127.0.0.1:8080/=https://gitlab.internal/`.
    #[arg(long = "rewrite", value_name = "BASE=PREFIX")]
    pub(crate) rewrites: Vec<String>,
    /// Address of `/metrics` and `/healthz`.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub(crate) metrics_addr: SocketAddr,
    /// Applications reconciled at once (compared and synced: Argo CD's
    /// `--status-processors`, whose variable and `argocd-cmd-params-cm` key it takes).
    #[arg(
        long,
        env = "ARGOCD_APPLICATION_CONTROLLER_STATUS_PROCESSORS",
        default_value_t = 16
    )]
    pub(crate) workers: usize,
    /// Namespaces besides `argocd` whose Applications are reconciled, comma-separated
    /// globs or `/regular expressions/` (Argo CD's `--application-namespaces`); such an
    /// Application must also use a project whose `sourceNamespaces` name its namespace.
    #[arg(
        long,
        value_name = "NAMESPACES",
        value_delimiter = ',',
        env = "ARGOCD_APPLICATION_NAMESPACES"
    )]
    pub(crate) application_namespaces: Vec<String>,
    /// Namespaces besides `argocd` whose ApplicationSets are reconciled, comma-separated
    /// globs or `/regular expressions/` (Argo CD's `--applicationset-namespaces`); a set's
    /// Applications are created in its own namespace, so that namespace must also be among
    /// `--application-namespaces` for them to sync. Needs `--allowed-scm-providers` or
    /// `--enable-scm-providers=false`, as upstream: a tenant must not choose the forge API
    /// the hub calls.
    #[arg(
        long,
        value_name = "NAMESPACES",
        value_delimiter = ',',
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_NAMESPACES"
    )]
    pub(crate) applicationset_namespaces: Vec<String>,
    /// ConfigMaps and Secrets whose labels match this selector are watched, and a change
    /// runs the Kustomizations and HelmReleases that read them at once (Flux's
    /// `--watch-configs-label-selector`; empty: every ConfigMap and Secret).
    #[arg(
        long,
        value_name = "SELECTOR",
        default_value = flotilla_hub::flux::config_watch::DEFAULT_SELECTOR
    )]
    pub(crate) watch_configs_label_selector: String,
    /// A field manager whose changes Kustomizations undo: its fields are taken over by
    /// the apply as kubectl's are (kustomize-controller's `--override-manager`, repeatable).
    #[arg(long = "override-manager", value_name = "NAME")]
    pub(crate) override_managers: Vec<String>,
    /// No watch of ConfigMaps and Secrets (Flux's `DisableConfigWatchers` feature gate).
    #[arg(long)]
    pub(crate) disable_config_watchers: bool,
    /// A webhook receiver on the metrics address, as PROVIDER=SECRET_FILE (repeatable):
    /// github, gitlab, gitea, bitbucket, generic or generic-hmac, and a file holding the
    /// shared secret. A valid push refreshes the repository at once. The receiver's path
    /// (`/hook/<digest>`) is printed at start. Flux Receivers are served on the same
    /// address, at the path in their `status.webhookPath`.
    #[arg(long = "webhook", value_name = "PROVIDER=SECRET_FILE")]
    pub(crate) webhooks: Vec<String>,
    /// At most this many Applications listed in an ApplicationSet's `status.resources`
    /// (0: no limit; `status.resourcesCount` counts them all), as Argo CD's
    /// `--max-resources-status-count`.
    #[arg(
        long,
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_MAX_RESOURCES_STATUS_COUNT",
        default_value_t = flotilla_fleet::appset::DEFAULT_MAX_RESOURCES_STATUS_COUNT
    )]
    pub(crate) max_resources_status_count: usize,
    /// Let an ApplicationSet's `RollingSync` strategy sync its Applications step by step
    /// (Argo CD's `--enable-progressive-syncs`; off, they sync as their own policies say).
    #[arg(
        long,
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_PROGRESSIVE_SYNCS"
    )]
    pub(crate) enable_progressive_syncs: bool,
    /// What ApplicationSets may do to their Applications (Argo CD's `--policy`): `sync`
    /// (create, update and delete), `create-only`, `create-update` (never delete) or
    /// `create-delete` (never update). Unset, each ApplicationSet's own
    /// `syncPolicy.applicationsSync` decides (`sync` without one); set, theirs is ignored
    /// unless `--enable-policy-override`.
    #[arg(
        long,
        value_name = "POLICY",
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_POLICY",
        default_value = ""
    )]
    pub(crate) policy: String,
    /// Honour an ApplicationSet's own `syncPolicy.applicationsSync` (Argo CD's
    /// `--enable-policy-override`; default: on when `--policy` is unset, else off).
    #[arg(
        long,
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_POLICY_OVERRIDE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub(crate) enable_policy_override: Option<bool>,
    /// Annotations an ApplicationSet keeps from each live Application it updates, beside
    /// its own `preservedFields`, comma-separated (Argo CD's `--preserved-annotations`).
    #[arg(
        long,
        value_name = "KEYS",
        value_delimiter = ',',
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_ANNOTATIONS"
    )]
    pub(crate) preserved_annotations: Vec<String>,
    /// Labels an ApplicationSet keeps from each live Application it updates, beside its
    /// own `preservedFields`, comma-separated (Argo CD's `--preserved-labels`).
    #[arg(
        long,
        value_name = "KEYS",
        value_delimiter = ',',
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_LABELS"
    )]
    pub(crate) preserved_labels: Vec<String>,
    /// The git files generator's newer globbing, where `*` stops at `/` and `**` crosses
    /// directories (Argo CD's `--enable-new-git-file-globbing`).
    #[arg(
        long,
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_NEW_GIT_FILE_GLOBBING"
    )]
    pub(crate) enable_new_git_file_globbing: bool,
    /// Let the pull request generator call forge APIs (Argo CD's `--enable-scm-providers`;
    /// `--enable-scm-providers=false` fails every such generator).
    #[arg(
        long,
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_SCM_PROVIDERS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub(crate) enable_scm_providers: bool,
    /// The custom forge API URLs an ApplicationSet may name, comma-separated (Argo CD's
    /// `--allowed-scm-providers`; empty: any). Without it a tenant who may write an
    /// ApplicationSet chooses the URL the hub calls, with a token from its namespace.
    #[arg(
        long,
        env = "ARGOCD_APPLICATIONSET_CONTROLLER_ALLOWED_SCM_PROVIDERS",
        value_delimiter = ','
    )]
    pub(crate) allowed_scm_providers: Vec<String>,
    /// Read generator tokens only from Secrets labelled
    /// `argocd.argoproj.io/secret-type: scm-creds` (Argo CD's `--token-ref-strict-mode`).
    #[arg(long, env = "ARGOCD_APPLICATIONSET_CONTROLLER_TOKENREF_STRICT_MODE")]
    pub(crate) token_ref_strict_mode: bool,
    /// A destination sources and forge APIs may not reach, as CIDR, IP or IP:PORT
    /// (repeatable), e.g. `--egress-deny 10.0.0.0/8`. Link-local addresses (cloud
    /// instance metadata) and the hub's own API server are always refused; the check is
    /// on the resolved address the connection is made to.
    #[arg(long = "egress-deny", value_name = "CIDR|IP|IP:PORT")]
    pub(crate) egress_deny: Vec<String>,
    /// Let a Flux `kubeConfig` Secret use an exec credential plugin — a program the
    /// tenant names, run on the hub (Flux's `--insecure-kubeconfig-exec`).
    #[arg(long)]
    pub(crate) insecure_kubeconfig_exec: bool,
    /// Let a Flux `kubeConfig` Secret skip TLS verification (Flux's
    /// `--insecure-kubeconfig-tls`).
    #[arg(long)]
    pub(crate) insecure_kubeconfig_tls: bool,
    /// The service account a Flux Kustomization or HelmRelease that names none
    /// impersonates, in its own namespace (Flux's `--default-service-account`; the
    /// multi-tenancy lockdown sets it so no tenant applies as the hub).
    #[arg(long, default_value = "")]
    pub(crate) default_service_account: String,
    /// Refuse Flux references to objects in another namespace — a Kustomization's
    /// `sourceRef` or `dependsOn`, a HelmRelease's chart source and `valuesFrom`, an
    /// Alert's event sources (Flux's `--no-cross-namespace-refs`). On by default, as in
    /// Flux's multi-tenancy lockdown; `--no-cross-namespace-refs=false` allows them, as
    /// Flux does without the lockdown.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub(crate) no_cross_namespace_refs: bool,
    /// How long a Flux Kustomization waits before checking its `dependsOn` again while
    /// they are not ready (Flux's `--requeue-dependency`).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_go_duration
    )]
    pub(crate) requeue_dependency: std::time::Duration,
    /// Run the Sealed Secrets controller for the hub and every registered cluster that
    /// serves `bitnami.com/v1alpha1` SealedSecrets: keys found or made in
    /// `--sealed-secrets-namespace` of each cluster, SealedSecrets unsealed into Secrets.
    /// Off by default: a cluster may run the upstream controller itself.
    #[arg(long)]
    pub(crate) sealed_secrets: bool,
    /// Where each cluster's Sealed Secrets keys are kept (the upstream controller's
    /// namespace).
    #[arg(long, default_value = "kube-system")]
    pub(crate) sealed_secrets_namespace: String,
    /// How often a new Sealed Secrets key is made in each cluster (`--key-renew-period`
    /// upstream; 0 makes only the first), e.g. `720h`.
    #[arg(long, default_value = "720h", value_parser = parse_go_duration)]
    pub(crate) sealed_secrets_key_renew_period: std::time::Duration,
    /// Sustained `/sealed-secrets/<cluster>/v1/verify` requests per second allowed per
    /// cluster (upstream's `--rate-limit`).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) sealed_secrets_rate_limit: u32,
    /// Verify requests per cluster allowed beyond the rate at once (upstream's
    /// `--rate-limit-burst`).
    #[arg(long, default_value_t = 2)]
    pub(crate) sealed_secrets_rate_limit_burst: u32,
    /// Seconds to wait after each sync wave but the last before its health is awaited, so
    /// that other controllers see the change first (Argo CD's `ARGOCD_SYNC_WAVE_DELAY`).
    #[arg(long, env = "ARGOCD_SYNC_WAVE_DELAY", default_value_t = 2)]
    pub(crate) sync_wave_delay: u64,
    /// How often every Application is compared again with nothing new, in seconds or as
    /// a duration (`180`, `5m`); `0` turns it off (Argo CD's `--app-resync`). Unset,
    /// `argocd-cm`'s `timeout.reconciliation` decides, else 180 s.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "ARGOCD_RECONCILIATION_TIMEOUT",
        value_parser = parse_seconds_or_duration
    )]
    pub(crate) app_resync: Option<std::time::Duration>,
    /// The first wait between self-heal attempts of one revision, in seconds; `0` turns
    /// the backoff off for `--self-heal-timeout-seconds` (Argo CD's
    /// `--self-heal-backoff-timeout-seconds`).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_BACKOFF_TIMEOUT_SECONDS",
        default_value_t = 2
    )]
    pub(crate) self_heal_backoff_timeout_seconds: u64,
    /// What each wait between self-heal attempts is multiplied by (Argo CD's
    /// `--self-heal-backoff-factor`).
    #[arg(
        long,
        value_name = "FACTOR",
        env = "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_BACKOFF_FACTOR",
        default_value_t = 3
    )]
    pub(crate) self_heal_backoff_factor: u32,
    /// The longest wait between self-heal attempts, in seconds; `0` for none (Argo CD's
    /// `--self-heal-backoff-cap-seconds`).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_BACKOFF_CAP_SECONDS",
        default_value_t = 300
    )]
    pub(crate) self_heal_backoff_cap_seconds: u64,
    /// With the backoff off, the wait after every operation before self-heal runs, in
    /// seconds (Argo CD's `--self-heal-timeout-seconds`).
    #[arg(
        long,
        value_name = "SECONDS",
        env = "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_TIMEOUT_SECONDS",
        default_value_t = 0
    )]
    pub(crate) self_heal_timeout_seconds: u64,
    /// Application labels copied to the `argocd_app_labels` metric, comma-separated
    /// (Argo CD's `--metrics-application-labels`).
    #[arg(
        long,
        value_name = "LABELS",
        value_delimiter = ',',
        env = "ARGOCD_APPLICATION_CONTROLLER_METRICS_APPLICATION_LABELS"
    )]
    pub(crate) metrics_application_labels: Vec<String>,
    /// Application condition types counted in the `argocd_app_condition` metric,
    /// comma-separated (Argo CD's `--metrics-application-conditions`).
    #[arg(
        long,
        value_name = "CONDITIONS",
        value_delimiter = ',',
        env = "ARGOCD_APPLICATION_CONTROLLER_METRICS_APPLICATION_CONDITIONS"
    )]
    pub(crate) metrics_application_conditions: Vec<String>,
    /// Cluster Secret labels copied to the `argocd_cluster_labels` metric,
    /// comma-separated (Argo CD's `--metrics-cluster-labels`).
    #[arg(
        long,
        value_name = "LABELS",
        value_delimiter = ',',
        env = "ARGOCD_APPLICATION_CONTROLLER_METRICS_CLUSTER_LABELS"
    )]
    pub(crate) metrics_cluster_labels: Vec<String>,
    /// ApplicationSet labels copied to the `argocd_appset_labels` metric,
    /// comma-separated (Argo CD's `--metrics-applicationset-labels`).
    #[arg(long, value_name = "LABELS", value_delimiter = ',')]
    pub(crate) metrics_applicationset_labels: Vec<String>,
}

/// A Go duration (`720h`, `30m`, `0`).
/// The ApplicationSet controller's `--policy` and `--enable-policy-override` (on by
/// default only when no policy is set), as Argo CD reads them.
fn controller_policy(
    policy: &str,
    enable_override: Option<bool>,
) -> anyhow::Result<flotilla_fleet::argocd::applicationset::ControllerPolicy> {
    use flotilla_fleet::argocd::applicationset::ApplicationsSyncPolicy as Policy;
    let chosen = match policy {
        "" | "sync" => Policy::Sync,
        "create-only" => Policy::CreateOnly,
        "create-update" => Policy::CreateUpdate,
        "create-delete" => Policy::CreateDelete,
        other => anyhow::bail!(
            "--policy {other:?}: Policy value can be: sync, create-only, create-update, create-delete, default value: sync"
        ),
    };
    Ok(flotilla_fleet::argocd::applicationset::ControllerPolicy {
        policy: chosen,
        allow_override: enable_override.unwrap_or(policy.is_empty()),
    })
}

/// `argocd-cmd-params-cm` keys and the flags they stand for, as Argo CD's install hands
/// them to its controllers (each as the flag's environment variable): a key sets its flag
/// when neither the flag nor its variable (as the flag declares it) is given.
const CMD_PARAMS: &[(&str, &str)] = &[
    (
        "controller.self.heal.timeout.seconds",
        "--self-heal-timeout-seconds",
    ),
    (
        "controller.self.heal.backoff.timeout.seconds",
        "--self-heal-backoff-timeout-seconds",
    ),
    (
        "controller.self.heal.backoff.factor",
        "--self-heal-backoff-factor",
    ),
    (
        "controller.self.heal.backoff.cap.seconds",
        "--self-heal-backoff-cap-seconds",
    ),
    ("controller.status.processors", "--workers"),
    ("controller.sync.wave.delay.seconds", "--sync-wave-delay"),
    (
        "controller.metrics.application.labels",
        "--metrics-application-labels",
    ),
    (
        "controller.metrics.application.conditions",
        "--metrics-application-conditions",
    ),
    (
        "controller.metrics.cluster.labels",
        "--metrics-cluster-labels",
    ),
    ("application.namespaces", "--application-namespaces"),
    (
        "applicationsetcontroller.namespaces",
        "--applicationset-namespaces",
    ),
    ("applicationsetcontroller.policy", "--policy"),
    (
        "applicationsetcontroller.enable.policy.override",
        "--enable-policy-override",
    ),
    (
        "applicationsetcontroller.global.preserved.annotations",
        "--preserved-annotations",
    ),
    (
        "applicationsetcontroller.global.preserved.labels",
        "--preserved-labels",
    ),
    (
        "applicationsetcontroller.enable.progressive.syncs",
        "--enable-progressive-syncs",
    ),
    (
        "applicationsetcontroller.enable.tokenref.strict.mode",
        "--token-ref-strict-mode",
    ),
    (
        "applicationsetcontroller.enable.new.git.file.globbing",
        "--enable-new-git-file-globbing",
    ),
    (
        "applicationsetcontroller.allowed.scm.providers",
        "--allowed-scm-providers",
    ),
    (
        "applicationsetcontroller.enable.scm.providers",
        "--enable-scm-providers",
    ),
    (
        "applicationsetcontroller.status.max.resources.count",
        "--max-resources-status-count",
    ),
];

/// The flags `argocd-cmd-params-cm`'s `data` adds to the command line `argv` of `command`
/// (the controller's flags): those not in `argv` and whose environment variable
/// `env_set` does not report; a switch only when the value is true (Go's `ParseBool`).
fn cmd_params_args(
    command: &clap::Command,
    data: &std::collections::BTreeMap<String, String>,
    argv: &[String],
    env_set: impl Fn(&std::ffi::OsStr) -> bool,
) -> Vec<String> {
    let given = |flag: &str| {
        argv.iter().any(|a| {
            a == flag
                || a.strip_prefix(flag)
                    .is_some_and(|rest| rest.starts_with('='))
        })
    };
    let mut out = Vec::new();
    for (key, flag) in CMD_PARAMS {
        let Some(value) = data.get(*key).map(|v| v.trim()) else {
            continue;
        };
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == flag.strip_prefix("--"))
        else {
            continue;
        };
        if given(flag) || arg.get_env().is_some_and(&env_set) {
            continue;
        }
        if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
            if matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True") {
                out.push((*flag).to_string());
            }
        } else {
            out.push(format!("{flag}={value}"));
        }
    }
    out
}

/// The controller's flags as a command of their own.
#[derive(clap::Parser)]
struct ControllerCommand {
    #[command(flatten)]
    args: ControllerArgs,
}

/// `args` with what the hub's `argocd-cmd-params-cm` (in Argo CD's namespace) sets for the
/// flags given neither on the command line nor in the environment, as Argo CD's install
/// passes those keys to its controllers; `args` unchanged when there is no such
/// ConfigMap.
async fn with_cmd_params(
    args: ControllerArgs,
    hub_config: &kube::Config,
) -> anyhow::Result<ControllerArgs> {
    let hub = kube::Client::try_from(hub_config.clone()).context("a client for the hub")?;
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(hub, flotilla_hub::application::PROJECT_NAMESPACE);
    let data = match config_maps.get_opt(CMD_PARAMS_CM).await {
        Ok(found) => found.and_then(|cm| cm.data).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "reading {CMD_PARAMS_CM}; its settings are not applied");
            return Ok(args);
        }
    };
    // The controller's own arguments (no option precedes the subcommand).
    let argv: Vec<String> = std::env::args().skip_while(|a| a != "controller").collect();
    let command = <ControllerCommand as clap::CommandFactory>::command();
    let extra = cmd_params_args(&command, &data, &argv, |env| {
        std::env::var_os(env).is_some()
    });
    if extra.is_empty() || argv.is_empty() {
        return Ok(args);
    }
    tracing::info!(flags = ?extra, "settings from {CMD_PARAMS_CM}");
    let reparsed = <ControllerCommand as clap::Parser>::try_parse_from(argv.iter().chain(&extra))
        .with_context(|| format!("{CMD_PARAMS_CM}: {}", extra.join(" ")))?;
    Ok(reparsed.args)
}

/// Argo CD's ConfigMap of its components' command-line parameters.
const CMD_PARAMS_CM: &str = "argocd-cmd-params-cm";

/// Argo CD's self-heal spacing from its four flags: a backoff unless its first wait is
/// 0, then the fixed timeout.
fn self_heal_pacing(args: &ControllerArgs) -> flotilla_hub::application::SelfHealPacing {
    use flotilla_hub::application::SelfHealPacing;
    use std::time::Duration;
    if args.self_heal_backoff_timeout_seconds == 0 {
        return SelfHealPacing::Timeout(Duration::from_secs(args.self_heal_timeout_seconds));
    }
    SelfHealPacing::Backoff {
        initial: Duration::from_secs(args.self_heal_backoff_timeout_seconds),
        factor: f64::from(args.self_heal_backoff_factor),
        cap: Duration::from_secs(args.self_heal_backoff_cap_seconds),
    }
}

/// A number of seconds (a flag as Argo CD takes it) or a Go duration (its environment
/// variable's form).
fn parse_seconds_or_duration(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(seconds) => Ok(std::time::Duration::from_secs(seconds)),
        Err(_) => parse_go_duration(text.trim()),
    }
}

fn parse_go_duration(text: &str) -> Result<std::time::Duration, String> {
    flotilla_source::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 720h or 30m"))
}

/// Parses `PROVIDER=SECRET_FILE` and reads the secret.
pub(crate) fn parse_webhook(text: &str) -> anyhow::Result<Receiver> {
    let Some((provider, file)) = text.split_once('=') else {
        bail!("--webhook {text:?}: expected PROVIDER=SECRET_FILE");
    };
    let provider = match provider {
        "github" => Provider::GitHub,
        "gitlab" => Provider::GitLab,
        "gitea" => Provider::Gitea,
        "bitbucket" => Provider::Bitbucket,
        "generic" => Provider::Generic,
        "generic-hmac" => Provider::GenericHmac,
        other => bail!(
            "--webhook {text:?}: unknown provider {other:?} (github, gitlab, gitea, bitbucket, generic, generic-hmac)"
        ),
    };
    let secret = std::fs::read_to_string(file)
        .with_context(|| format!("--webhook {text:?}: reading the secret file"))?
        .trim()
        .to_string();
    if secret.is_empty() {
        bail!("--webhook {text:?}: the secret file is empty");
    }
    Ok(Receiver {
        name: format!("{provider:?}").to_lowercase(),
        provider,
        secret,
        repositories: Vec::new(),
    })
}

/// Parses `BASE=PREFIX`.
pub(crate) fn parse_rewrite(text: &str) -> anyhow::Result<Rewrite> {
    let Some((base, instead_of)) = text.split_once('=') else {
        bail!("--rewrite {text:?}: expected BASE=PREFIX");
    };
    if base.is_empty() || instead_of.is_empty() {
        bail!("--rewrite {text:?}: BASE and PREFIX must not be empty");
    }
    Ok(Rewrite {
        base: base.to_string(),
        instead_of: instead_of.to_string(),
    })
}

/// `--applicationset-namespaces`, refused as Argo CD's controller refuses to start when
/// ApplicationSets outside its namespace could choose the forge API the hub calls (the
/// SCM provider and pull request generators) with no `--allowed-scm-providers`.
fn applicationset_namespaces(args: &ControllerArgs) -> anyhow::Result<Vec<String>> {
    let namespaces: Vec<String> = args
        .applicationset_namespaces
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let any_allowed = args
        .allowed_scm_providers
        .iter()
        .any(|a| !a.trim().is_empty());
    if !namespaces.is_empty() && args.enable_scm_providers && !any_allowed {
        bail!(
            "--applicationset-namespaces {}: ApplicationSets in any namespace need \
             --allowed-scm-providers or --enable-scm-providers=false",
            namespaces.join(",")
        );
    }
    Ok(namespaces)
}

/// The configuration for `context` of the kubeconfig at `path` (or the default kubeconfig).
pub(crate) async fn config_from(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .context("loading the kubeconfig")
}

/// A client for `context` of the kubeconfig at `path` (or the default kubeconfig).
pub(crate) async fn client_from(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Client> {
    let config = config_from(path, context).await?;
    kube::Client::try_from(config).context("building the client")
}

/// Runs the controllers until interrupted.
pub(crate) fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(2 * cores)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let hub_config =
            config_from(args.hub_kubeconfig.as_deref(), args.context.as_deref()).await?;
        let args = with_cmd_params(args, &hub_config).await?;
        let rewrites = args
            .rewrites
            .iter()
            .map(|r| parse_rewrite(r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let receivers = args
            .webhooks
            .iter()
            .map(|w| parse_webhook(w))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut config = HubConfig::new(&args.cache_dir);
        config.rewrites = rewrites;
        config.controller.workers = args.workers;
        config.controller.resync_override = args.app_resync;
        config.self_heal = self_heal_pacing(&args);
        config.wave_delay = std::time::Duration::from_secs(args.sync_wave_delay);
        config.app_metrics = flotilla_hub::metrics::AppMetricsOptions {
            labels: args.metrics_application_labels.clone(),
            conditions: args.metrics_application_conditions.clone(),
        };
        config.cluster_metric_labels = args.metrics_cluster_labels.clone();
        config.appset_metric_labels = args.metrics_applicationset_labels.clone();
        config.controller.application_namespaces = args.application_namespaces.clone();
        config.appsets.max_resources_status_count = args.max_resources_status_count;
        config.appsets.enable_progressive_syncs = args.enable_progressive_syncs;
        config.appsets.policy = controller_policy(&args.policy, args.enable_policy_override)?;
        config.appsets.preserved = flotilla_fleet::argocd::applicationset::PreservedFields {
            annotations: args.preserved_annotations.clone(),
            labels: args.preserved_labels.clone(),
        };
        config.appsets.new_git_file_globbing = args.enable_new_git_file_globbing;
        config.flux.default_service_account = args.default_service_account.clone();
        config.flux.no_cross_namespace_refs = args.no_cross_namespace_refs;
        config.flux.dependency_requeue = args.requeue_dependency;
        config.flux.override_managers = args.override_managers.clone();
        config.flux.watch_configs_label_selector =
            (!args.disable_config_watchers).then(|| args.watch_configs_label_selector.clone());
        config.flux.kubeconfig = flotilla_hub::flux::kubeconfig::KubeconfigPolicy {
            allow_exec: args.insecure_kubeconfig_exec,
            allow_insecure_tls: args.insecure_kubeconfig_tls,
        };
        config.egress_deny = args
            .egress_deny
            .iter()
            .map(|rule| flotilla_source::egress::Denied::parse(rule))
            .collect::<Result<_, _>>()?;
        if args.sealed_secrets {
            config.sealed_secrets = Some(flotilla_hub::sealed_secrets::SealedSecretsOptions {
                namespace: args.sealed_secrets_namespace.clone(),
                key_renew_period: args.sealed_secrets_key_renew_period,
                verify_rate_quota: flotilla_hub::sealed_secrets::RateQuota {
                    per_second: args.sealed_secrets_rate_limit,
                    burst: args.sealed_secrets_rate_limit_burst,
                },
                ..Default::default()
            });
        }
        config.appsets.applicationset_namespaces = applicationset_namespaces(&args)?;
        config.appsets.scm = flotilla_hub::appset::ScmPolicy {
            enabled: args.enable_scm_providers,
            allowed: args
                .allowed_scm_providers
                .iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            token_ref_strict: args.token_ref_strict_mode,
        };
        let running = run::start(hub_config, config)
            .await
            .context("starting the hub controllers")?;
        let listener = tokio::net::TcpListener::bind(args.metrics_addr)
            .await
            .with_context(|| format!("binding {}", args.metrics_addr))?;
        let addr = listener.local_addr()?;
        eprintln!("flotilla controller: reconciling; metrics at http://{addr}/metrics");
        for receiver in &receivers {
            eprintln!(
                "flotilla controller: {} webhook at http://{addr}{}",
                receiver.name,
                receiver.path()
            );
        }
        // Flux Receivers share the `/hook/` paths: what no `--webhook` receiver serves is
        // theirs.
        let hooks = flotilla_source::webhook::router_with(
            running.sources.mirrors().clone(),
            receivers,
            Some(running.flux_receivers.clone()),
        );
        let sealed_secrets = running.sealed_secrets.clone();
        let app = metrics_router(Arc::new(running))
            .merge(hooks)
            .merge(sealed_secrets);
        tokio::select! {
            served = axum::serve(listener, app) => served.context("serving /metrics")?,
            _ = tokio::signal::ctrl_c() => eprintln!("flotilla controller: interrupted"),
        }
        anyhow::Ok(())
    })?;
    // Reconciles may still be running on blocking threads; see `flotilla demo`.
    std::process::exit(0)
}

/// `/healthz` and `/metrics` (Prometheus text format).
pub(crate) fn metrics_router(running: Arc<Hub>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(running)
}

async fn metrics(State(running): State<Arc<Hub>>) -> String {
    let mut out = String::new();
    let counts = running.applications.counts();
    out.push_str("# HELP flotilla_applications Applications by sync and health status.\n");
    out.push_str("# TYPE flotilla_applications gauge\n");
    for ((sync, health), n) in counts {
        out.push_str(&format!(
            "flotilla_applications{{sync=\"{sync}\",health=\"{health}\"}} {n}\n"
        ));
    }
    // Argo CD's own app metrics, so its dashboards and alerts keep working.
    out.push_str(
        &running.applications.render_argocd_info(&|server, name| {
            running.clusters.read().ok()?.server_of(server, name)
        }),
    );
    let registered: std::collections::BTreeMap<String, flotilla_hub::metrics::RegisteredCluster> =
        running
            .clusters
            .read()
            .map(|r| {
                r.clusters()
                    .map(|c| {
                        let cluster = flotilla_hub::metrics::RegisteredCluster {
                            name: c.secret.name.clone(),
                            labels: c.secret.labels.clone(),
                        };
                        (c.secret.server.clone(), cluster)
                    })
                    .collect()
            })
            .unwrap_or_default();
    let watches = running.reconciler.drift_watches();
    let caches = watches
        .as_ref()
        .map(|w| w.cluster_stats())
        .unwrap_or_default();
    let events = watches.map(|w| w.event_counts()).unwrap_or_default();
    out.push_str(&flotilla_hub::metrics::render_argocd_clusters(
        flotilla_hub::metrics::ClusterSeriesInput {
            registered: &registered,
            probes: &running.reconciler.versions.probes(),
            caches: &caches,
            events: &events,
            label_keys: &running.cluster_metric_labels,
            now: std::time::Instant::now(),
        },
    ));
    out.push_str(&flotilla_hub::metrics::render_argocd_appsets(
        &running.applicationsets.values(),
        &running.appset_metric_labels,
    ));
    let clusters = running.clusters.read().map(|r| r.len()).unwrap_or_default();
    out.push_str("# HELP flotilla_clusters Registered clusters.\n# TYPE flotilla_clusters gauge\n");
    out.push_str(&format!("flotilla_clusters {clusters}\n"));
    let stats = running.sources.mirrors().stats();
    out.push_str("# HELP flotilla_git_remote_checks_total Remote ref checks (ls-remote).\n");
    out.push_str("# TYPE flotilla_git_remote_checks_total counter\n");
    out.push_str(&format!(
        "flotilla_git_remote_checks_total {}\n",
        stats.remote_checks
    ));
    out.push_str("# HELP flotilla_git_fetches_total Fetches into mirrors.\n");
    out.push_str("# TYPE flotilla_git_fetches_total counter\n");
    out.push_str(&format!("flotilla_git_fetches_total {}\n", stats.fetches));
    out.push_str(&flotilla_hub::metrics::global().render());
    out
}

#[cfg(test)]
mod tests {
    /// `--app-resync` takes seconds as Argo CD's flag does, and a duration as its
    /// environment variable does.
    #[test]
    fn the_resync_period_is_seconds_or_a_duration() {
        use std::time::Duration;
        assert_eq!(
            super::parse_seconds_or_duration("300"),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(super::parse_seconds_or_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            super::parse_seconds_or_duration("3m"),
            Ok(Duration::from_secs(180))
        );
        assert_eq!(
            super::parse_seconds_or_duration("90s"),
            Ok(Duration::from_secs(90))
        );
        assert!(super::parse_seconds_or_duration("soon").is_err());
    }

    /// Argo CD's `--policy` and `--enable-policy-override`: unset, `sync` with overrides;
    /// set, overrides only when asked; anything else refused with upstream's list.
    #[test]
    fn the_applicationset_policy_reads_as_argo_cd_reads_it() {
        use flotilla_fleet::argocd::applicationset::ApplicationsSyncPolicy as Policy;
        let read = |policy: &str, enable: Option<bool>| {
            let p = super::controller_policy(policy, enable).unwrap();
            (p.policy, p.allow_override)
        };
        assert_eq!(read("", None), (Policy::Sync, true));
        assert_eq!(read("create-only", None), (Policy::CreateOnly, false));
        assert_eq!(
            read("create-update", Some(true)),
            (Policy::CreateUpdate, true)
        );
        assert_eq!(read("create-delete", None), (Policy::CreateDelete, false));
        assert_eq!(read("sync", None), (Policy::Sync, false));
        assert_eq!(read("", Some(false)), (Policy::Sync, false));
        let refused = super::controller_policy("delete-all", None).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("Policy value can be: sync, create-only, create-update, create-delete"),
            "{refused}"
        );
    }

    use super::*;

    #[test]
    fn rewrites_parse_like_git_config() {
        let r = parse_rewrite("http://127.0.0.1:8080/=https://gitlab.internal/").unwrap();
        assert_eq!(r.base, "http://127.0.0.1:8080/");
        assert_eq!(r.instead_of, "https://gitlab.internal/");
        assert!(parse_rewrite("no-equals").is_err());
        assert!(parse_rewrite("=x").is_err());
    }

    /// Argo CD's four self-heal flags: its defaults are the 2 s × 3 backoff capped at
    /// 300 s; a first wait of 0 turns to the fixed timeout; `--enable-policy-override`
    /// takes no value or `=false`; Flux's lockdown and dependency requeue flags.
    #[test]
    fn self_heal_policy_and_lockdown_flags_read_as_upstreams() {
        use flotilla_hub::application::SelfHealPacing;
        use std::time::Duration;
        let args = |extra: &[&str]| {
            let mut argv = vec!["controller"];
            argv.extend_from_slice(extra);
            <ControllerCommand as clap::Parser>::try_parse_from(argv)
                .unwrap()
                .args
        };
        assert_eq!(self_heal_pacing(&args(&[])), SelfHealPacing::default());
        assert_eq!(
            self_heal_pacing(&args(&[
                "--self-heal-backoff-timeout-seconds",
                "0",
                "--self-heal-timeout-seconds",
                "5"
            ])),
            SelfHealPacing::Timeout(Duration::from_secs(5))
        );
        assert_eq!(
            self_heal_pacing(&args(&[
                "--self-heal-backoff-timeout-seconds",
                "10",
                "--self-heal-backoff-factor",
                "2",
                "--self-heal-backoff-cap-seconds",
                "60"
            ])),
            SelfHealPacing::Backoff {
                initial: Duration::from_secs(10),
                factor: 2.0,
                cap: Duration::from_secs(60)
            }
        );
        let read = |extra: &[&str]| {
            let a = args(extra);
            let p = controller_policy(&a.policy, a.enable_policy_override).unwrap();
            p.allow_override
        };
        // Flux's lockdown flag: on by default here, `=false` lifts it.
        assert!(args(&[]).no_cross_namespace_refs);
        assert!(args(&["--no-cross-namespace-refs"]).no_cross_namespace_refs);
        assert!(!args(&["--no-cross-namespace-refs=false"]).no_cross_namespace_refs);
        assert_eq!(
            args(&["--requeue-dependency", "5s"]).requeue_dependency,
            Duration::from_secs(5)
        );
        assert!(read(&[]));
        assert!(!read(&["--policy", "create-only"]));
        assert!(read(&[
            "--policy",
            "create-only",
            "--enable-policy-override"
        ]));
        assert!(!read(&["--enable-policy-override=false"]));
    }

    /// Every `argocd-cmd-params-cm` key names a flag of the controller that has an
    /// environment variable (Argo CD's install passes each key as one): a misspelt flag
    /// would otherwise drop its key without a word.
    #[test]
    fn every_cmd_params_key_names_a_flag_with_a_variable() {
        let command = <ControllerCommand as clap::CommandFactory>::command();
        for (key, flag) in CMD_PARAMS {
            let arg = command
                .get_arguments()
                .find(|a| a.get_long() == flag.strip_prefix("--"));
            assert!(
                arg.is_some_and(|a| a.get_env().is_some()),
                "{key}: {flag} is no controller flag with an environment variable"
            );
        }
    }

    /// `argocd-cmd-params-cm` as Argo CD's install hands it to its controllers: each key
    /// sets its flag unless the flag or its environment variable is given; switches only
    /// when true; keys Flotilla has no flag for are left alone; and the flags parse.
    #[test]
    fn argocd_cmd_params_set_the_flags_not_given() {
        use std::collections::BTreeMap;
        let data = BTreeMap::from(
            [
                ("applicationsetcontroller.policy", "create-only"),
                ("applicationsetcontroller.enable.progressive.syncs", "true"),
                (
                    "applicationsetcontroller.enable.new.git.file.globbing",
                    "false",
                ),
                (
                    "applicationsetcontroller.global.preserved.labels",
                    "team,tier",
                ),
                ("controller.self.heal.backoff.timeout.seconds", "0"),
                ("controller.self.heal.timeout.seconds", "5"),
                ("controller.sync.wave.delay.seconds", "7"),
                ("controller.status.processors", "50"),
                ("application.namespaces", "team-*"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let argv: Vec<String> = ["controller", "--sync-wave-delay", "1"]
            .map(String::from)
            .to_vec();
        let env_set = |env: &std::ffi::OsStr| env == "ARGOCD_APPLICATION_NAMESPACES";
        let command = <ControllerCommand as clap::CommandFactory>::command();
        let extra = cmd_params_args(&command, &data, &argv, env_set);
        assert_eq!(
            extra,
            [
                "--self-heal-timeout-seconds=5",
                "--self-heal-backoff-timeout-seconds=0",
                "--workers=50",
                "--policy=create-only",
                "--preserved-labels=team,tier",
                "--enable-progressive-syncs",
            ]
        );
        let args = <ControllerCommand as clap::Parser>::try_parse_from(argv.iter().chain(&extra))
            .unwrap()
            .args;
        assert_eq!(args.policy, "create-only");
        assert!(args.enable_progressive_syncs);
        assert!(!args.enable_new_git_file_globbing);
        assert_eq!(args.preserved_labels, ["team", "tier"]);
        assert_eq!(args.sync_wave_delay, 1, "the command line wins");
        assert_eq!(args.workers, 50);
        assert_eq!(
            self_heal_pacing(&args),
            flotilla_hub::application::SelfHealPacing::Timeout(std::time::Duration::from_secs(5))
        );
        let policy = controller_policy(&args.policy, args.enable_policy_override).unwrap();
        assert!(!policy.allow_override, "a policy set locks it, as upstream");
    }

    #[test]
    fn applicationsets_in_other_namespaces_need_an_scm_allow_list() {
        let args = |extra: &[&str]| {
            let mut argv = vec!["controller"];
            argv.extend_from_slice(extra);
            <ControllerCommand as clap::Parser>::try_parse_from(argv)
                .unwrap()
                .args
        };
        assert!(applicationset_namespaces(&args(&[])).unwrap().is_empty());
        let err = applicationset_namespaces(&args(&["--applicationset-namespaces", "team-*"]))
            .unwrap_err();
        assert!(
            err.to_string().contains("need --allowed-scm-providers"),
            "{err}"
        );
        let allowed = args(&[
            "--applicationset-namespaces",
            "team-*,/^ops$/",
            "--allowed-scm-providers",
            "https://api.github.com",
        ]);
        assert_eq!(
            applicationset_namespaces(&allowed).unwrap(),
            ["team-*", "/^ops$/"]
        );
        let disabled = args(&[
            "--applicationset-namespaces",
            "team-*",
            "--enable-scm-providers=false",
        ]);
        assert_eq!(applicationset_namespaces(&disabled).unwrap(), ["team-*"]);
    }

    #[test]
    fn webhooks_name_a_provider_and_a_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        let r = parse_webhook(&format!("github={}", file.display())).unwrap();
        assert_eq!(r.provider, Provider::GitHub);
        assert_eq!(r.secret, "s3cret");
        let err = parse_webhook(&format!("svn={}", file.display())).unwrap_err();
        assert!(
            err.to_string().contains("unknown provider \"svn\""),
            "{err}"
        );
        let err = parse_webhook("github=/nonexistent/secret").unwrap_err();
        assert!(
            format!("{err:#}").contains("reading the secret file"),
            "{err:#}"
        );
        std::fs::write(&file, "\n").unwrap();
        assert!(parse_webhook(&format!("gitlab={}", file.display())).is_err());
    }
}
