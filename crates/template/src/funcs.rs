//! The function registry: named functions with their arity, and the context a function may
//! use to render other templates (`include`, `tpl`).

use crate::error::FuncError;
use crate::value::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// How many arguments a function takes; checked before the call, with Go's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exact(usize),
    /// This many or more (a Go variadic function with this many fixed parameters).
    AtLeast(usize),
}

/// A function's result.
pub type FuncResult = Result<Value, FuncError>;

type Plain = dyn Fn(&[Value]) -> FuncResult + Send + Sync;
type WithContext = dyn Fn(&mut crate::exec::Context<'_, '_>, &[Value]) -> FuncResult + Send + Sync;

#[derive(Clone)]
pub(crate) enum Body {
    Plain(Arc<Plain>),
    Context(Arc<WithContext>),
    /// `and`/`or`: the executor evaluates their arguments lazily.
    ShortCircuit,
}

#[derive(Clone)]
pub(crate) struct Func {
    pub(crate) arity: Arity,
    pub(crate) body: Body,
    /// Positions of parameters that are Go `string`s: a nil argument there is Go's
    /// `invalid value; expected string` rather than an empty string.
    pub(crate) string_params: &'static [usize],
}

/// A set of template functions. Parsing checks names against it, as Go does.
#[derive(Clone, Default)]
pub struct Functions {
    map: HashMap<String, Func>,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.map.keys().collect();
        names.sort();
        f.debug_struct("Functions").field("names", &names).finish()
    }
}

impl Functions {
    /// Go's builtins only (`and`, `or`, `not`, `len`, `index`, `slice`, `print*`, `html`, `js`,
    /// `urlquery`, `eq`…`ge`).
    pub fn builtins() -> Self {
        let mut f = Functions::default();
        crate::builtins::register(&mut f);
        f
    }

    /// Builtins plus Sprig v3 (without `env` and `expandenv`).
    pub fn sprig() -> Self {
        let mut f = Self::builtins();
        crate::sprig::register(&mut f);
        f
    }

    /// The functions Argo CD offers ApplicationSet templates: Sprig (without `env`,
    /// `expandenv`, `getHostByName`) plus `normalize`, `slugify`, `toYaml`, `fromYaml`,
    /// `fromYamlArray`.
    pub fn argocd() -> Self {
        let mut f = Self::sprig();
        crate::extras::register_argocd(&mut f);
        f
    }

    /// The functions Helm offers charts: Sprig plus `include`, `tpl`, `required`, `fail`,
    /// `toYaml`, `fromYaml`, `fromYamlArray`, `toJson`, `fromJson`, `fromJsonArray`, `toToml`,
    /// `lookup`.
    pub fn helm() -> Self {
        let mut f = Self::sprig();
        crate::extras::register_helm(&mut f);
        f
    }

    /// Registers (or replaces) a function.
    pub fn register(
        &mut self,
        name: &str,
        arity: Arity,
        f: impl Fn(&[Value]) -> FuncResult + Send + Sync + 'static,
    ) -> &mut Self {
        self.map.insert(
            name.to_string(),
            Func {
                arity,
                body: Body::Plain(Arc::new(f)),
                string_params: &[],
            },
        );
        self
    }

    /// Registers a function that can render templates of the executing set through its
    /// [`Context`](crate::Context).
    pub fn register_with_context(
        &mut self,
        name: &str,
        arity: Arity,
        f: impl Fn(&mut crate::exec::Context<'_, '_>, &[Value]) -> FuncResult + Send + Sync + 'static,
    ) -> &mut Self {
        self.map.insert(
            name.to_string(),
            Func {
                arity,
                body: Body::Context(Arc::new(f)),
                string_params: &[],
            },
        );
        self
    }

    /// Declares which parameters of `name` are Go `string`s (0-based): Go refuses a nil
    /// argument there with `invalid value; expected string`, as when a chart pipes a
    /// missing value into `b64enc`. Unknown names are ignored.
    pub fn string_params(&mut self, name: &str, positions: &'static [usize]) -> &mut Self {
        if let Some(f) = self.map.get_mut(name) {
            f.string_params = positions;
        }
        self
    }

    /// Removes a function.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.map.remove(name);
        self
    }

    /// Whether a function of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Func> {
        self.map.get(name)
    }

    pub(crate) fn insert_short_circuit(&mut self, name: &str) {
        self.map.insert(
            name.to_string(),
            Func {
                arity: Arity::AtLeast(1),
                body: Body::ShortCircuit,
                string_params: &[],
            },
        );
    }
}
