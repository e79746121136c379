//! Go's `text/template` with Sprig v3, Argo CD and Helm functions, rendering byte for byte
//! as Go does.
//!
//! A [`Template`] is a set of named templates: parse it once, then execute it many times
//! (an ApplicationSet renders one template per parameter set). [`Value`] is the data model:
//! JSON-like, keeping Go's int/float distinction. [`Functions`] holds the functions a
//! template may call; [`Functions::argocd`] and [`Functions::helm`] are the two sets users'
//! manifests expect, and callers can register more. [`Limits`] bounds recursion, output and
//! execution steps so hostile templates fail with an [`Error::Limit`].
//!
//! ```
//! use flotilla_template::{Functions, Template, Value};
//! let t = Template::new("name")
//!     .functions(Functions::argocd())
//!     .parse("{{ .cluster.name | normalize }}-guestbook")
//!     .expect("parses");
//! let params = Value::from(&serde_json::json!({"cluster": {"name": "Prod_EU"}}));
//! assert_eq!(t.execute(&params).expect("renders"), "prod-eu-guestbook");
//! ```
#![deny(missing_docs)]

mod builtins;
mod error;
mod exec;
mod extras;
mod funcs;
mod gofmt;
mod gojson;
mod lex;
mod parse;
mod sprig;
mod template;
mod value;
mod yaml;

pub use crate::{
    error::{Error, FuncError, Limit},
    exec::Context,
    funcs::{Arity, FuncResult, Functions},
    template::{Limits, MissingKey, OptionError, Options, Template},
    value::{Map, Methods, Value},
};

/// Go's printing of values, times and durations as templates print them, for the hub's
/// other evaluators that must print as Go does (Argo CD's notification expressions).
pub mod go {
    use crate::Value;

    /// `fmt.Sprint(v)` (`%v`).
    pub fn sprint(v: &Value) -> String {
        crate::gofmt::to_string(v)
    }

    /// `Time.Format(layout)`, with Go's reference-time layouts.
    pub fn format_time(t: &chrono::DateTime<chrono::FixedOffset>, layout: &str) -> String {
        crate::sprig::dates::format_go(t, layout)
    }

    /// `Duration.String()` of `ns` nanoseconds (`1h2m3s`, `1.5s`, `0s`).
    pub fn duration_string(ns: i64) -> String {
        crate::sprig::dates::duration_string(i128::from(ns))
    }

    /// `time.ParseDuration`, in nanoseconds.
    pub fn parse_duration(s: &str) -> Option<i64> {
        crate::sprig::dates::parse_duration(s)
    }
}

/// `yaml.Marshal` as `sigs.k8s.io/yaml` writes it (what Helm's `toYaml` prints, with the
/// final newline kept): sorted keys, go-yaml v2 layout and quoting.
pub fn to_yaml(v: &Value) -> String {
    yaml::to_yaml(v)
}
