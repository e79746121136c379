//! kustomize-controller's `DecryptSources`: before the build, the files that
//! `secretGenerator` entries read (`files`, `envs`) and that `patches` name, in the
//! kustomization and in every local directory it includes, are decrypted when they hold
//! SOPS data — so the generated Secrets hold plaintext and hash to Flux's names.
//! Decrypted: dotenv sources. A JSON, YAML, INI or binary source that is encrypted fails
//! the build instead of being generated from its ciphertext.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::build::FluxBuildError;
use crate::kustomize::{self, EntryKind, Tree, TreeError};
use crate::sops::{self, Format, Identities};

/// The decrypted contents of every encrypted source under `dir`, by tree path.
/// `top` is the kustomization of `dir` as Flux writes it (with the spec's overlay).
pub(crate) fn decrypt_sources(
    tree: &dyn Tree,
    dir: &str,
    top: &Map<String, Value>,
    identities: &Identities,
) -> Result<HashMap<String, Vec<u8>>, FluxBuildError> {
    let mut out = HashMap::new();
    let mut visited = HashSet::new();
    visit(tree, dir, Some(top), identities, &mut out, &mut visited)?;
    Ok(out)
}

fn visit(
    tree: &dyn Tree,
    dir: &str,
    given: Option<&Map<String, Value>>,
    identities: &Identities,
    out: &mut HashMap<String, Vec<u8>>,
    visited: &mut HashSet<String>,
) -> Result<(), FluxBuildError> {
    if !visited.insert(dir.to_string()) {
        return Ok(());
    }
    let read;
    let kustomization = match given {
        Some(k) => k,
        None => {
            let Some(path) = super::build::kustomization_file_in(tree, dir)? else {
                return Ok(());
            };
            read = kustomize::parse_mapping(&path, &tree.read(&path)?)
                .map_err(FluxBuildError::Kustomization)?;
            &read
        }
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let generators = kustomization
        .get("secretGenerator")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for generator in &generators {
        for source in strings(generator.get("files")) {
            let (key, path) = source.split_once('=').unwrap_or((&source, &source));
            decrypt_file(tree, dir, path, Format::for_path(key), identities, out)?;
        }
        let mut envs = strings(generator.get("envs"));
        envs.extend(
            generator
                .get("env")
                .and_then(Value::as_str)
                .map(str::to_string),
        );
        for env in envs {
            let format = match Format::for_path(&env) {
                Format::Binary => Format::Dotenv,
                other => other,
            };
            decrypt_file(tree, dir, &env, format, identities, out)?;
        }
    }
    for patch in kustomization
        .get("patches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(path) = patch.get("path").and_then(Value::as_str) {
            decrypt_file(tree, dir, path, Format::for_path(path), identities, out)?;
        }
    }
    for resource in strings(kustomization.get("resources")) {
        let Ok(sub) = kustomize::join(dir, &resource) else {
            continue;
        };
        if tree.entry(&sub)? == Some(EntryKind::Dir) {
            visit(tree, &sub, None, identities, out, visited)?;
        }
    }
    Ok(())
}

/// Decrypts the file at `rel` (from `dir`) when it holds SOPS data of `format`, into
/// the same format (kustomize-controller's `sopsDecryptFile`). Files outside the tree
/// or missing are left to the build to report.
fn decrypt_file(
    tree: &dyn Tree,
    dir: &str,
    rel: &str,
    format: Format,
    identities: &Identities,
    out: &mut HashMap<String, Vec<u8>>,
) -> Result<(), FluxBuildError> {
    let Ok(path) = kustomize::join(dir, rel) else {
        return Ok(());
    };
    if out.contains_key(&path) {
        return Ok(());
    }
    let bytes = match tree.read(&path) {
        Ok(b) => b,
        Err(TreeError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&bytes);
    if !format.holds(&text) {
        return Ok(());
    }
    let plain = sops::decrypt_file(&text, format, format, identities, false).map_err(|e| {
        FluxBuildError::SourceDecryption {
            path: path.clone(),
            reason: e.to_string(),
        }
    })?;
    out.insert(path, plain);
    Ok(())
}

/// `base` with some files' contents replaced (the decrypted sources).
pub(crate) struct Replaced<'t> {
    pub(crate) base: &'t dyn Tree,
    pub(crate) files: HashMap<String, Vec<u8>>,
}

impl Tree for Replaced<'_> {
    fn entry(&self, path: &str) -> Result<Option<EntryKind>, TreeError> {
        self.base.entry(path)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        match self.files.get(path) {
            Some(bytes) => Ok(bytes.clone()),
            None => self.base.read(path),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<(String, EntryKind)>, TreeError> {
        self.base.list(path)
    }
}
