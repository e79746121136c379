//! The built-in transformers that walk field specs: namespace, name prefix and suffix,
//! labels, annotations, images and replica counts.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::fieldspec::{FieldSpec, walk};
use super::kustomization::{Image, Replica};
use super::resource::{Gvk, ResMap};

fn selected(gvk: &Gvk, fs: &FieldSpec) -> bool {
    gvk.is_selected(&fs.gvk)
}

/// `namespace`: sets the namespace of every namespaced object and of the fields the
/// config names; RoleBinding subjects named `default` follow.
pub(crate) fn namespace(file: &str, m: &mut ResMap, ns: &str, specs: &[FieldSpec]) -> Result<()> {
    for i in 0..m.list.len() {
        let r = &mut m.list[i];
        if r.obj.is_empty() {
            continue;
        }
        r.store_previous_id();
        let gvk = r.gvk();
        if !gvk.is_cluster_scoped() {
            r.metadata_mut()
                .insert("namespace".into(), Value::String(ns.to_string()));
        }
        let is_binding = gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding";
        if is_binding && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects") {
            for s in subjects {
                if s.get("name").and_then(Value::as_str) == Some("default")
                    && let Value::Object(s) = s
                {
                    s.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        }
        let api_version = r.str_field("apiVersion").to_string();
        let mut obj = Value::Object(std::mem::take(&mut r.obj));
        for fs in specs {
            let path = fs.path_string();
            if path == "metadata/namespace"
                || (path == "metadata/name" && api_version != "v1")
                || (is_binding && path == "subjects/namespace")
                || !selected(&gvk, fs)
            {
                continue;
            }
            walk::<Error>(&mut obj, &fs.path, fs.create, &mut |v| {
                *v = Value::String(ns.to_string());
                Ok(())
            })?;
        }
        if let Value::Object(o) = obj {
            r.obj = o;
        }
        let id = m.list[i].cur_id();
        let conflicts = m.list.iter().filter(|x| x.cur_id().equals(&id)).count();
        if conflicts != 1 {
            return Err(Error::build(
                file,
                format!("namespace transformation produces ID conflict: {id}"),
            ));
        }
    }
    Ok(())
}

/// `namePrefix` / `nameSuffix`.
pub(crate) fn prefix_suffix(
    m: &mut ResMap,
    affix: &str,
    is_prefix: bool,
    specs: &[FieldSpec],
) -> Result<()> {
    let skip = [
        Gvk {
            group: String::new(),
            version: String::new(),
            kind: "CustomResourceDefinition".into(),
        },
        Gvk {
            group: "apiregistration.k8s.io".into(),
            version: String::new(),
            kind: "APIService".into(),
        },
        Gvk {
            group: String::new(),
            version: String::new(),
            kind: "Namespace".into(),
        },
    ];
    for r in &mut m.list {
        let org = r.org_id();
        if skip.iter().any(|s| org.gvk.is_selected(s)) {
            continue;
        }
        for fs in specs {
            if !org.gvk.is_selected(&fs.gvk) {
                continue;
            }
            if fs.path_string() == "metadata/name" {
                if is_prefix {
                    r.name_prefixes.push(affix.to_string());
                } else {
                    r.name_suffixes.push(affix.to_string());
                }
                if !affix.is_empty() {
                    r.store_previous_id();
                }
            }
            let mut obj = Value::Object(std::mem::take(&mut r.obj));
            walk::<Error>(&mut obj, &fs.path, fs.create, &mut |v| {
                if let Value::String(s) = v {
                    *s = if is_prefix {
                        format!("{affix}{s}")
                    } else {
                        format!("{s}{affix}")
                    };
                }
                Ok(())
            })?;
            if let Value::Object(o) = obj {
                r.obj = o;
            }
        }
    }
    Ok(())
}

/// Sets `pairs` in the maps the field specs name (labels, selectors, annotations).
pub(crate) fn set_map_entries(
    file: &str,
    field: &str,
    m: &mut ResMap,
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in &mut m.list {
        let gvk = r.gvk();
        let mut obj = Value::Object(std::mem::take(&mut r.obj));
        for fs in specs {
            if !selected(&gvk, fs) {
                continue;
            }
            walk::<Error>(&mut obj, &fs.path, fs.create, &mut |v| {
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                let Value::Object(map) = v else {
                    return Err(Error::build(
                        file,
                        format!("{field}: field {} of {gvk} is not a map", fs.path_string()),
                    ));
                };
                for (k, val) in pairs {
                    map.insert(k.clone(), Value::String(val.clone()));
                }
                Ok(())
            })?;
        }
        if let Value::Object(o) = obj {
            r.obj = o;
        }
    }
    Ok(())
}

/// One entry of `images`: first every `containers`/`initContainers` list anywhere in
/// an object (kustomize's legacy walk), then the configured fields.
pub(crate) fn image(file: &str, m: &mut ResMap, image: &Image, specs: &[FieldSpec]) -> Result<()> {
    let pattern = format!(
        "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?$",
        image.name
    );
    // Upstream compiles the name as a pattern and treats a bad one as "no match".
    let Ok(re) = Regex::new(&pattern) else {
        return Ok(());
    };
    let _ = file;
    for r in &mut m.list {
        if r.kind() == "CustomResourceDefinition" {
            continue;
        }
        let gvk = r.gvk();
        let mut obj = Value::Object(std::mem::take(&mut r.obj));
        legacy_containers(&mut obj, &re, image);
        for fs in specs {
            if !selected(&gvk, fs) {
                continue;
            }
            walk::<Error>(&mut obj, &fs.path, false, &mut |v| {
                if let Value::String(s) = v {
                    update_image(s, &re, image);
                }
                Ok(())
            })?;
        }
        if let Value::Object(o) = obj {
            r.obj = o;
        }
    }
    Ok(())
}

fn legacy_containers(v: &mut Value, re: &Regex, image: &Image) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                legacy_containers(child, re, image);
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items {
                        if let Some(Value::String(s)) = item.get_mut("image") {
                            update_image(s, re, image);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                legacy_containers(item, re, image);
            }
        }
        _ => {}
    }
}

