//! Argo CD's `Render`: substitutes parameters into every string of an Application template
//! (and of a generator, when a matrix child uses its sibling's parameters). Two modes:
//!
//! * goTemplate: each string is its own Go template named `base`, with Sprig and Argo CD's
//!   functions and the ApplicationSet's `goTemplateOptions`;
//! * legacy (fasttemplate): `{{ key }}` is replaced by the string parameter `key`; unknown
//!   keys and non-string values leave the tag as it was.
//!
//! Map keys are rendered too (so annotations can carry parameters); `null` map values are
//! dropped, as Argo CD's reflective walk skips nil entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flotilla_template::{Functions, Template, Value as TemplateValue};
use serde_json::Value;

use super::params::{Params, to_template_value};

/// Why a string could not be rendered; `Display` is Argo CD's wording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The Go template does not parse.
    #[error("failed to parse template {text}: {source}")]
    Parse {
        /// The template text.
        text: String,
        /// Go's parse error.
        source: Box<flotilla_template::Error>,
    },
    /// The Go template failed while executing (e.g. `missingkey=error`).
    #[error("failed to execute go template {text}: {source}")]
    Execute {
        /// The template text.
        text: String,
        /// Go's execution error.
        source: Box<flotilla_template::Error>,
    },
    /// A `goTemplateOptions` entry Go does not know (Go panics; Argo CD reports it).
    #[error("{0}")]
    Option(#[from] flotilla_template::OptionError),
    /// Legacy mode: a `{{` without its `}}` after a complete tag (fasttemplate's error).
    #[error(
        "invalid template: Cannot find end tag=\"}}}}\" in the template={text:?} starting from {rest:?}"
    )]
    Fasttemplate {
        /// The template text.
        text: String,
        /// What followed the unterminated `{{`.
        rest: String,
    },
}

impl RenderError {
    /// Whether Go's error is a missing map key (`map has no entry for key`), which generator
    /// interpolation tolerates in `values`.
    pub fn is_missing_key(&self) -> bool {
        let message = self.to_string();
        message.contains("map has no entry for key") || message.contains("can't evaluate field")
    }
}

/// Parameters prepared for rendering: the raw set for legacy mode and, built on first use,
/// the Go data model for goTemplate mode.
pub struct RenderParams<'a> {
    raw: &'a Params,
    go: std::sync::OnceLock<TemplateValue>,
}

impl<'a> RenderParams<'a> {
    /// Wraps one parameter set.
    pub fn new(raw: &'a Params) -> Self {
        RenderParams {
            raw,
            go: std::sync::OnceLock::new(),
        }
    }

    fn go_value(&self) -> &TemplateValue {
        self.go.get_or_init(|| to_template_value(self.raw))
    }
}

