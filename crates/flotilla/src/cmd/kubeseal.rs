//! `flotilla kubeseal`: Sealed Secrets' `kubeseal`, with its flag names — seal Secrets (stdin
//! or `-f`) with a certificate, seal one raw value, merge new items into a SealedSecret file
//! (`--merge-into`), unseal a SealedSecret with the controller's private keys
//! (`--recovery-unseal`), and ask the controller to check (`--validate`) or re-encrypt
//! (`--re-encrypt`) SealedSecrets. Nothing here talks to a cluster: the certificate is a
//! file or a URL, the controller is the hub's URL (`--controller-url`), and the namespace
//! comes from `--namespace`, else the kubeconfig context's (read, never connected to).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use flotilla_secrets::{ControllerKey, Scope, SealingKey, seal, unseal};
use serde_json::Value;

/// kubeseal's namespace when neither the Secret nor `--namespace` gives one (client-go's
/// default without a kubeconfig context namespace).
const DEFAULT_NAMESPACE: &str = "default";

/// Output formats of `-o/--format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Indented JSON (kubeseal's default).
    #[default]
    Json,
    /// YAML after a `---` line.
    Yaml,
}

/// Arguments of `flotilla kubeseal` (kubeseal's names; the cluster-facing ones are absent).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Certificate (PEM) to seal with, the controller's `tls.crt`: a file, or an
    /// `http(s)://` or `file://` URL — such as the hub's
    /// `/sealed-secrets/<cluster>/v1/cert.pem`.
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) cert: Option<String>,
    /// strict, namespace-wide or cluster-wide. Mandatory for --raw; otherwise the Secret's
    /// `sealedsecrets.bitnami.com/{cluster,namespace}-wide` annotations may select it.
    #[arg(long, value_name = "SCOPE", default_value = "strict")]
    pub(crate) scope: Scope,
    /// Output format: json (the default) or yaml; `--merge-into` keeps its file's format
    /// unless given.
    #[arg(short = 'o', long, value_enum)]
    pub(crate) format: Option<Format>,
    /// Secret (input) file; stdin when absent.
    #[arg(short = 'f', long = "secret-file", value_name = "FILE")]
    pub(crate) secret_file: Option<PathBuf>,
    /// SealedSecret (output) file; `.yaml`/`.yml` selects YAML. Stdout when absent.
    #[arg(short = 'w', long = "sealed-secret-file", value_name = "FILE")]
    pub(crate) sealed_secret_file: Option<PathBuf>,
    /// Name of the sealed secret (required with --raw and strict scope; overrides the
    /// Secret's name otherwise).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Namespace (kubectl's flag): the Secret's when it has none, and checked against it.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// The kubeconfig whose context gives the namespace when neither the Secret nor -n
    /// does ($KUBECONFIG or ~/.kube/config when absent).
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to read the namespace of (the current one when absent).
    #[arg(long, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// Encrypt one raw value (from --from-file or stdin) and print its base64.
    #[arg(long)]
    pub(crate) raw: bool,
    /// (only with --raw) The file holding the value, as `[key=]path`.
    #[arg(long = "from-file", value_name = "[KEY=]PATH", value_delimiter = ',')]
    pub(crate) from_file: Vec<String>,
    /// Allow a Secret without data.
    #[arg(long = "allow-empty-data")]
    pub(crate) allow_empty_data: bool,
    /// Decrypt a SealedSecret from stdin (or -f) with --recovery-private-key (disaster
    /// recovery).
    #[arg(long = "recovery-unseal")]
    pub(crate) recovery_unseal: bool,
    /// Private key file for --recovery-unseal: a PEM key, or a backup of the controller's key
    /// Secrets (a Secret, several, or a v1 List) in YAML or JSON. Repeatable.
    #[arg(
        long = "recovery-private-key",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub(crate) recovery_private_key: Vec<PathBuf>,
    /// Ask the controller (--controller-url) whether it can decrypt the SealedSecret(s) of
    /// the input.
    #[arg(long)]
    pub(crate) validate: bool,
    /// Have the controller (--controller-url) re-encrypt the SealedSecret(s) of the input
    /// with its newest key; with -f and no -w the file is rewritten.
    #[arg(long = "re-encrypt", alias = "rotate")]
    pub(crate) re_encrypt: bool,
    /// Seal the input Secret's items and merge them into this SealedSecret file, rewriting
    /// it in place instead of printing.
    #[arg(long = "merge-into", value_name = "FILE")]
    pub(crate) merge_into: Option<PathBuf>,
    /// The controller for --validate and --re-encrypt: the hub's
    /// `http(s)://<hub>/sealed-secrets/<cluster>` (kubeseal reaches an in-cluster controller
    /// through the API server's service proxy instead).
    #[arg(long = "controller-url", value_name = "URL")]
    pub(crate) controller_url: Option<String>,
    /// Write the certificate (--cert, else the controller's) to stdout, for later use with
    /// --cert.
    #[arg(long = "fetch-cert")]
    pub(crate) fetch_cert: bool,
}