fn update_image(value: &mut String, re: &Regex, image: &Image) {
    if !re.is_match(value) {
        return;
    }
    let (mut name, mut tag, mut digest) = split_image(value);
    if !image.new_name.is_empty() {
        name = image.new_name.clone();
    }
    if !image.new_tag.is_empty() && !image.digest.is_empty() {
        tag = image.new_tag.clone();
        digest = image.digest.clone();
    } else if !image.new_tag.is_empty() {
        tag = image.new_tag.clone();
        digest.clear();
    } else if !image.digest.is_empty() {
        tag.clear();
        digest = image.digest.clone();
    } else if !image.tag_suffix.is_empty() {
        tag.push_str(&image.tag_suffix);
        digest.clear();
    }
    let mut out = name;
    if !tag.is_empty() {
        out.push(':');
        out.push_str(&tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&digest);
    }
    *value = out;
}

/// Splits `name[:tag][@digest]`; a `:` before the first `/` is a registry port.
fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@').map(|i| i + slash);
    let colon = search.find(':').map(|i| i + slash);
    match (colon, at) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (c, Some(a)) if c.is_none_or(|c| a < c) => (
            image[..a].to_string(),
            String::new(),
            image[a + 1..].to_string(),
        ),
        (Some(c), Some(a)) => (
            image[..c].to_string(),
            image[c + 1..a].to_string(),
            image[a + 1..].to_string(),
        ),
        (Some(c), None) => (
            image[..c].to_string(),
            image[c + 1..].to_string(),
            String::new(),
        ),
        (None, Some(_)) => unreachable!("handled by the digest-only arm"),
    }
}

/// One entry of `replicas`.
pub(crate) fn replicas(
    file: &str,
    m: &mut ResMap,
    replica: &Replica,
    specs: &[FieldSpec],
) -> Result<()> {
    let mut found = false;
    for fs in specs {
        for r in &mut m.list {
            let matches = std::iter::once(r.cur_id())
                .chain(r.prev_ids.iter().cloned())
                .any(|id| id.gvk.is_selected(&fs.gvk) && id.name == replica.name);
            if !matches {
                continue;
            }
            found = true;
            let mut obj = Value::Object(std::mem::take(&mut r.obj));
            walk::<Error>(&mut obj, &fs.path, fs.create, &mut |v| {
                *v = Value::from(replica.count);
                Ok(())
            })?;
            if let Value::Object(o) = obj {
                r.obj = o;
            }
        }
    }
    if !found {
        return Err(Error::field(
            file,
            "replicas",
            format!(
                "resource with name {} does not match a config with the following GVK {:?}",
                replica.name,
                specs.iter().map(|f| f.gvk.to_string()).collect::<Vec<_>>()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_split_handles_registry_ports() {
        let s = |i: &str| {
            let (a, b, c) = split_image(i);
            format!("{a}|{b}|{c}")
        };
        assert_eq!(s("nginx"), "nginx||");
        assert_eq!(s("nginx:1.2"), "nginx|1.2|");
        assert_eq!(s("reg:5000/nginx:1.2"), "reg:5000/nginx|1.2|");
        assert_eq!(s("nginx@sha256:abc"), "nginx||sha256:abc");
        assert_eq!(s("nginx:1@sha256:abc"), "nginx|1|sha256:abc");
    }
}