/// Renders strings in one mode with one set of options. Parsed Go templates are cached by
/// text, so a template string is parsed once per reconcile however many parameter sets use it.
#[derive(Clone)]
pub struct Renderer {
    go_template: bool,
    options: Vec<String>,
    functions: Arc<Functions>,
    cache: Arc<Mutex<HashMap<String, Result<Template, RenderError>>>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("go_template", &self.go_template)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer for goTemplate (`go_template = true`) or legacy mode.
    pub fn new(go_template: bool, options: &[String]) -> Self {
        Renderer {
            go_template,
            options: options.to_vec(),
            functions: Arc::new(Functions::argocd()),
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The same mode and functions with other options (shares nothing mutable).
    pub fn with_options(&self, options: Vec<String>) -> Self {
        Renderer {
            go_template: self.go_template,
            options,
            functions: self.functions.clone(),
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether this renders Go templates.
    pub fn is_go_template(&self) -> bool {
        self.go_template
    }

    /// The goTemplateOptions in force.
    pub fn options(&self) -> &[String] {
        &self.options
    }

    /// Argo CD's `Replace`: renders one string.
    pub fn replace(&self, text: &str, params: &RenderParams<'_>) -> Result<String, RenderError> {
        if self.go_template {
            // A text without an action renders as itself; skip parsing it.
            if !text.contains("{{") {
                return Ok(text.to_string());
            }
            let template = self.parsed(text)?;
            template
                .execute(params.go_value())
                .map_err(|source| RenderError::Execute {
                    text: text.to_string(),
                    source: Box::new(source),
                })
        } else {
            fasttemplate(text, params.raw)
        }
    }

    fn parsed(&self, text: &str) -> Result<Template, RenderError> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = cache.get(text) {
            return found.clone();
        }
        let result = self.parse_uncached(text);
        // Bound the cache: templates come from one ApplicationSet, but be safe.
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(text.to_string(), result.clone());
        result
    }

    fn parse_uncached(&self, text: &str) -> Result<Template, RenderError> {
        let mut template = Template::new("base").functions(self.functions.clone());
        for option in &self.options {
            template = template.option(option)?;
        }
        template.parse(text).map_err(|source| RenderError::Parse {
            text: text.to_string(),
            source: Box::new(source),
        })
    }

    /// Renders every string and map key in `value`; `null` object members are dropped.
    pub fn render_value(
        &self,
        value: &Value,
        params: &RenderParams<'_>,
    ) -> Result<Value, RenderError> {
        Ok(match value {
            Value::String(s) => Value::String(self.replace(s, params)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.render_value(item, params))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (key, inner) in map {
                    if inner.is_null() {
                        continue;
                    }
                    let rendered = self.render_value(inner, params)?;
                    out.insert(self.replace(key, params)?, rendered);
                }
                Value::Object(out)
            }
            scalar => scalar.clone(),
        })
    }
}

/// valyala/fasttemplate with Argo CD's tag function: `{{tag}}` becomes the string parameter
/// named by the trimmed tag; otherwise the tag is written back unchanged. Texts that do not
/// match Argo CD's `.*{{.*}}.*` (no line with `{{` before `}}`) are returned untouched.
fn fasttemplate(text: &str, params: &Params) -> Result<String, RenderError> {
    let templated = text.split('\n').any(|line| {
        line.find("{{")
            .is_some_and(|i| line[i + 2..].contains("}}"))
    });
    if !templated {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(RenderError::Fasttemplate {
                text: text.to_string(),
                rest: after.to_string(),
            });
        };
        let tag = &after[..end];
        let trimmed = tag.trim();
        match params.get(trimmed) {
            Some(Value::String(replacement)) if !trimmed.is_empty() => out.push_str(replacement),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn legacy_replaces_known_string_tags_only() {
        let p = params(json!({"one": "two", "num": 1}));
        let render = |t: &str| fasttemplate(t, &p).unwrap();
        assert_eq!(render("{{one}}-{{ one }}"), "two-two");
        assert_eq!(render("{{missing}}"), "{{missing}}");
        assert_eq!(render("{{num}}"), "{{num}}");
        assert_eq!(render("{{}}"), "{{}}");
        assert_eq!(render("a {{one"), "a {{one");
        assert_eq!(render("{{ {{one}} }}"), "{{ {{one}} }}");
        assert_eq!(render("{{one}}}}"), "two}}");
        // Outputs above and this error text were checked against valyala/fasttemplate with
        // Argo CD's tag function.
        assert_eq!(
            fasttemplate("{{one}} {{two", &p).unwrap_err().to_string(),
            r#"invalid template: Cannot find end tag="}}" in the template="{{one}} {{two" starting from "two""#
        );
    }

    #[test]
    fn go_template_missing_key_error_matches_go() {
        let renderer = Renderer::new(true, &["missingkey=error".to_string()]);
        let p = params(json!({"a": "b"}));
        let err = renderer
            .replace("{{.missing}}", &RenderParams::new(&p))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to execute go template {{.missing}}: template: base:1:2: executing \"base\" at <.missing>: map has no entry for key \"missing\""
        );
        assert!(err.is_missing_key());
    }

    #[test]
    fn go_template_default_prints_no_value() {
        let renderer = Renderer::new(true, &[]);
        let p = params(json!({"a": 1000000}));
        let rp = RenderParams::new(&p);
        assert_eq!(renderer.replace("{{.missing}}", &rp).unwrap(), "<no value>");
        // Numbers decoded from JSON are float64 in Go.
        assert_eq!(renderer.replace("{{.a}}", &rp).unwrap(), "1e+06");
    }

    #[test]
    fn render_value_renders_keys_and_drops_nulls() {
        let renderer = Renderer::new(true, &[]);
        let p = params(json!({"k": "key", "v": "val"}));
        let out = renderer
            .render_value(
                &json!({"{{.k}}": "{{.v}}", "n": null, "l": ["{{.v}}", 1]}),
                &RenderParams::new(&p),
            )
            .unwrap();
        assert_eq!(out, json!({"key": "val", "l": ["val", 1]}));
    }
}