impl Args {
    fn output_format(&self) -> Format {
        self.format.unwrap_or_default()
    }
}

/// Runs the selected mode, writing to stdout or `-w`.
pub(crate) fn run(mut args: Args) -> anyhow::Result<()> {
    if !args.from_file.is_empty() && !args.raw {
        bail!("--from-file requires --raw");
    }
    // kubeseal re-encrypts a file in place when it is given no other output.
    if args.re_encrypt && args.sealed_secret_file.is_none() {
        args.sealed_secret_file = args.secret_file.clone();
    }
    if let Some(out) = &args.sealed_secret_file
        && matches!(
            out.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
    {
        args.format = Some(Format::Yaml);
    }
    // kubeseal's order of modes.
    let output = if args.recovery_unseal {
        recovery_unseal(&args)?
    } else if args.validate {
        return validate(&args);
    } else if args.re_encrypt {
        re_encrypt(&args)?
    } else if args.fetch_cert {
        let (pem, shown) = certificate(&args)?;
        String::from_utf8(pem).map_err(|_| anyhow::anyhow!("{shown} is not a PEM certificate"))?
    } else if let Some(target) = &args.merge_into {
        return merge_into(&args, target);
    } else if args.raw {
        seal_raw(&args)?
    } else {
        seal_secrets(&args)?
    };
    match &args.sealed_secret_file {
        Some(path) => {
            std::fs::write(path, output).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout()
            .write_all(output.as_bytes())
            .context("writing to stdout")?,
    }
    Ok(())
}

/// The input: `-f FILE` or stdin, with a name for error messages.
fn input(args: &Args) -> anyhow::Result<(Vec<u8>, String)> {
    match &args.secret_file {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok((bytes, path.display().to_string()))
        }
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            Ok((bytes, "stdin".to_string()))
        }
    }
}

