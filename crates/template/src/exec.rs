//! The executor: walks a parsed tree over data, following Go's `text/template/exec.go`
//! (evaluation order, variable scoping, missing-key handling, error context).

use crate::error::{Error, FuncError, Limit, line_col};
use crate::funcs::{Arity, Body};
use crate::gofmt;
use crate::parse::{Arg, Cmd, List, Node, Pipe, arg_string, pipe_string};
use crate::template::{MissingKey, Template, Tree};
use crate::value::Value;
use std::sync::Arc;

type Result<T> = std::result::Result<T, Error>;

/// The name of the root variable, allocated once rather than per execution.
static DOLLAR: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("$"));

/// State shared by one `execute` call and every nested `template`/`include`/`tpl`.
struct Run {
    steps: u64,
    output: usize,
    depth: usize,
}

/// What a function with context can do: render other templates of the executing set with
/// the same options, limits and budgets.
pub struct Context<'r, 's> {
    run: &'r mut Run,
    set: &'s Template,
    name: &'s str,
}

impl Context<'_, '_> {
    /// Renders the named template of the executing set (Helm's `include`).
    pub fn include(&mut self, name: &str, data: &Value) -> Result<String> {
        let Some(tree) = self.set.trees.get(name).cloned() else {
            return Err(Error::NoTemplate {
                name: name.to_string(),
                set: self.set.name().to_string(),
            });
        };
        let mut out = String::new();
        run_tree(self.run, self.set, &tree, name, data, &mut out)?;
        Ok(out)
    }

    /// Parses `text` into a copy of the executing set under the current template's name and
    /// renders it (Helm's `tpl`): its `define`s see, and may shadow, the set's.
    pub fn tpl(&mut self, text: &str, data: &Value) -> Result<String> {
        let set = self.set.clone().parse_named(self.name, text)?;
        let tree = set.trees.get(self.name).cloned();
        let mut out = String::new();
        if let Some(tree) = tree {
            run_tree(self.run, &set, &tree, self.name, data, &mut out)?;
        }
        Ok(out)
    }

    /// The missing-key behaviour of the executing set.
    pub fn missing_key(&self) -> MissingKey {
        self.set.options.missing_key
    }
}

/// Executes template `name` of `set` over `data`, appending to `out`.
pub(crate) fn execute(set: &Template, name: &str, data: &Value, out: &mut String) -> Result<()> {
    let Some(tree) = set.trees.get(name) else {
        if name == set.name() {
            return Err(Error::Incomplete {
                name: name.to_string(),
            });
        }
        return Err(Error::NoTemplate {
            name: name.to_string(),
            set: set.name().to_string(),
        });
    };
    let mut run = Run {
        steps: 0,
        output: 0,
        depth: 0,
    };
    // Depth 0 is the top-level template; nested calls add one each.
    run_tree(&mut run, set, tree, name, data, out)
}

/// Runs one tree in a fresh frame (`$` = dot).
fn run_tree(
    run: &mut Run,
    set: &Template,
    tree: &Tree,
    name: &str,
    dot: &Value,
    out: &mut String,
) -> Result<()> {
    let mut frame = Frame {
        run,
        set,
        tree,
        name,
        vars: vec![(DOLLAR.clone(), dot.clone())],
        at: At::None,
    };
    frame.walk_list(dot, &tree.list, out).map(|_| ())
}

