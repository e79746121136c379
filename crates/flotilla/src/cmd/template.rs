//! `flotilla template [--data FILE.json] [--option missingkey=error] TEMPLATE_FILE`: renders
//! a Go template with the native engine and prints the result.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use flotilla_template::{Functions, Options, Template, Value};

/// The function set a template is rendered with.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub(crate) enum FunctionSet {
    /// Go builtins and Sprig.
    Sprig,
    /// What Argo CD offers ApplicationSet templates.
    Argocd,
    /// What Helm offers charts (include, tpl, required, toYaml, …).
    #[default]
    Helm,
}

/// Arguments of `flotilla template`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// JSON file whose content is the template's data (`.`); no data when absent.
    #[arg(long, value_name = "FILE.json")]
    pub(crate) data: Option<PathBuf>,
    /// Go template option, e.g. `missingkey=error`; may be repeated.
    #[arg(long = "option", value_name = "OPTION")]
    pub(crate) options: Vec<String>,
    /// Which functions the template may call.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) functions: FunctionSet,
    /// The template file.
    #[arg(value_name = "TEMPLATE_FILE")]
    pub(crate) template: PathBuf,
}

/// Parses and executes the template, printing its output; any failure becomes an error
/// (exit status 1) naming the file it concerns.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.template)
        .with_context(|| format!("reading template {}", args.template.display()))?;
    let data = match &args.data {
        Some(path) => {
            let raw = std::fs::read_to_string(path)
                .with_context(|| format!("reading data {}", path.display()))?;
            let json: serde_json::Value = serde_json::from_str(&raw)
                .with_context(|| format!("parsing data {} as JSON", path.display()))?;
            Value::from(&json)
        }
        None => Value::Nil,
    };
    let mut options = Options::default();
    for option in &args.options {
        options.apply(option).context("applying --option")?;
    }
    let functions = match args.functions {
        FunctionSet::Sprig => Functions::sprig(),
        FunctionSet::Argocd => Functions::argocd(),
        FunctionSet::Helm => Functions::helm(),
    };
    // Go names a template after its file's base name.
    let name = args.template.file_name().map_or_else(
        || args.template.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let template = Template::new(&name)
        .functions(functions)
        .options(options)
        .parse(&text)
        .with_context(|| format!("parsing template {}", args.template.display()))?;
    let output = template
        .execute(&data)
        .with_context(|| format!("executing template {}", args.template.display()))?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match out.write_all(output.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