/// The YAML or JSON documents of `bytes` (empty documents dropped).
fn documents(bytes: &[u8], source: &str) -> anyhow::Result<Vec<Value>> {
    let text = std::str::from_utf8(bytes).with_context(|| format!("{source} is not UTF-8"))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("parsing {source} as YAML or JSON"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The sealing certificate (`--cert`, else the controller's), refused when expired as
/// kubeseal refuses it.
fn sealing_key(args: &Args) -> anyhow::Result<SealingKey> {
    let (pem, shown) = certificate(args)?;
    let key = SealingKey::from_certificate_pem(&pem)
        .with_context(|| format!("reading the certificate {shown}"))?;
    key.check_not_expired(now())
        .with_context(|| format!("certificate {shown}"))?;
    Ok(key)
}

/// The certificate's bytes and how to name it: `--cert`, or else the controller's
/// `/v1/cert.pem` (kubeseal's `OpenCert`: a certificate URL wins over the controller).
fn certificate(args: &Args) -> anyhow::Result<(Vec<u8>, String)> {
    if let Some(cert) = &args.cert {
        return Ok((read_certificate(cert)?, cert.clone()));
    }
    if args.controller_url.is_some() {
        let url = controller_endpoint(args, "the certificate", "cert.pem")?;
        return Ok((read_certificate(&url)?, flotilla_source::redact_str(&url)));
    }
    bail!(
        "--cert or --controller-url is required: flotilla kubeseal does not reach a controller through the cluster"
    )
}

/// The bytes of `--cert`: a file, a `file://` URL, or what an `http(s)://` URL answers
/// (kubeseal's `openCertLocal`: anything with a scheme is a URL; only 200 is an answer).
fn read_certificate(cert: &str) -> anyhow::Result<Vec<u8>> {
    let scheme = cert.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        None => std::fs::read(cert).with_context(|| format!("reading {cert}")),
        Some("file") => {
            let path = &cert["file://".len()..];
            std::fs::read(path).with_context(|| format!("reading {cert}"))
        }
        Some("http" | "https") => {
            let answer = http("GET", cert, "application/x-pem-file, */*", b"")
                .map_err(|e| anyhow::anyhow!("cannot fetch certificate: {e}"))?;
            if answer.status != 200 {
                bail!(
                    "cannot fetch {:?}: {}",
                    flotilla_source::redact_str(cert),
                    answer.status
                );
            }
            Ok(answer.body)
        }
        Some(other) => bail!("--cert {cert:?}: unsupported URL scheme {other:?}"),
    }
}

/// One HTTP exchange, waited for on a runtime of its own (the CLI has no other).
fn http(
    method: &str,
    url: &str,
    accept: &str,
    body: &[u8],
) -> anyhow::Result<flotilla_source::outbound::Answer> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the HTTP client")?;
    let mut headers = vec![("Accept".to_string(), accept.to_string())];
    if !body.is_empty() {
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
    }
    let answer = runtime.block_on(flotilla_source::outbound::send(
        flotilla_source::outbound::Outbound {
            method,
            url,
            headers: &headers,
            body,
            limit: 4 * 1024 * 1024,
            timeout: Some(std::time::Duration::from_secs(30)),
            secrets: &[],
        },
    ))?;
    Ok(answer)
}

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// kubeseal's `Seal`: every Secret of the input, one SealedSecret each.
fn seal_secrets(args: &Args) -> anyhow::Result<String> {
    let key = sealing_key(args)?;
    let mut out = String::new();
    for sealed in sealed_secrets(args, &key, None)? {
        out.push_str(&render(&sealed, args.output_format())?);
    }
    Ok(out)
}

/// The name and namespace a Secret is sealed under when merged into a SealedSecret.
struct SealTarget<'a> {
    name: &'a str,
    namespace: &'a str,
}

