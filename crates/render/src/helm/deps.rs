//! Chart-aware value handling, following Helm's `chartutil`: coalescing a chart's defaults
//! (and its subcharts', with globals copied down) under the user's values, enabling and
//! disabling dependencies by condition and tags, aliases, and import-values.

use super::chart::Chart;
use super::error::Error;
use super::semver;
use super::values::{Table, clean_nil, coalesce_tables, path_value, table_at};
use serde_json::Value;

/// Helm's `CoalesceValues` (`merge = false`: a `null` from the user deletes a default) or
/// `MergeValues` (`merge = true`: nulls are kept).
pub(crate) fn coalesce(chart: &Chart, vals: &Table, merge: bool) -> Result<Table, Error> {
    coalesce_as(chart, vals, merge, false)
}

/// [`coalesce`], optionally as Helm 3.21 does it: a subchart's section is coalesced
/// without merge semantics (a user's `null` deletes the subchart's default too) and
/// nulls in the chart's own defaults are kept.
pub(crate) fn coalesce_as(
    chart: &Chart,
    vals: &Table,
    merge: bool,
    helm3: bool,
) -> Result<Table, Error> {
    let mut dest = vals.clone();
    coalesce_into(chart, &mut dest, merge, helm3)?;
    Ok(dest)
}

fn coalesce_into(chart: &Chart, dest: &mut Table, merge: bool, helm3: bool) -> Result<(), Error> {
    coalesce_values(chart, dest, merge, helm3);
    coalesce_deps(chart, dest, merge, helm3)
}

fn coalesce_deps(chart: &Chart, dest: &mut Table, merge: bool, helm3: bool) -> Result<(), Error> {
    for sub in &chart.dependencies {
        let name = sub.name().to_string();
        match dest.get(&name) {
            None => {
                dest.insert(name.clone(), Value::Object(Table::new()));
            }
            Some(Value::Object(_)) => {}
            Some(other) => {
                return Err(Error::Options(format!(
                    "type mismatch on {name}: %!t({other})"
                )));
            }
        }
        let parent_globals = dest.get("global").cloned();
        let Some(Value::Object(sub_vals)) = dest.get_mut(&name) else {
            unreachable!("ensured above")
        };
        coalesce_globals(sub_vals, parent_globals.as_ref());
        coalesce_into(sub, sub_vals, merge, helm3)?;
    }
    Ok(())
}

