//! Argo CD's custom health checks: Lua scripts from `argocd-cm`
//! (`resource.customizations.health.<group_kind>`, `useOpenLibs.<group_kind>`), run as
//! Argo CD's `util/lua` runs them: the live object as the global `obj`, the script's last
//! return value read as `{status = …, message = …}`.
//!
//! The sandbox is upstream's: the base, table and package libraries and a safe `os` (only
//! `time` and `date`, also by `require("os")`); `useOpenLibs` adds `string` and `math`
//! (`coroutine` is always there: Lua 5.1 keeps it in the base library). Never `io` or `debug`, and — unlike upstream's base library — no `dofile`,
//! `loadfile` or module search path, so a script reads nothing from the hub's disk. A run
//! stops after one second (upstream's timeout) or 32 MiB of memory.
//!
//! Scripts run on Lua 5.1 (upstream's gopher-lua implements 5.1); error texts are
//! the C implementation's (`<string>:3: attempt to index global 'x' (a nil value)`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, Value as LuaValue, VmState};
use serde_json::Value;

use super::{Health, HealthStatus};

/// How long a script may run, as Argo CD's `runLua` context.
const TIMEOUT: Duration = Duration::from_secs(1);

/// Memory one run may use.
const MEMORY_LIMIT: usize = 32 << 20;

/// One kind's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthScript {
    /// The Lua source.
    pub script: String,
    /// `resource.customizations.useOpenLibs.<group_kind>`.
    pub use_open_libs: bool,
}

/// The scripts of `argocd-cm`, by Argo CD's key: `group/Kind`, or `Kind` for the core
/// group; a key with `*` matches as a glob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthScripts {
    by_key: BTreeMap<String, HealthScript>,
}

impl HealthScripts {
    /// Sets the script of `key` (`group/Kind` or `Kind`, globs allowed).
    pub fn insert(&mut self, key: String, script: HealthScript) {
        self.by_key.insert(key, script);
    }

    /// Whether there is no script at all.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The script for `group`/`kind`: its own key first, else the first glob key that
    /// matches (upstream takes any; here the first in key order).
    pub fn script_for(&self, group: &str, kind: &str) -> Option<&HealthScript> {
        let key = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{group}/{kind}")
        };
        self.by_key
            .get(&key)
            .filter(|s| !s.script.is_empty())
            .or_else(|| {
                self.by_key
                    .iter()
                    .find(|(pattern, s)| {
                        !s.script.is_empty()
                            && pattern.contains('*')
                            && flotilla_core::glob::matches(pattern, &key)
                    })
                    .map(|(_, s)| s)
            })
    }
}

/// Runs `script` on `obj`: `Ok(None)` when it gives no status (nil, an empty table, a
/// table that does not read as a status — upstream's empty `HealthStatus`), `Err` with
/// the message Argo CD shows as the object's `Unknown` health otherwise.
pub fn run(obj: &Value, script: &HealthScript) -> Result<Option<Health>, String> {
    let lua = sandbox(script.use_open_libs).map_err(|e| e.to_string())?;
    let globals = lua.globals();
    let input = to_lua(&lua, obj).map_err(|e| e.to_string())?;
    globals.set("obj", input).map_err(|e| e.to_string())?;
    globals
        .set(
            "actionParams",
            lua.create_table().map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    let returned: mlua::MultiValue = lua
        .load(&script.script)
        .set_name("=<string>")
        .eval()
        .map_err(|e| lua_error(&e))?;
    match returned.into_iter().last().unwrap_or(LuaValue::Nil) {
        LuaValue::Nil => Ok(None),
        LuaValue::Table(table) => Ok(health_of(&table)),
        other => Err(format!(
            "expect table output from Lua script, not {}",
            lua_type_name(&other)
        )),
    }
}

/// A fresh state with upstream's libraries, the limits set.
fn sandbox(open_libs: bool) -> mlua::Result<Lua> {
    let mut libs = StdLib::TABLE | StdLib::PACKAGE;
    if open_libs {
        libs |= StdLib::STRING | StdLib::MATH;
    }
    let lua = Lua::new_with(libs | StdLib::OS, LuaOptions::new())?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let started = Instant::now();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(1_000),
        move |_, _| {
            if started.elapsed() > TIMEOUT {
                Err(mlua::Error::runtime("context deadline exceeded"))
            } else {
                Ok(VmState::Continue)
            }
        },
    )?;
    let globals = lua.globals();
    for unsafe_base in ["dofile", "loadfile"] {
        globals.set(unsafe_base, LuaValue::Nil)?;
    }
    // The safe os: time and date only, also what `require("os")` gives.
    let os: Table = globals.get("os")?;
    let safe_os = lua.create_table()?;
    for name in ["time", "date"] {
        safe_os.set(name, os.get::<LuaValue>(name)?)?;
    }
    globals.set("os", safe_os.clone())?;
    let package: Table = globals.get("package")?;
    package.set("path", "")?;
    package.set("cpath", "")?;
    package.set("loadlib", LuaValue::Nil)?;
    let loaded: Table = package.get("loaded")?;
    loaded.set("os", safe_os)?;
    // Only the preloaded and loaded modules: no searcher reads a file.
    let loaders: Table = package.get("loaders")?;
    while loaders.raw_len() > 1 {
        loaders.raw_remove(loaders.raw_len())?;
    }
    Ok(lua)
}