/// Every Secret of the input sealed with `key`, under `target`'s name and namespace when
/// given (kubeseal's overrides), else the Secret's own and `--name`.
fn sealed_secrets(
    args: &Args,
    key: &SealingKey,
    target: Option<&SealTarget>,
) -> anyhow::Result<Vec<Value>> {
    let (bytes, source) = input(args)?;
    let secrets = documents(&bytes, &source)?;
    if secrets.is_empty() {
        bail!("no secrets found. Ensure the input is valid and UTF-8 encoded");
    }
    let mut sealed_secrets = Vec::new();
    for mut secret in secrets {
        let has_data = ["data", "stringData"].iter().any(|f| {
            secret
                .get(f)
                .and_then(Value::as_object)
                .is_some_and(|o| !o.is_empty())
        });
        if !has_data && !args.allow_empty_data {
            bail!(
                "secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used"
            );
        }
        if !secret.get("metadata").is_some_and(Value::is_object) {
            secret["metadata"] = Value::Object(serde_json::Map::new());
        }
        let name_override = target.map(|t| t.name).or(args.name.as_deref());
        if let Some(name) = name_override.filter(|n| !n.is_empty()) {
            secret["metadata"]["name"] = name.into();
        }
        if let Some(namespace) = target.map(|t| t.namespace).filter(|n| !n.is_empty()) {
            secret["metadata"]["namespace"] = namespace.into();
        }
        // A --scope other than the default is written onto the Secret; the Secret's
        // annotations then decide (kubeseal's order).
        if args.scope != Scope::Strict {
            let annotations = secret["metadata"]
                .as_object_mut()
                .expect("metadata made an object above")
                .entry("annotations")
                .or_insert(Value::Null);
            args.scope.annotate(annotations);
        }
        let scope = Scope::of_annotations(&secret["metadata"]["annotations"]);
        if scope != Scope::ClusterWide {
            let own = secret["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if let Some(flag) = &args.namespace
                && !own.is_empty()
                && &own != flag
            {
                bail!(
                    "namespace mismatch: input secret is in namespace {own:?} but {flag:?} was specified"
                );
            }
            if own.is_empty() {
                secret["metadata"]["namespace"] = default_namespace(args)?.into();
            }
        }
        let sealed = seal(&secret, key, scope).with_context(|| {
            let name = secret["metadata"]["name"].as_str().unwrap_or("");
            format!("sealing Secret {name:?} from {source}")
        })?;
        sealed_secrets.push(sealed);
    }
    Ok(sealed_secrets)
}

/// kubeseal's `SealMergingInto`: the input Secret's items sealed under the SealedSecret
/// file's name and namespace, their ciphertexts and template labels, annotations and data
/// entries merged over the file's, the file rewritten (whole, or not at all).
fn merge_into(args: &Args, target: &Path) -> anyhow::Result<()> {
    let key = sealing_key(args)?;
    let shown = target.display().to_string();
    let bytes = std::fs::read(target).with_context(|| format!("reading {shown}"))?;
    let docs = documents(&bytes, &shown)?;
    let [existing] = docs.as_slice() else {
        bail!(
            "{shown}: expected one SealedSecret, found {} documents",
            docs.len()
        );
    };
    if existing["kind"] != flotilla_secrets::sealed::KIND {
        bail!("{shown}: not a SealedSecret (kind {})", existing["kind"]);
    }
    let mut merged = existing.clone();
    let name = existing["metadata"]["name"].as_str().unwrap_or("");
    let namespace = existing["metadata"]["namespace"].as_str().unwrap_or("");
    let target_names = SealTarget { name, namespace };
    for update in sealed_secrets(args, &key, Some(&target_names))? {
        let spec = &update["spec"];
        merge_object(&mut merged["spec"]["encryptedData"], &spec["encryptedData"]);
        for field in ["labels", "annotations"] {
            merge_object(
                &mut merged["spec"]["template"]["metadata"][field],
                &spec["template"]["metadata"][field],
            );
        }
        merge_object(
            &mut merged["spec"]["template"]["data"],
            &spec["template"]["data"],
        );
    }
    let format = args.format.unwrap_or(if looks_like_json(&bytes) {
        Format::Json
    } else {
        Format::Yaml
    });
    replace_file(target, render(&merged, format)?.as_bytes())
}

/// `into`'s entries with `from`'s over them; nothing to merge leaves `into` as it is.
fn merge_object(into: &mut Value, from: &Value) {
    let Some(from) = from.as_object().filter(|f| !f.is_empty()) else {
        return;
    };
    if !into.is_object() {
        *into = Value::Object(serde_json::Map::new());
    }
    if let Some(into) = into.as_object_mut() {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Writes `contents` over `path` through a file beside it renamed into place, keeping the
/// file's permissions: a failure leaves the old file whole.
fn replace_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let shown = path.display();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut staged =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing beside {shown}"))?;
    staged
        .write_all(contents)
        .with_context(|| format!("writing beside {shown}"))?;
    let permissions = std::fs::metadata(path)
        .with_context(|| format!("reading {shown}"))?
        .permissions();
    std::fs::set_permissions(staged.path(), permissions)
        .with_context(|| format!("writing beside {shown}"))?;
    staged
        .persist(path)
        .with_context(|| format!("replacing {shown}"))?;
    Ok(())
}

/// `--controller-url` with `/v1/<endpoint>`; `mode` names the flag that needs it.
fn controller_endpoint(args: &Args, mode: &str, endpoint: &str) -> anyhow::Result<String> {
    let Some(base) = &args.controller_url else {
        bail!(
            "{mode} needs --controller-url URL, the hub's http(s)://<hub>/sealed-secrets/<cluster>: flotilla kubeseal does not reach a controller through the cluster"
        );
    };
    Ok(format!("{}/v1/{endpoint}", base.trim_end_matches('/')))
}

/// What the controller said besides its status, for an error message (its bodies carry
/// no secrets; upstream's carry none at all).
fn answer_text(answer: &flotilla_source::outbound::Answer) -> String {
    let text = String::from_utf8_lossy(&answer.body);
    let text = text.trim();
    let text: String = text.chars().take(200).collect();
    if text.is_empty() {
        answer.status.to_string()
    } else {
        format!("{}: {text}", answer.status)
    }
}

/// kubeseal's `ValidateSealedSecret`: each SealedSecret of the input posted to the
/// controller's `/v1/verify`; the first it cannot decrypt (409) is named.
fn validate(args: &Args) -> anyhow::Result<()> {
    let url = controller_endpoint(args, "--validate", "verify")?;
    let (bytes, source) = input(args)?;
    let Ok(sealed_secrets) = documents(&bytes, &source) else {
        bail!("unable to decrypt sealed secret");
    };
    for sealed in &sealed_secrets {
        let body = serde_json::to_vec(sealed).context("error while marshalling sealed secret")?;
        let answer = http("POST", &url, "application/json, */*", &body)
            .map_err(|e| anyhow::anyhow!("cannot validate sealed secret: {e}"))?;
        match answer.status {
            200..=299 => {}
            409 => bail!(
                "unable to decrypt sealed secret: {}",
                sealed["metadata"]["name"].as_str().unwrap_or("")
            ),
            _ => bail!("cannot validate sealed secret: {}", answer_text(&answer)),
        }
    }
    Ok(())
}

/// kubeseal's `ReEncryptSealedSecret`: each SealedSecret of the input posted to the
/// controller's `/v1/rotate`, its answer printed without server-set fields.
fn re_encrypt(args: &Args) -> anyhow::Result<String> {
    let url = controller_endpoint(args, "--re-encrypt", "rotate")?;
    let (bytes, source) = input(args)?;
    let mut out = String::new();
    for sealed in documents(&bytes, &source)? {
        let body = serde_json::to_vec(&sealed).context("writing the SealedSecret as JSON")?;
        let answer = http("POST", &url, "application/json, */*", &body)
            .map_err(|e| anyhow::anyhow!("cannot re-encrypt secret: {e}"))?;
        match answer.status {
            200..=299 => {}
            409 => bail!("unable to rotate secret"),
            _ => bail!("cannot re-encrypt secret: {}", answer_text(&answer)),
        }
        let resealed: Value = serde_json::from_slice(&answer.body)
            .context("reading the controller's answer as a SealedSecret")?;
        out.push_str(&render(&as_written(resealed), args.output_format())?);
    }
    Ok(out)
}

/// A SealedSecret as kubeseal prints one it got back: its kind and group first, and no
/// creation or deletion time or generation.
fn as_written(mut sealed: Value) -> Value {
    if let Some(metadata) = sealed["metadata"].as_object_mut() {
        metadata.insert("creationTimestamp".into(), Value::Null);
        metadata.shift_remove("deletionTimestamp");
        metadata.shift_remove("generation");
    }
    let mut written = serde_json::Map::new();
    written.insert("kind".into(), flotilla_secrets::sealed::KIND.into());
    written.insert(
        "apiVersion".into(),
        flotilla_secrets::sealed::API_VERSION.into(),
    );
    if let Value::Object(fields) = sealed {
        for (k, v) in fields {
            if k != "kind" && k != "apiVersion" {
                written.insert(k, v);
            }
        }
    }
    Value::Object(written)
}

/// The namespace kubeseal seals into when the Secret names none: `-n`, else the
/// kubeconfig context's namespace, else `default` — client-go's `Namespace()` of the
/// loaded configuration. No kubeconfig at all is no error (kubeseal with `--cert` runs
/// without one); a kubeconfig that does not parse, or a `--context` it lacks, is.
fn default_namespace(args: &Args) -> anyhow::Result<String> {
    use kube::config::Kubeconfig;
    if let Some(namespace) = &args.namespace {
        return Ok(namespace.clone());
    }
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Some(
            Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?,
        ),
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => Some(kubeconfig),
            Err(_) if !kubeconfig_present() => None,
            Err(e) => {
                return Err(e).context("reading the kubeconfig ($KUBECONFIG or ~/.kube/config)");
            }
        },
    };
    let Some(kubeconfig) = kubeconfig else {
        if let Some(context) = &args.context {
            bail!("context {context:?} does not exist: no kubeconfig");
        }
        return Ok(DEFAULT_NAMESPACE.to_string());
    };
    let chosen = args
        .context
        .as_ref()
        .or(kubeconfig.current_context.as_ref());
    let context = chosen.and_then(|name| {
        kubeconfig
            .contexts
            .iter()
            .find(|c| &c.name == name)
            .and_then(|c| c.context.as_ref())
    });
    if let (Some(name), None) = (&args.context, context) {
        bail!("context {name:?} does not exist in the kubeconfig");
    }
    Ok(context
        .and_then(|c| c.namespace.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()))
}