/// Copies the parent's `global` into the subchart's, the parent winning.
fn coalesce_globals(dest: &mut Table, src_global: Option<&Value>) {
    let mut dg = match dest.get("global") {
        None => Table::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src_global {
        None => Table::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return,
    };
    for (key, val) in sg {
        match val {
            Value::Object(vv) => {
                let mut vv = vv.clone();
                match dg.get(&key) {
                    None => {
                        dg.insert(key, Value::Object(vv));
                    }
                    Some(Value::Object(destv)) => {
                        coalesce_tables(&mut vv, destv, true);
                        dg.insert(key, Value::Object(vv));
                    }
                    Some(_) => {}
                }
            }
            val => {
                if !matches!(dg.get(&key), Some(Value::Object(_))) {
                    dg.insert(key, val);
                }
            }
        }
    }
    dest.insert("global".into(), Value::Object(dg));
}

fn coalesce_values(chart: &Chart, v: &mut Table, merge: bool, helm3: bool) {
    for (key, val) in &chart.values {
        match v.get_mut(key) {
            Some(Value::Null) if !merge => {
                v.remove(key);
            }
            Some(Value::Object(dest)) => {
                if let Value::Object(src) = val {
                    let merge =
                        merge || (!helm3 && chart.dependencies.iter().any(|d| d.name() == key));
                    let mut src = src.clone();
                    if !merge {
                        clean_nil(&mut src);
                    }
                    coalesce_tables(dest, &src, merge);
                }
            }
            Some(_) => {}
            None => {
                if !merge && !helm3 {
                    if val.is_null() {
                        continue;
                    }
                    if let Value::Object(sub) = val {
                        let mut sub = sub.clone();
                        clean_nil(&mut sub);
                        v.insert(key.clone(), Value::Object(sub));
                        continue;
                    }
                }
                v.insert(key.clone(), val.clone());
            }
        }
    }
}

/// Helm's `ProcessDependencies`: drops disabled subcharts (conditions, tags), applies
/// aliases, then imports values from subcharts into their parents.
pub(crate) fn process(chart: &mut Chart, vals: &Table) -> Result<(), Error> {
    process_enabled(chart, vals, "")?;
    process_imports(chart)
}

fn process_enabled(chart: &mut Chart, vals: &Table, path: &str) -> Result<(), Error> {
    if chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let existing = std::mem::take(&mut chart.dependencies);
    let compatible = |c: &Chart, d: &super::chart::Dependency| {
        c.name() == d.name
            && (d.version.is_empty() || semver::satisfies(&d.version, &c.metadata.version))
    };
    // Which loaded subchart each entry uses (two aliases may share one), and how often.
    let picks: Vec<Option<usize>> = chart
        .metadata
        .dependencies
        .iter()
        .map(|d| existing.iter().position(|c| compatible(c, d)))
        .collect();
    let mut uses = vec![0usize; existing.len()];
    for i in picks.iter().flatten() {
        uses[*i] += 1;
    }
    let mut pool: Vec<Option<Chart>> = existing.into_iter().map(Some).collect();
    // Subcharts no dependency entry claims stay as they are.
    let mut deps: Vec<Chart> = Vec::new();
    for (i, slot) in pool.iter_mut().enumerate() {
        if uses[i] == 0
            && let Some(c) = slot.take()
        {
            deps.push(c);
        }
    }
    for (req, pick) in chart.metadata.dependencies.iter_mut().zip(picks) {
        // A subchart of an incompatible version is dropped, as Helm drops it.
        if let Some(i) = pick {
            uses[i] -= 1;
            let c = if uses[i] == 0 {
                pool[i].take()
            } else {
                pool[i].clone()
            };
            if let Some(mut c) = c {
                if !req.alias.is_empty() {
                    c.metadata.name = req.alias.clone();
                }
                deps.push(c);
            }
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
        req.enabled = true;
    }
    chart.dependencies = deps;
    let cvals = coalesce(chart, vals, false)?;
    apply_tags(chart, &cvals);
    apply_conditions(chart, &cvals, path);
    let disabled: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !d.enabled)
        .map(|d| d.name.clone())
        .collect();
    chart
        .dependencies
        .retain(|c| !disabled.iter().any(|n| n == c.name()));
    chart.metadata.dependencies.retain(|d| d.enabled);
    for sub in &mut chart.dependencies {
        let subpath = format!("{path}{}.", sub.name());
        process_enabled(sub, &cvals, &subpath)?;
    }
    Ok(())
}

fn apply_tags(chart: &mut Chart, cvals: &Table) {
    let Some(tags) = table_at(cvals, "tags") else {
        return;
    };
    for d in &mut chart.metadata.dependencies {
        let (mut has_true, mut has_false) = (false, false);
        for t in &d.tags {
            match tags.get(t) {
                Some(Value::Bool(true)) => has_true = true,
                Some(Value::Bool(false)) => has_false = true,
                _ => {}
            }
        }
        d.enabled = has_true || !has_false;
    }
}

fn apply_conditions(chart: &mut Chart, cvals: &Table, path: &str) {
    for d in &mut chart.metadata.dependencies {
        for cond in d.condition.trim().split(',') {
            let cond = cond.trim();
            if cond.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(cvals, &format!("{path}{cond}")) {
                d.enabled = *b;
                break;
            }
        }
    }
}

/// Helm's `CheckDependencies`: every declared dependency must be present in `charts/`.
pub(crate) fn check(chart: &Chart) -> Result<(), Error> {
    let missing: Vec<&str> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !chart.dependencies.iter().any(|c| c.name() == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingDependency(missing.join(", ")))
    }
}

/// Helm 4's `processDependencyImportValues(c, merge = true)`, children first.
fn process_imports(chart: &mut Chart) -> Result<(), Error> {
    for d in &mut chart.dependencies {
        process_imports(d)?;
    }
    if chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let cvals = coalesce(chart, &Table::new(), true)?;
    let mut imported = Table::new();
    for r in &mut chart.metadata.dependencies {
        let mut normalized = Vec::new();
        for iv in &r.import_values {
            let (child, parent) = match iv {
                Value::Object(m) => (go_string(m.get("child")), go_string(m.get("parent"))),
                Value::String(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            normalized.push(serde_json::json!({"child": child, "parent": parent}));
            let Some(table) = table_at(&cvals, &format!("{}.{child}", r.name)) else {
                continue;
            };
            let value = if parent == "." {
                table.clone()
            } else {
                let mut cur = table.clone();
                for part in parent.split('.').rev() {
                    let mut m = Table::new();
                    m.insert(part.to_string(), Value::Object(cur));
                    cur = m;
                }
                cur
            };
            coalesce_tables(&mut imported, &value, true);
        }
        r.import_values = normalized;
    }
    let mut values = cvals;
    coalesce_tables(&mut values, &imported, true);
    chart.values = values;
    Ok(())
}

/// Go's `fmt.Sprintf("%v", v)` for the scalars import-values holds.
fn go_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "<nil>".into(),
        Some(other) => other.to_string(),
    }
}
