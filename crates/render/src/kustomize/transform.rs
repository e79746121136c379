//! The built-in transformers that walk field specs: namespace, name prefix and suffix,
//! labels, annotations, images and replica counts.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::fieldspec::FieldSpec;
use super::kustomization::{Image, Replica};
use super::resource::{Gvk, ResMap};

fn selected(gvk: &Gvk, fs: &FieldSpec) -> bool {
    gvk.is_selected(&fs.gvk)
}

/// `namespace`: sets the namespace of every namespaced object and of the fields the
/// config names; RoleBinding subjects named `default` follow.
pub(crate) fn namespace(file: &str, m: &mut ResMap, ns: &str, specs: &[FieldSpec]) -> Result<()> {
    for r in m.list_mut() {
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
            if !selected(&gvk, fs) {
                continue;
            }
            let path = fs.path_string();
            if path == "metadata/namespace"
                || (path == "metadata/name" && api_version != "v1")
                || (is_binding && path == "subjects/namespace")
            {
                continue;
            }
            fs.walk::<Error>(&mut obj, &mut |v| {
                *v = Value::String(ns.to_string());
                Ok(())
            })?;
        }
        if let Value::Object(o) = obj {
            r.obj = o;
        }
    }
    // Upstream checks each object, right after moving it, against all others. As the
    // move is idempotent, a clash it finds is one left after all moves, so one pass over
    // the final ids reports the same first clash.
    let ids: Vec<_> = m
        .list()
        .iter()
        .map(|r| (!r.obj.is_empty()).then(|| r.cur_id()))
        .collect();
    let mut seen: HashMap<(&str, &Gvk, &str), usize> = HashMap::new();
    for id in ids.iter().flatten() {
        *seen
            .entry((&id.name, &id.gvk, id.effective_namespace()))
            .or_default() += 1;
    }
    for id in ids.iter().flatten() {
        if seen[&(id.name.as_str(), &id.gvk, id.effective_namespace())] > 1 {
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
    for r in m.list_mut() {
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
            fs.walk::<Error>(&mut obj, &mut |v| {
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
    for r in m.list_mut() {
        let gvk = r.gvk();
        let mut obj = Value::Object(std::mem::take(&mut r.obj));
        for fs in specs {
            if !selected(&gvk, fs) {
                continue;
            }
            fs.walk::<Error>(&mut obj, &mut |v| {
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

/// The entries of `images`, in order. For each entry upstream first updates every
/// `containers`/`initContainers` list anywhere in an object (its legacy walk), then the
/// configured fields. Each image string is updated on its own, so the same result comes
/// from finding the strings once per object, counting how often the walks reach each,
/// and applying every entry that many times to it, in entry order.
pub(crate) fn images(m: &mut ResMap, images: &[Image], specs: &[FieldSpec]) -> Result<()> {
    let patterns: Vec<(Regex, &Image)> = images
        .iter()
        .filter_map(|image| {
            let pattern = format!(
                "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?$",
                image.name
            );
            // Upstream compiles the name as a pattern and treats a bad one as "no match".
            Regex::new(&pattern).ok().map(|re| (re, image))
        })
        .collect();
    if patterns.is_empty() {
        return Ok(());
    }
    for r in m.list_mut() {
        if r.kind() == "CustomResourceDefinition" {
            continue;
        }
        let gvk = r.gvk();
        let mut obj = Value::Object(std::mem::take(&mut r.obj));
        let mut visits: Vec<(Vec<Step>, usize)> = Vec::new();
        let mut here = Vec::new();
        legacy_containers(&obj, &mut here, &mut visits);
        for fs in specs {
            if selected(&gvk, fs) {
                spec_strings(&obj, &fs.path, &mut here, &mut visits);
            }
        }
        for (path, times) in &visits {
            if let Some(Value::String(s)) = resolve_mut(&mut obj, path) {
                for (re, image) in &patterns {
                    for _ in 0..*times {
                        update_image(s, re, image);
                    }
                }
            }
        }
        if let Value::Object(o) = obj {
            r.obj = o;
        }
    }
    Ok(())
}

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn count_visit(visits: &mut Vec<(Vec<Step>, usize)>, path: &[Step]) {
    match visits.iter_mut().find(|(p, _)| p == path) {
        Some((_, n)) => *n += 1,
        None => visits.push((path.to_vec(), 1)),
    }
}

/// The `image` strings of every `containers`/`initContainers` list anywhere below `v`.
fn legacy_containers(v: &Value, here: &mut Vec<Step>, visits: &mut Vec<(Vec<Step>, usize)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                here.push(Step::Key(k.clone()));
                legacy_containers(child, here, visits);
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(Value::String(_)) = item.get("image") {
                            here.push(Step::Index(i));
                            here.push(Step::Key("image".to_string()));
                            count_visit(visits, here);
                            here.truncate(here.len() - 2);
                        }
                    }
                }
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                here.push(Step::Index(i));
                legacy_containers(item, here, visits);
                here.pop();
            }
        }
        _ => {}
    }
}

/// The strings at field path `path` below `v` (through lists, creating nothing), as
/// [`walk`] reaches them.
fn spec_strings(
    v: &Value,
    path: &[String],
    here: &mut Vec<Step>,
    visits: &mut Vec<(Vec<Step>, usize)>,
) {
    if let Value::Array(items) = v
        && !path.is_empty()
    {
        for (i, item) in items.iter().enumerate() {
            here.push(Step::Index(i));
            spec_strings(item, path, here, visits);
            here.pop();
        }
        return;
    }
    match path.split_first() {
        None => {
            if v.is_string() {
                count_visit(visits, here);
            }
        }
        Some((first, rest)) => {
            if let Some(child) = v.get(first.as_str()).filter(|c| !c.is_null()) {
                here.push(Step::Key(first.clone()));
                spec_strings(child, rest, here, visits);
                here.pop();
            }
        }
    }
}

fn resolve_mut<'v>(v: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
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
    let named = m.named(&replica.name);
    for fs in specs {
        for &i in &named {
            let r = m.get(i);
            let matches = std::iter::once(r.gvk())
                .chain(r.prev_ids.iter().map(|p| p.gvk.clone()))
                .zip(std::iter::once(r.name()).chain(r.prev_ids.iter().map(|p| p.name.as_str())))
                .any(|(gvk, name)| gvk.is_selected(&fs.gvk) && name == replica.name);
            if !matches {
                continue;
            }
            found = true;
            m.update(i, |r| {
                let mut obj = Value::Object(std::mem::take(&mut r.obj));
                let result = fs.walk::<Error>(&mut obj, &mut |v| {
                    *v = Value::from(replica.count);
                    Ok(())
                });
                if let Value::Object(o) = obj {
                    r.obj = o;
                }
                result
            })?;
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