/// `value` as Argo CD's `decodeValue` gives it to Lua: objects and arrays as tables
/// (arrays from 1), numbers as numbers, null as nil.
fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<LuaValue> {
    Ok(match value {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => LuaValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for item in items {
                table.raw_push(to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
        Value::Object(map) => {
            let table = lua.create_table_with_capacity(0, map.len())?;
            for (key, item) in map {
                table.raw_set(key.as_str(), to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
    })
}

/// The health a returned table says, read as upstream's JSON round trip reads it: a
/// table with an array part, or whose `status`/`message` are not strings, is an empty
/// status (`None`); a status that is not one of Argo CD's codes is `Unknown`.
fn health_of(table: &Table) -> Option<Health> {
    if table.raw_len() > 0 {
        return None;
    }
    let read = |key: &str| -> Result<String, ()> {
        match table.raw_get::<LuaValue>(key) {
            Ok(LuaValue::Nil) => Ok(String::new()),
            Ok(LuaValue::String(s)) => Ok(s.to_string_lossy()),
            _ => Err(()),
        }
    };
    let (Ok(status), Ok(message)) = (read("status"), read("message")) else {
        return None;
    };
    let empty_table = table.clone().pairs::<LuaValue, LuaValue>().next().is_none();
    if empty_table {
        return None;
    }
    let status = match status.as_str() {
        "Healthy" => HealthStatus::Healthy,
        "Suspended" => HealthStatus::Suspended,
        "Progressing" => HealthStatus::Progressing,
        "Missing" => HealthStatus::Missing,
        "Degraded" => HealthStatus::Degraded,
        "Unknown" => HealthStatus::Unknown,
        _ => {
            return Some(Health::new(
                HealthStatus::Unknown,
                "Lua returned an invalid health status",
            ));
        }
    };
    Some(Health::new(status, message))
}

/// A Lua error as the object's health message: the runtime error's text without the
/// traceback (upstream strips gopher-lua's stack trace too).
fn lua_error(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) | mlua::Error::SyntaxError { message, .. } => message
            .split("\nstack traceback:")
            .next()
            .unwrap_or(message)
            .to_string(),
        mlua::Error::MemoryError(_) => format!(
            "the health script used more than {} MiB",
            MEMORY_LIMIT >> 20
        ),
        mlua::Error::CallbackError { cause, .. } => lua_error(cause),
        other => other.to_string(),
    }
}

/// gopher-lua's type names.
fn lua_type_name(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Nil => "nil",
        LuaValue::Boolean(_) => "boolean",
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::String(_) => "string",
        LuaValue::Table(_) => "table",
        LuaValue::Function(_) => "function",
        LuaValue::Thread(_) => "thread",
        _ => "userdata",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn script(text: &str) -> HealthScript {
        HealthScript {
            script: text.to_string(),
            use_open_libs: false,
        }
    }

    /// The health check of Argo CD's documentation (health.md, "Custom Health Checks"),
    /// for cert-manager's Certificate.
    const CERTIFICATE: &str = r#"
hs = {}
if obj.status ~= nil then
  if obj.status.conditions ~= nil then
    for i, condition in ipairs(obj.status.conditions) do
      if condition.type == "Ready" and condition.status == "False" then
        hs.status = "Degraded"
        hs.message = condition.message
        return hs
      end
      if condition.type == "Ready" and condition.status == "True" then
        hs.status = "Healthy"
        hs.message = condition.message
        return hs
      end
    end
  end
end

hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
"#;

    fn certificate(status: Value) -> Value {
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
               "metadata": {"name": "web"}, "status": status})
    }

    #[test]
    fn the_documented_certificate_check_reads_its_conditions() {
        let check = script(CERTIFICATE);
        let ready = certificate(json!({"conditions": [
            {"type": "Issuing", "status": "False"},
            {"type": "Ready", "status": "True", "message": "Certificate is up to date and has not expired"}]}));
        assert_eq!(
            run(&ready, &check).unwrap(),
            Some(Health::new(
                HealthStatus::Healthy,
                "Certificate is up to date and has not expired"
            ))
        );
        let failed = certificate(
            json!({"conditions": [{"type": "Ready", "status": "False", "message": "Issuer not found"}]}),
        );
        assert_eq!(
            run(&failed, &check).unwrap(),
            Some(Health::new(HealthStatus::Degraded, "Issuer not found"))
        );
        assert_eq!(
            run(&certificate(Value::Null), &check).unwrap(),
            Some(Health::new(
                HealthStatus::Progressing,
                "Waiting for certificate"
            ))
        );
    }

    // The outcomes of upstream's ExecuteHealthLua for each kind of return value.
    #[test]
    fn return_values_read_as_argo_cd_reads_them() {
        let obj = json!({"kind": "Thing"});
        let health = |text: &str| run(&obj, &script(text));
        assert_eq!(health("return nil").unwrap(), None);
        assert_eq!(health("return {}").unwrap(), None, "an empty table");
        assert_eq!(health("return {1, 2}").unwrap(), None, "an array");
        assert_eq!(
            health("return {status = 5}").unwrap(),
            None,
            "a number where a string belongs"
        );
        assert_eq!(
            health(r#"return {status = "Sick"}"#).unwrap(),
            Some(Health::new(
                HealthStatus::Unknown,
                "Lua returned an invalid health status"
            ))
        );
        assert_eq!(
            health(r#"return {message = "no status"}"#).unwrap(),
            Some(Health::new(
                HealthStatus::Unknown,
                "Lua returned an invalid health status"
            ))
        );
        assert_eq!(
            health(r#"return "Healthy""#).unwrap_err(),
            "expect table output from Lua script, not string"
        );
        assert!(health("return {").unwrap_err().contains("<string>"));
        assert_eq!(
            health("return obj.spec.replicas").unwrap_err(),
            "<string>:1: attempt to index field 'spec' (a nil value)",
            "the message without its traceback"
        );
    }

    #[test]
    fn string_and_math_need_open_libs() {
        let obj = json!({"kind": "Thing", "metadata": {"name": "web-1"}});
        let text = r#"
local hs = {status = "Healthy"}
hs.message = string.upper(obj.metadata.name) .. " " .. math.floor(2.5)
return hs"#;
        assert!(run(&obj, &script(text)).unwrap_err().contains("string"));
        let open = HealthScript {
            script: text.to_string(),
            use_open_libs: true,
        };
        assert_eq!(
            run(&obj, &open).unwrap(),
            Some(Health::new(HealthStatus::Healthy, "WEB-1 2"))
        );
    }

    #[test]
    fn scripts_cannot_read_files_run_programs_or_run_for_ever() {
        let obj = json!({});
        for text in [
            r#"return dofile("/etc/passwd")"#,
            r#"return loadfile("/etc/passwd")"#,
            r#"return io.open("/etc/passwd")"#,
            r#"return os.execute("true")"#,
            r#"return os.getenv("HOME")"#,
            r#"return require("io")"#,
            r#"package.path = "/etc/?"; return require("passwd")"#,
            r#"return debug.getinfo(1)"#,
        ] {
            assert!(run(&obj, &script(text)).is_err(), "{text}");
        }
        let safe = run(
            &obj,
            &script(r#"local os = require("os"); return {status = "Healthy", message = os.date("%Y", 0)}"#),
        )
        .unwrap();
        assert_eq!(safe, Some(Health::new(HealthStatus::Healthy, "1970")));

        let started = Instant::now();
        let forever = run(&obj, &script("while true do end")).unwrap_err();
        assert!(forever.contains("context deadline exceeded"), "{forever}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let hungry = run(
            &obj,
            &script("local t = {} for i = 1, 100000000 do t[i] = i end return t"),
        )
        .unwrap_err();
        assert!(
            hungry.contains("MiB") || hungry.contains("deadline"),
            "{hungry}"
        );
    }

    #[test]
    fn scripts_are_found_by_key_then_by_glob() {
        let mut scripts = HealthScripts::default();
        scripts.insert("cert-manager.io/Certificate".into(), script("return 1"));
        scripts.insert("*.crossplane.io/*".into(), script("return 2"));
        scripts.insert("Service".into(), script("return 3"));
        scripts.insert("apps/Deployment".into(), script(""));
        let found = |g: &str, k: &str| scripts.script_for(g, k).map(|s| s.script.clone());
        assert_eq!(
            found("cert-manager.io", "Certificate").as_deref(),
            Some("return 1")
        );
        assert_eq!(
            found("ec2.aws.crossplane.io", "Instance").as_deref(),
            Some("return 2")
        );
        assert_eq!(found("", "Service").as_deref(), Some("return 3"));
        assert_eq!(
            found("crossplane.io", "Thing"),
            None,
            "the glob wants a dot before"
        );
        assert_eq!(found("apps", "Deployment"), None, "an empty script is none");
        assert_eq!(found("", "ConfigMap"), None);
    }
}