/// Whether `$KUBECONFIG` names a file that exists, or `~/.kube/config` exists.
fn kubeconfig_present() -> bool {
    if let Some(paths) = std::env::var_os("KUBECONFIG").filter(|p| !p.is_empty()) {
        return std::env::split_paths(&paths).any(|p| p.exists());
    }
    std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".kube/config").exists())
        .unwrap_or(false)
}

/// kubeseal's `EncryptSecretItem`: one value, printed as bare base64.
fn seal_raw(args: &Args) -> anyhow::Result<String> {
    let key = sealing_key(args)?;
    let mut namespace = String::new();
    let name = args.name.clone().unwrap_or_default();
    if args.scope != Scope::ClusterWide {
        namespace = default_namespace(args)?;
        if args.scope == Scope::Strict && name.is_empty() {
            bail!(
                "must provide the --name flag with --raw and --scope {}",
                args.scope
            );
        }
    }
    let data = match args.from_file.as_slice() {
        [] => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            bytes
        }
        [one] => {
            // kubectl's `[key=]path`: the key is not used for a raw value.
            let path = one.split_once('=').map_or(one.as_str(), |(_, p)| p);
            std::fs::read(path).with_context(|| format!("reading {path}"))?
        }
        _ => bail!("must provide only one --from-file when encrypting a single item with --raw"),
    };
    let label = args.scope.label(&namespace, &name);
    let sealed =
        flotilla_secrets::hybrid_encrypt(&key, &label, &data).context("sealing the value")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// kubeseal's `UnsealSealedSecret`: the SealedSecret of the input, opened with the keys of
