//! The reference implementation as a test oracle: `kubectl kustomize` from kubectl 1.32
//! (kustomize v5.5.0, the version Flotilla follows), found in `KUBECTL_DIR` as the
//! kubectl black-box suite finds it (scripts/test checks it is there). A fixture is a
//! directory under `tests/kustomize/fixtures`; both builds read the same files and must
//! print the same bytes, or both fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_render::kustomize::{self, DirTree};

/// The fixture directory `rel` (e.g. `openapi/json`).
pub(crate) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kustomize/fixtures")
        .join(rel)
}

fn kubectl() -> PathBuf {
    let dir =
        std::env::var("KUBECTL_DIR").unwrap_or_else(|_| "/usr/lib/google-cloud-sdk/bin".into());
    let path = Path::new(&dir).join("kubectl.1.32");
    assert!(
        path.is_file(),
        "{} is missing: the kustomize differential tests need kubectl 1.32 (kustomize v5.5.0); set KUBECTL_DIR",
        path.display()
    );
    path
}

/// `kubectl kustomize` of directory `dir` of fixture `tree`: the YAML, or the error.
pub(crate) fn reference(tree: &str, dir: &str) -> Result<String, String> {
    kubectl_kustomize(&fixture(tree).join(dir))
}

/// `kubectl kustomize` of the directory `dir` anywhere: the YAML, or the error.
pub(crate) fn kubectl_kustomize(dir: &Path) -> Result<String, String> {
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("running kubectl: {e}"));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Our build of directory `dir` of fixture `tree` (the fixture is the whole tree).
pub(crate) fn ours(tree: &str, dir: &str) -> Result<String, String> {
    let tree = DirTree::new(fixture(tree)).map_err(|e| e.to_string())?;
    kustomize::build_yaml(&tree, dir).map_err(|e| e.to_string())
}

/// Builds `dir` of fixture `tree` both ways; the outputs must be byte-identical. Returns
/// the output.
pub(crate) fn same_output(tree: &str, dir: &str) -> String {
    let reference = reference(tree, dir)
        .unwrap_or_else(|e| panic!("kubectl kustomize {tree}/{dir} failed: {e}"));
    let ours = ours(tree, dir).unwrap_or_else(|e| panic!("our build of {tree}/{dir} failed: {e}"));
    assert_eq!(
        ours, reference,
        "{tree}/{dir}: our output (left) differs from kubectl kustomize's (right)"
    );
    ours
}

/// Builds `dir` of fixture `tree` both ways; both must fail. Returns (our error,
/// kubectl's error output).
pub(crate) fn both_fail(tree: &str, dir: &str) -> (String, String) {
    let reference = match reference(tree, dir) {
        Ok(yaml) => panic!("kubectl kustomize {tree}/{dir} succeeded:\n{yaml}"),
        Err(e) => e,
    };
    let ours = match ours(tree, dir) {
        Ok(yaml) => {
            panic!("our build of {tree}/{dir} succeeded where kubectl fails ({reference}):\n{yaml}")
        }
        Err(e) => e,
    };
    (ours, reference)
}

/// The documents of a YAML stream.
pub(crate) fn documents(yaml: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(yaml).expect("the output parses")
}
