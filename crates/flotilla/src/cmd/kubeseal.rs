//! `flotilla kubeseal`: the offline part of Sealed Secrets' `kubeseal`, with its flag names —
//! seal Secrets (stdin or `-f`) with a certificate file, seal one raw value, or unseal a
//! SealedSecret with the controller's private keys (`--recovery-unseal`). Nothing here talks
//! to a cluster: the certificate is a file and the namespace comes from `--namespace`.

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
    /// Output format: json or yaml.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub(crate) format: Format,
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
}

/// Runs the selected mode, writing to stdout or `-w`.
pub(crate) fn run(mut args: Args) -> anyhow::Result<()> {
    if !args.from_file.is_empty() && !args.raw {
        bail!("--from-file requires --raw");
    }
    if let Some(out) = &args.sealed_secret_file
        && matches!(
            out.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
    {
        args.format = Format::Yaml;
    }
    let output = if args.recovery_unseal {
        recovery_unseal(&args)?
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

/// The certificate of `--cert`, refused when expired as kubeseal refuses it.
fn sealing_key(args: &Args) -> anyhow::Result<SealingKey> {
    let Some(path) = &args.cert else {
        bail!(
            "--cert is required: flotilla kubeseal does not fetch the certificate from a cluster"
        );
    };
    let pem = read_certificate(path)?;
    let key = SealingKey::from_certificate_pem(&pem)
        .with_context(|| format!("reading the certificate {path}"))?;
    key.check_not_expired(now())
        .with_context(|| format!("certificate {path}"))?;
    Ok(key)
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
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the HTTP client")?;
            let answer = runtime
                .block_on(flotilla_source::outbound::send(
                    flotilla_source::outbound::Outbound {
                        method: "GET",
                        url: cert,
                        headers: &[(
                            "Accept".to_string(),
                            "application/x-pem-file, */*".to_string(),
                        )],
                        body: b"",
                        limit: 1024 * 1024,
                        timeout: Some(std::time::Duration::from_secs(30)),
                        secrets: &[],
                    },
                ))
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

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// kubeseal's `Seal`: every Secret of the input, one SealedSecret each.
fn seal_secrets(args: &Args) -> anyhow::Result<String> {
    let key = sealing_key(args)?;
    let (bytes, source) = input(args)?;
    let secrets = documents(&bytes, &source)?;
    if secrets.is_empty() {
        bail!("no secrets found. Ensure the input is valid and UTF-8 encoded");
    }
    let mut out = String::new();
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
        if let Some(name) = &args.name {
            secret["metadata"]["name"] = name.as_str().into();
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
                let namespace = args.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
                secret["metadata"]["namespace"] = namespace.into();
            }
        }
        let sealed = seal(&secret, &key, scope).with_context(|| {
            let name = secret["metadata"]["name"].as_str().unwrap_or("");
            format!("sealing Secret {name:?} from {source}")
        })?;
        out.push_str(&render(&sealed, args.format)?);
    }
    Ok(out)
}

/// kubeseal's `EncryptSecretItem`: one value, printed as bare base64.
fn seal_raw(args: &Args) -> anyhow::Result<String> {
    let key = sealing_key(args)?;
    let mut namespace = String::new();
    let name = args.name.clone().unwrap_or_default();
    if args.scope != Scope::ClusterWide {
        namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
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
    render(&secret, args.format)
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