/// every `--recovery-private-key` file.
fn recovery_unseal(args: &Args) -> anyhow::Result<String> {
    if args.recovery_private_key.is_empty() {
        bail!("--recovery-unseal needs at least one --recovery-private-key");
    }
    let mut keys = Vec::new();
    for path in &args.recovery_private_key {
        keys.extend(read_private_keys(path)?);
    }
    let (bytes, source) = input(args)?;
    let docs = documents(&bytes, &source)?;
    let [sealed] = docs.as_slice() else {
        bail!(
            "{source}: expected one SealedSecret, found {} documents",
            docs.len()
        );
    };
    let secret = unseal(sealed, &keys).with_context(|| {
        let name = sealed["metadata"]["name"].as_str().unwrap_or("");
        format!("unsealing SealedSecret {name:?} from {source}")
    })?;
    render(&secret, args.output_format())
}

/// kubeseal's `readPrivKeysFromFile`: a PEM private key, else Secrets (or a v1 List of
/// them) with `tls.key` (and `tls.crt`) in their data.
fn read_private_keys(path: &Path) -> anyhow::Result<Vec<ControllerKey>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(key) = ControllerKey::from_private_key_pem(&bytes) {
        return Ok(vec![key]);
    }
    let name = path.display().to_string();
    let mut secrets = Vec::new();
    for doc in documents(&bytes, &name)
        .with_context(|| format!("{name} is neither a PEM private key nor YAML/JSON Secrets"))?
    {
        match doc.get("kind").and_then(Value::as_str) {
            Some("List") | Some("SecretList") => {
                secrets.extend(doc["items"].as_array().cloned().unwrap_or_default());
            }
            _ => secrets.push(doc),
        }
    }
    if secrets.is_empty() {
        bail!("{name}: no private key or key Secret found");
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    secrets
        .iter()
        .map(|secret| {
            let secret_name = secret["metadata"]["name"].as_str().unwrap_or("");
            let field = |key: &str| -> anyhow::Result<Option<Vec<u8>>> {
                secret["data"][key]
                    .as_str()
                    .map(|v| b64.decode(v))
                    .transpose()
                    .with_context(|| {
                        format!("{name}: Secret {secret_name:?}: data.{key} is not base64")
                    })
            };
            let Some(tls_key) = field("tls.key")? else {
                bail!("{name}: Secret {secret_name:?}: secret must contain a 'tls.key' key");
            };
            let key = match field("tls.crt")? {
                Some(crt) => ControllerKey::from_pem(&crt, &tls_key),
                None => ControllerKey::from_private_key_pem(&tls_key),
            };
            key.with_context(|| format!("{name}: Secret {secret_name:?}"))
        })
        .collect()
}

/// kubeseal's `resourceOutput`: indented JSON and a newline, or `---` and YAML (sorted keys,
/// as sigs.k8s.io/yaml writes it).
fn render(object: &Value, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(object).context("writing JSON")?;
            s.push('\n');
            s
        }
        Format::Yaml => format!(
            "---\n{}",
            flotilla_template::to_yaml(&flotilla_template::Value::from(object))
        ),
    })
}
