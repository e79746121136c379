//! Regenerates `data/kubernetes-supplement-v1.33.json.gz`: what Kubernetes 1.33 adds to
//! the embedded v1.21.2 definitions, for the kinds kubesim serves.
//!
//! ```text
//! cargo run -p flotilla-schema --features gen-supplement --example gen_supplement
//! cargo run -p flotilla-schema --features gen-supplement --example gen_supplement -- --check
//! ```
//!
//! The 1.33 schemas come from k8s-openapi's `schemars` impls (feature `v1_33`), its list
//! and map markers from k8s-openapi's generated merge code, and patch strategies of new
//! list fields from `patch_table.rs`. Descriptions are kept: kubesim serves them to
//! `kubectl explain`, and they cost about 20 KB gzipped.
//! `--check` fails if the file on disk differs from what would be written.

mod patch_table;
mod roots;
mod strategies;
mod supplement;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::Value;

/// The k8s-openapi module matching the enabled `v1_33` feature.
const VERSION_DIR: &str = "v1_33";
const BASE: &str = "data/kubernetes-openapi-v1.21.2.json.gz";
const OUTPUT: &str = "data/kubernetes-supplement-v1.33.json.gz";

/// Why the supplement could not be generated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Reading or writing a file.
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON document did not parse.
    #[error("parsing {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// `cargo metadata` failed or did not list k8s-openapi.
    #[error("finding k8s-openapi's source: {0}")]
    Cargo(String),
    /// k8s-openapi's generated source has a shape this generator does not know.
    #[error("{path}: {reason}")]
    Source { path: PathBuf, reason: String },
    /// A schema or the patch table is not what the generator expects.
    #[error("{0}")]
    Schema(String),
    /// kubesim's built-in table and this generator's roots disagree.
    #[error("kubesim's BUILTINS: {0}")]
    Kubesim(String),
    /// `--check`: the committed file is stale.
    #[error("{0} is out of date; rerun without --check")]
    OutOfDate(PathBuf),
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("gen_supplement: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let check = std::env::args().skip(1).any(|a| a == "--check");
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = read_gz_json(&crate_dir.join(BASE))?;

    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            // Swagger 2.0 definitions, `$ref: #/definitions/<name>`, exactly as the
            // schemas are written: no draft-07 rewrites (they would wrap a `$ref` that
            // has a description next to it in `allOf`).
            s.definitions_path = "/definitions".into();
            s.meta_schema = None;
            s.transforms.clear();
        })
        .into_generator();
    let roots = roots::register(&mut generator);
    roots::check_against_kubesim(&roots, &crate_dir.join("../kubesim/src/resources.rs"))?;
    let v133 = generator.take_definitions(false);

    let (source_dir, version) = k8s_openapi_source(crate_dir)?;
    let strategies = strategies::Strategies::load(&source_dir.join("src").join(VERSION_DIR))?;
    let source = format!("k8s-openapi {version} (feature {VERSION_DIR}, schemars)");
    let (doc, report) = supplement::build(&v133, &base, &roots, &strategies, &source)?;

    let output = crate_dir.join(OUTPUT);
    let json = serde_json::to_vec(&doc).map_err(|source| Error::Json {
        what: "the supplement".into(),
        source,
    })?;
    if check {
        if read_gz_json(&output).ok().as_ref() != Some(&doc) {
            return Err(Error::OutOfDate(output));
        }
    } else {
        write_gz(&output, &json)?;
    }
    print_report(&report, json.len(), &output);
    Ok(())
}

fn read_gz_json(path: &Path) -> Result<Value, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let gz = std::fs::read(path).map_err(io)?;
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut text)
        .map_err(io)?;
    serde_json::from_slice(&text).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })
}

fn write_gz(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    // GzEncoder writes mtime 0 and no file name, so the output depends on the input only.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).map_err(io)?;
    std::fs::write(path, gz.finish().map_err(io)?).map_err(io)
}

/// The directory of the k8s-openapi package this example was built against, and its
/// version, as `cargo metadata` reports them.
fn k8s_openapi_source(crate_dir: &Path) -> Result<(PathBuf, String), Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(crate_dir)
        .output()
        .map_err(|e| Error::Cargo(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::Cargo(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let metadata: Value = serde_json::from_slice(&out.stdout).map_err(|source| Error::Json {
        what: "cargo metadata".into(),
        source,
    })?;
    let package = metadata
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(Value::as_str) == Some("k8s-openapi"))
        .ok_or_else(|| Error::Cargo("k8s-openapi is not a dependency".into()))?;
    let field = |k: &str| package.get(k).and_then(Value::as_str);
    let (Some(manifest), Some(version)) = (field("manifest_path"), field("version")) else {
        return Err(Error::Cargo(
            "package without manifest_path or version".into(),
        ));
    };
    let dir = Path::new(manifest)
        .parent()
        .ok_or_else(|| Error::Cargo(format!("manifest path {manifest} has no directory")))?;
    Ok((dir.to_owned(), version.to_owned()))
}

fn print_report(report: &supplement::Report, json_len: usize, output: &Path) {
    let section = |title: &str, items: &[String]| {
        println!("{title} ({}):", items.len());
        for item in items {
            println!("  {item}");
        }
    };
    section("new properties", &report.new_properties);
    section("new definitions", &report.new_definitions);
    section("shape changed since 1.21.2 (1.21.2 kept)", &report.changed);
    section("removed since 1.21.2 (kept)", &report.removed);
    section(
        "1.33 definitions left out (reached only through a changed property)",
        &report.unreached_definitions,
    );
    let gz = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: {json_len} bytes of JSON, {gz} bytes gzipped",
        output.display()
    );
}