#[derive(Clone, Copy)]
enum At<'s> {
    None,
    Arg(&'s Arg),
    Pipe(&'s Pipe),
    Template(usize, &'s str),
}

/// How a list finished: normally, or by `{{break}}`/`{{continue}}`.
#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Frame<'r, 's> {
    run: &'r mut Run,
    set: &'s Template,
    tree: &'s Tree,
    name: &'s str,
    vars: Vec<(Arc<str>, Value)>,
    at: At<'s>,
}

impl<'s> Frame<'_, 's> {
    fn location(&self) -> (usize, usize, usize, String) {
        let (pos, ctx) = match self.at {
            At::None => (0, String::new()),
            At::Arg(a) => (a.pos(), arg_string(a)),
            At::Pipe(p) => (p.pos, pipe_string(p)),
            At::Template(pos, name) => (pos, format!("{{{{template {name:?}}}}}")),
        };
        let (line, col) = line_col(&self.tree.source, pos);
        let ctx = if ctx.len() > 20 {
            let mut end = 20;
            while !ctx.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}...", &ctx[..end])
        } else {
            ctx
        };
        (pos, line, col, ctx)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T> {
        let (_, line, column, context) = self.location();
        Err(Error::Exec {
            name: self.tree.parse_name.to_string(),
            line,
            column,
            template: self.name.to_string(),
            context,
            message: message.into(),
        })
    }

    fn limit<T>(&self, limit: Limit) -> Result<T> {
        let (_, line, column, _) = self.location();
        Err(Error::Limit {
            name: self.tree.parse_name.to_string(),
            line,
            column,
            template: self.name.to_string(),
            limit,
        })
    }

    fn step(&mut self) -> Result<()> {
        self.run.steps += 1;
        let max = self.set.options.limits.max_steps;
        if self.run.steps > max {
            return self.limit(Limit::Steps(max));
        }
        Ok(())
    }

    fn write(&mut self, out: &mut String, s: &str) -> Result<()> {
        self.run.output += s.len();
        let max = self.set.options.limits.max_output;
        if self.run.output > max {
            return self.limit(Limit::Output(max));
        }
        out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'s List, out: &mut String) -> Result<Flow> {
        for node in list {
            let flow = self.walk(dot, node, out)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'s Node, out: &mut String) -> Result<Flow> {
        self.step()?;
        match node {
            Node::Text(t) => self.write(out, t)?,
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(&v, out)?;
                }
            }
            Node::If(b) | Node::With(b) => {
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, &b.pipe)?;
                let flow = if v.is_true() {
                    let dot = if matches!(node, Node::With(_)) {
                        &v
                    } else {
                        dot
                    };
                    self.walk_list(dot, &b.list, out)?
                } else if let Some(e) = &b.else_list {
                    self.walk_list(dot, e, out)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(b) => {
                let mark = self.vars.len();
                self.walk_range(dot, b, out)?;
                self.vars.truncate(mark);
            }
            Node::Template { pos, name, pipe } => {
                self.at = At::Template(*pos, name);
                let Some(tree) = self.set.trees.get(name.as_str()) else {
                    return self.err(format!("template {name:?} not defined"));
                };
                // Go runs `{{template "x"}}` without a pipeline on nil data.
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                self.at = At::Template(*pos, name);
                self.call_tree(tree, name, &new_dot, out)?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn call_tree(&mut self, tree: &Tree, name: &str, dot: &Value, out: &mut String) -> Result<()> {
        let max = self.set.options.limits.max_depth;
        if self.run.depth >= max {
            return self.limit(Limit::Depth(max));
        }
        self.run.depth += 1;
        let r = run_tree(self.run, self.set, tree, name, dot, out);
        self.run.depth -= 1;
        r
    }

    fn walk_range(
        &mut self,
        dot: &Value,
        b: &'s crate::parse::Branch,
        out: &mut String,
    ) -> Result<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let decl = &b.pipe;
        let mut ran = false;
        let mut one = |this: &mut Self, index: Value, elem: Value| -> Result<Flow> {
            this.step()?;
            let n = this.vars.len();
            if !decl.decl.is_empty() {
                if decl.is_assign {
                    let target = if decl.decl.len() > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    this.set_var(&decl.decl[0], target);
                } else {
                    this.vars[n - 1].1 = elem.clone();
                }
            }
            if decl.decl.len() > 1 {
                if decl.is_assign {
                    this.set_var(&decl.decl[1], elem.clone());
                } else {
                    this.vars[n - 2].1 = index;
                }
            }
            let flow = this.walk_list(&elem, &b.list, out);
            this.vars.truncate(mark);
            flow
        };
        match &val {
            Value::List(l) => {
                for (i, e) in l.iter().enumerate() {
                    ran = true;
                    if one(self, Value::Int(i as i64), e.clone())? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, e) in m.entries() {
                    ran = true;
                    if one(self, Value::string(k), e)? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return self.err(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                for i in 0..*n {
                    ran = true;
                    if one(self, Value::Int(i), Value::Int(i))? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                let mut s = String::new();
                gofmt::write_value(&mut s, other);
                return self.err(format!("range can't iterate over {s}"));
            }
        }
        if !ran && let Some(e) = &b.else_list {
            self.walk_list(dot, e, out)?;
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| **n == *name) {
            slot.1 = v;
        }
    }

    fn print_value(&mut self, v: &Value, out: &mut String) -> Result<()> {
        match v {
            Value::Nil => self.write(out, "<no value>"),
            Value::String(s) => self.write(out, s),
            _ => {
                let mut s = String::new();
                gofmt::write_value(&mut s, v);
                self.write(out, &s)
            }
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'s Pipe) -> Result<Value> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: &Option<Value>) -> Result<()> {
        if args.len() > 1 || final_.is_some() {
            return self.err(format!(
                "can't give argument to non-function {}",
                arg_string(&args[0])
            ));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'s Cmd, final_: Option<Value>) -> Result<Value> {
        self.step()?;
        let first = &cmd.args[0];
        match first {
            Arg::Field(_, fields) => {
                self.at = At::Arg(first);
                return self.eval_field_chain(dot, dot, fields, &cmd.args, &final_);
            }
            Arg::Variable(_, name, fields) => {
                self.at = At::Arg(first);
                let v = self.variable(name)?;
                if fields.is_empty() {
                    self.not_a_function(&cmd.args, &final_)?;
                    return Ok(v);
                }
                return self.eval_field_chain(dot, &v, fields, &cmd.args, &final_);
            }
            Arg::Pipe(_, pipe) => {
                self.at = At::Arg(first);
                self.not_a_function(&cmd.args, &final_)?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Chain(_, inner, fields) => {
                let v = self.eval_arg(dot, inner)?;
                self.at = At::Arg(first);
                return self.eval_field_chain(dot, &v, fields, &cmd.args, &final_);
            }
            Arg::Ident(_, name) => {
                return self.eval_function(dot, first, name, &cmd.args[1..], final_);
            }
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, &final_)?;
        match first {
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => self.err("nil is not a command"),
            Arg::Number(_, n) => n.value.clone().or_else(|m| self.err(m)),
            Arg::String(_, s, _) => Ok(Value::String(s.clone())),
            _ => self.err(format!("can't evaluate command {:?}", arg_string(first))),
        }
    }

    fn variable(&self, name: &str) -> Result<Value> {
        match self.vars.iter().rev().find(|(n, _)| **n == *name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    /// Evaluates `.A.B.C` starting at `receiver`. Missing map keys propagate as "no value"
    /// through the rest of the chain, as Go's invalid `reflect.Value` does, while a present
    /// nil is an error to step into.
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        receiver: &Value,
        fields: &[Arc<str>],
        args: &'s [Arg],
        final_: &Option<Value>,
    ) -> Result<Value> {
        let has_args = args.len() > 1 || final_.is_some();
        // A nil that starts a chain (the data, a variable, a pipeline result) is Go's invalid
        // value, because Go unwraps interface results of pipelines: its fields are missing.
        // A nil met inside the chain is a nil interface: stepping into it is an error.
        let mut cur = (!matches!(receiver, Value::Nil)).then(|| receiver.clone());
        for (i, field) in fields.iter().enumerate() {
            let with_args = has_args && i + 1 == fields.len();
            // Go looks for a method before a map key.
            let method = match &cur {
                Some(Value::Map(m)) => m.method(field).cloned().map(|f| (m.clone(), f)),
                _ => None,
            };
            cur = match method {
                Some((m, method)) => {
                    Some(self.call_method(dot, &m, field, &method, with_args, args, final_)?)
                }
                None => self.eval_field(cur.as_ref(), field, with_args)?,
            };
        }
        Ok(cur.unwrap_or_default())
    }

    /// Calls a method of a typed map with the command's remaining arguments.
    #[allow(clippy::too_many_arguments)]
    fn call_method(
        &mut self,
        dot: &Value,
        receiver: &crate::value::Map,
        name: &str,
        method: &crate::value::Method,
        with_args: bool,
        args: &'s [Arg],
        final_: &Option<Value>,
    ) -> Result<Value> {
        let at = self.at;
        let mut argv = Vec::new();
        if with_args {
            for a in &args[1..] {
                argv.push(self.eval_arg(dot, a)?);
            }
            if let Some(f) = final_ {
                argv.push(f.clone());
            }
        }
        self.at = at;
        let n_in = argv.len();
        match method.arity {
            Arity::Exact(n) if n != n_in => {
                return self.err(format!(
                    "wrong number of args for {name}: want {n} got {n_in}"
                ));
            }
            Arity::AtLeast(n) if n_in < n => {
                return self.err(format!(
                    "wrong number of args for {name}: want at least {n} got {n_in}"
                ));
            }
            _ => {}
        }
        (method.body)(receiver, &argv).or_else(|e| self.err(format!("error calling {name}: {e}")))
    }

    fn eval_field(
        &self,
        receiver: Option<&Value>,
        field: &str,
        has_args: bool,
    ) -> Result<Option<Value>> {
        let missing_key = self.set.options.missing_key;
        let Some(receiver) = receiver else {
            if missing_key == MissingKey::Error {
                return self.err(format!("nil data; no entry for key {field:?}"));
            }
            return Ok(None);
        };
        match receiver {
            Value::Map(m) => {
                if has_args {
                    return self.err(format!("{field} is not a method but has arguments"));
                }
                match m.get(field) {
                    Some(v) => Ok(Some(v)),
                    None => match missing_key {
                        MissingKey::Default => Ok(None),
                        MissingKey::Zero => Ok(Some(Value::Nil)),
                        MissingKey::Error => {
                            self.err(format!("map has no entry for key {field:?}"))
                        }
                    },
                }
            }
            Value::Nil => self.err(format!("nil pointer evaluating interface {{}}.{field}")),
            other => self.err(format!(
                "can't evaluate field {field} in type {}",
                other.go_type()
            )),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &'s Arg,
        name: &str,
        args: &'s [Arg],
        final_: Option<Value>,
    ) -> Result<Value> {
        self.at = At::Arg(node);
        let set: &'s Template = self.set;
        let Some(func) = set.funcs.get(name) else {
            return self.err(format!("{name:?} is not a defined function"));
        };
        let n_in = args.len() + usize::from(final_.is_some());
        match func.arity {
            Arity::Exact(n) if n != n_in => {
                return self.err(format!(
                    "wrong number of args for {name}: want {n} got {n_in}"
                ));
            }
            Arity::AtLeast(n) if n_in < n => {
                return self.err(format!(
                    "wrong number of args for {name}: want at least {n} got {}",
                    args.len()
                ));
            }
            _ => {}
        }
        if let Body::ShortCircuit = func.body {
            let want = name == "or";
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, a)?;
                if v.is_true() == want {
                    return Ok(v);
                }
            }
            if let Some(f) = final_ {
                v = f;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(n_in);
        for a in args {
            argv.push(self.eval_arg(dot, a)?);
        }
        if let Some(f) = final_ {
            argv.push(f);
        }
        self.at = At::Arg(node);
        if func
            .string_params
            .iter()
            .any(|&i| matches!(argv.get(i), Some(Value::Nil)))
        {
            return self.err("invalid value; expected string");
        }
        let result = match &func.body {
            Body::Plain(f) => f(&argv),
            Body::Context(f) => {
                let max = self.set.options.limits.max_depth;
                if self.run.depth >= max {
                    return self.limit(Limit::Depth(max));
                }
                self.run.depth += 1;
                let mut ctx = Context {
                    run: self.run,
                    set: self.set,
                    name: self.name,
                };
                let r = f(&mut ctx, &argv);
                self.run.depth -= 1;
                r
            }
            Body::ShortCircuit => unreachable!("handled above"),
        };
        match result {
            Ok(v) => Ok(v),
            Err(FuncError::Template(e)) if matches!(*e, Error::Limit { .. }) => Err(*e),
            Err(e) => self.err(format!("error calling {name}: {e}")),
        }
    }

    fn eval_arg(&mut self, dot: &Value, arg: &'s Arg) -> Result<Value> {
        self.at = At::Arg(arg);
        match arg {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Number(_, n) => n.value.clone().or_else(|m| self.err(m)),
            Arg::String(_, s, _) => Ok(Value::String(s.clone())),
            Arg::Field(_, fields) => {
                self.eval_field_chain(dot, dot, fields, std::slice::from_ref(arg), &None)
            }
            Arg::Variable(_, name, fields) => {
                let v = self.variable(name)?;
                if fields.is_empty() {
                    return Ok(v);
                }
                self.eval_field_chain(dot, &v, fields, std::slice::from_ref(arg), &None)
            }
            Arg::Pipe(_, pipe) => self.eval_pipeline(dot, pipe),
            Arg::Chain(_, inner, fields) => {
                let v = self.eval_arg(dot, inner)?;
                self.at = At::Arg(arg);
                self.eval_field_chain(dot, &v, fields, std::slice::from_ref(arg), &None)
            }
            Arg::Ident(_, name) => self.eval_function(dot, arg, name, &[], None),
        }
    }
}
