//! Running a tree: expr's VM semantics (`vm/vm.go`, `vm/runtime`) over [`Value`]s.
//!
//! * Member access: a map's missing key is nil; anything of nil is an error ("cannot
//!   fetch phase from <nil>"), unless a `?.` on the way made the whole chain nil.
//! * `==` compares numbers across int and float, arrays element by element, nil equal to
//!   nil only; `<` and its kin order numbers, strings, times and durations, and refuse
//!   the rest.
//! * `and`/`or` need a boolean on the left (their result is the right side as it is);
//!   `not` and `!` need a boolean; `in` looks in arrays by `==` and in maps by key, and
//!   finds nothing in nil; `contains`, `startsWith`, `endsWith` and `matches` are false
//!   for nil.
//! * Every step counts against a budget, ranges and strings have a size limit: a
//!   hostile expression ends with an error, not a stuck controller.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::parse::{Expr, Node};
use super::value::{Func, Value};
use super::{Env, Error};

/// Most evaluation steps (nodes evaluated, predicate iterations) of one run.
pub(super) const MAX_STEPS: u64 = 1_000_000;
/// Most elements a range (`1..n`) may have.
pub(super) const MAX_RANGE: i64 = 100_000;
/// Longest string a run may build.
pub(super) const MAX_STRING: usize = 1 << 20;

/// Why evaluation stopped early.
pub(super) enum Stop {
    /// A runtime error.
    Error(Error),
    /// A `?.` met nil: the enclosing chain is nil.
    Nil,
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Error(e)
    }
}

pub(super) type Eval<'a> = Result<Value<'a>, Stop>;

/// The element a predicate is looking at.
struct Pointer<'a> {
    item: Value<'a>,
    index: usize,
    acc: Option<Value<'a>>,
}

/// One run of a program.
pub(super) struct Run<'e, 'a> {
    pub(super) env: &'e Env<'a>,
    pub(super) source: &'e str,
    steps: u64,
    /// `let` variables, innermost last.
    scopes: Vec<(String, Value<'a>)>,
    pointers: Vec<Pointer<'a>>,
}

impl<'e, 'a> Run<'e, 'a> {
    pub(super) fn new(env: &'e Env<'a>, source: &'e str) -> Self {
        Run {
            env,
            source,
            steps: 0,
            scopes: Vec::new(),
            pointers: Vec::new(),
        }
    }

    /// An error at `at`.
    pub(super) fn fail(&self, at: usize, message: impl AsRef<str>) -> Stop {
        Stop::Error(Error::at(self.source, at, message.as_ref()))
    }

    fn step(&mut self, at: usize) -> Result<(), Stop> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.fail(
                at,
                format!("the expression took more than {MAX_STEPS} steps"),
            ));
        }
        Ok(())
    }

    pub(super) fn eval(&mut self, e: &Expr) -> Eval<'a> {
        self.step(e.at)?;
        match &e.node {
            Node::Nil => Ok(Value::Nil),
            Node::Bool(b) => Ok(Value::Bool(*b)),
            Node::Int(i) => Ok(Value::Int(*i)),
            Node::Float(f) => Ok(Value::Float(*f)),
            Node::Str(s) => Ok(Value::Str(s.clone())),
            Node::Ident(name) => Ok(self.lookup(name)),
            Node::Pointer(name) => self.pointer(name, e.at),
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item)?);
                }
                Ok(Value::List(Rc::new(out)))
            }
            Node::Map(pairs) => {
                let mut out = BTreeMap::new();
                for (key, value) in pairs {
                    let k = match self.eval(key)? {
                        Value::Str(s) => s.to_string(),
                        other => other.sprint(),
                    };
                    out.insert(k, self.eval(value)?);
                }
                Ok(Value::Map(Rc::new(out)))
            }
            Node::Unary(op, operand) => {
                let v = self.eval(operand)?;
                self.unary(op, v, e.at)
            }
            Node::Binary(op, left, right) => self.binary(op, left, right, e.at),
            Node::Member {
                object,
                property,
                optional,
            } => {
                let object = self.eval(object)?;
                if *optional && object.is_nil() {
                    return Err(Stop::Nil);
                }
                let property = self.eval(property)?;
                self.fetch(&object, &property, e.at)
            }
            Node::Slice { object, from, to } => {
                let object = self.eval(object)?;
                let from = match from {
                    Some(f) => Some(self.eval(f)?),
                    None => None,
                };
                let to = match to {
                    Some(t) => Some(self.eval(t)?),
                    None => None,
                };
                self.slice(object, from, to, e.at)
            }
            Node::Chain(inner) => match self.eval(inner) {
                Err(Stop::Nil) => Ok(Value::Nil),
                other => other,
            },
            Node::Call(callee, args) => {
                let callee = self.eval(callee)?;
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg)?);
                }
                self.call(callee, values, e.at)
            }
            Node::Builtin(name, args) => self.builtin(name, args, e.at),
            Node::Predicate(_) => Err(self.fail(e.at, "a predicate outside a built-in")),
            Node::Conditional(condition, yes, no) => match self.eval(condition)? {
                Value::Bool(true) => self.eval(yes),
                Value::Bool(false) => self.eval(no),
                other => Err(self.fail(e.at, not_bool(&other))),
            },
            Node::Let(name, value, body) => {
                let value = self.eval(value)?;
                self.scopes.push((name.clone(), value));
                let result = self.eval(body);
                self.scopes.pop();
                result
            }
            Node::Sequence(items) => {
                let mut last = Value::Nil;
                for item in items {
                    last = self.eval(item)?;
                }
                Ok(last)
            }
        }
    }

    fn lookup(&self, name: &str) -> Value<'a> {
        if let Some((_, v)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return v.clone();
        }
        if name == "$env" {
            return Value::Map(Rc::new(
                self.env
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ));
        }
        self.env.vars.get(name).cloned().unwrap_or(Value::Nil)
    }

    fn pointer(&self, name: &str, at: usize) -> Eval<'a> {
        let Some(pointer) = self.pointers.last() else {
            return Err(self.fail(at, "cannot use pointer accessor outside predicate"));
        };
        match name {
            "" => Ok(pointer.item.clone()),
            "index" => Ok(Value::Int(pointer.index as i64)),
            "acc" => match &pointer.acc {
                Some(acc) => Ok(acc.clone()),
                None => Err(self.fail(at, "unknown pointer #acc")),
            },
            other => Err(self.fail(at, format!("unknown pointer #{other}"))),
        }
    }

    fn unary(&self, op: &str, v: Value<'a>, at: usize) -> Eval<'a> {
        match (op, v) {
            ("not" | "!", Value::Bool(b)) => Ok(Value::Bool(!b)),
            ("not" | "!", other) => Err(self.fail(at, not_bool(&other))),
            ("-", Value::Int(i)) => Ok(Value::Int(i.wrapping_neg())),
            ("-", Value::Float(f)) => Ok(Value::Float(-f)),
            ("+", v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
            (op, other) => {
                Err(self.fail(at, format!("invalid operation: {op} {}", other.go_type())))
            }
        }
    }

    fn binary(&mut self, op: &'static str, left: &Expr, right: &Expr, at: usize) -> Eval<'a> {
        match op {
            "and" | "&&" | "or" | "||" => {
                let l = self.eval(left)?;
                let Value::Bool(b) = l else {
                    return Err(self.fail(at, not_bool(&l)));
                };
                let and = matches!(op, "and" | "&&");
                if b != and {
                    // false and …, true or …: the left side is the answer.
                    return Ok(Value::Bool(b));
                }
                self.eval(right)
            }
            "??" => {
                let l = match self.eval(left) {
                    Err(Stop::Nil) => Value::Nil,
                    other => other?,
                };
                if l.is_nil() { self.eval(right) } else { Ok(l) }
            }
            _ => {
                let l = self.eval(left)?;
                let r = self.eval(right)?;
                self.apply(op, l, r, at)
            }
        }
    }

    fn apply(&self, op: &str, l: Value<'a>, r: Value<'a>, at: usize) -> Eval<'a> {
        let invalid = |l: &Value, r: &Value| {
            self.fail(
                at,
                format!("invalid operation: {} {op} {}", l.go_type(), r.go_type()),
            )
        };
        Ok(match op {
            "==" => Value::Bool(equal(&l, &r)),
            "!=" => Value::Bool(!equal(&l, &r)),
            "<" | ">" | "<=" | ">="
                if matches!(
                    (&l, &r),
                    (Value::Float(_), Value::Int(_) | Value::Float(_))
                        | (Value::Int(_), Value::Float(_))
                ) =>
            {
                // Floats compare as IEEE does: NaN is neither less nor more.
                let (a, b) = (
                    to_float(&l).unwrap_or_default(),
                    to_float(&r).unwrap_or_default(),
                );
                Value::Bool(match op {
                    "<" => a < b,
                    ">" => a > b,
                    "<=" => a <= b,
                    _ => a >= b,
                })
            }
            "<" | ">" | "<=" | ">=" => {
                let Some(ordering) = compare(&l, &r) else {
                    return Err(invalid(&l, &r));
                };
                Value::Bool(match op {
                    "<" => ordering.is_lt(),
                    ">" => ordering.is_gt(),
                    "<=" => ordering.is_le(),
                    _ => ordering.is_ge(),
                })
            }
            "in" => Value::Bool(self.contains_element(&r, &l, at)?),
            "contains" | "startsWith" | "endsWith" => {
                if l.is_nil() || r.is_nil() {
                    return Ok(Value::Bool(false));
                }
                let (Value::Str(a), Value::Str(b)) = (&l, &r) else {
                    let wrong = if matches!(l, Value::Str(_)) { &r } else { &l };
                    return Err(self.fail(
                        at,
                        format!(
                            "interface conversion: interface {{}} is {}, not string",
                            wrong.go_type()
                        ),
                    ));
                };
                Value::Bool(match op {
                    "contains" => a.contains(b.as_ref()),
                    "startsWith" => a.starts_with(b.as_ref()),
                    _ => a.ends_with(b.as_ref()),
                })
            }
            "matches" => {
                if l.is_nil() || r.is_nil() {
                    return Ok(Value::Bool(false));
                }
                let (Value::Str(text), Value::Str(pattern)) = (&l, &r) else {
                    return Err(invalid(&l, &r));
                };
                let re = regex::Regex::new(pattern)
                    .map_err(|e| self.fail(at, format!("error parsing regexp: {e}")))?;
                Value::Bool(re.is_match(text))
            }
            ".." => {
                let (Some(from), Some(to)) = (to_int(&l), to_int(&r)) else {
                    return Err(invalid(&l, &r));
                };
                let size = to.saturating_sub(from).saturating_add(1).max(0);
                if size > MAX_RANGE {
                    return Err(self.fail(
                        at,
                        format!("the range {from}..{to} has more than {MAX_RANGE} elements"),
                    ));
                }
                Value::List(Rc::new((from..=to).map(Value::Int).collect()))
            }
            "+" => match (&l, &r) {
                (Value::Str(a), Value::Str(b)) => {
                    if a.len() + b.len() > MAX_STRING {
                        return Err(
                            self.fail(at, format!("a string longer than {MAX_STRING} bytes"))
                        );
                    }
                    Value::Str(format!("{a}{b}").into())
                }
                (Value::Time(t), Value::Duration(d)) | (Value::Duration(d), Value::Time(t)) => {
                    Value::Time(add_duration(t, *d))
                }
                (Value::Duration(a), Value::Duration(b)) => Value::Duration(a.wrapping_add(*b)),
                _ => arithmetic(&l, &r, i64::wrapping_add, |a, b| a + b)
                    .ok_or_else(|| invalid(&l, &r))?,
            },
            "-" => match (&l, &r) {
                (Value::Time(a), Value::Time(b)) => Value::Duration(sub_times(a, b)),
                (Value::Time(t), Value::Duration(d)) => Value::Time(add_duration(t, -d)),
                (Value::Duration(a), Value::Duration(b)) => Value::Duration(a.wrapping_sub(*b)),
                _ => arithmetic(&l, &r, i64::wrapping_sub, |a, b| a - b)
                    .ok_or_else(|| invalid(&l, &r))?,
            },
            "*" => match (&l, &r) {
                (Value::Duration(a), Value::Duration(b)) => Value::Duration(a.wrapping_mul(*b)),
                (Value::Duration(d), Value::Int(i)) | (Value::Int(i), Value::Duration(d)) => {
                    Value::Duration(d.wrapping_mul(*i))
                }
                (Value::Duration(d), Value::Float(f)) | (Value::Float(f), Value::Duration(d)) => {
                    Value::Float(*d as f64 * f)
                }
                _ => arithmetic(&l, &r, i64::wrapping_mul, |a, b| a * b)
                    .ok_or_else(|| invalid(&l, &r))?,
            },
            "/" => match (to_float(&l), to_float(&r)) {
                (Some(a), Some(b)) => Value::Float(a / b),
                _ => return Err(invalid(&l, &r)),
            },
            "%" => match (&l, &r) {
                (Value::Int(_), Value::Int(0)) => {
                    return Err(self.fail(at, "runtime error: integer divide by zero"));
                }
                (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_rem(*b)),
                _ => return Err(invalid(&l, &r)),
            },
            "**" | "^" => match (to_float(&l), to_float(&r)) {
                (Some(a), Some(b)) => Value::Float(a.powf(b)),
                _ => return Err(invalid(&l, &r)),
            },
            other => return Err(self.fail(at, format!("unknown operator {other}"))),
        })
    }

    /// `needle in haystack`.
    fn contains_element(
        &self,
        haystack: &Value<'a>,
        needle: &Value<'a>,
        at: usize,
    ) -> Result<bool, Stop> {
        if haystack.is_nil() {
            return Ok(false);
        }
        if let Some(items) = haystack.elements() {
            return Ok(items.iter().any(|item| equal(item, needle)));
        }
        if haystack.is_map() {
            return match needle {
                Value::Str(key) => Ok(haystack.map_has(key)),
                Value::Nil => Ok(haystack.map_has("")),
                other => Err(self.fail(
                    at,
                    format!(
                        "reflect.Value.MapIndex: value of type {} is not assignable to type string",
                        other.go_type()
                    ),
                )),
            };
        }
        Err(self.fail(
            at,
            format!("operator \"in\" not defined on {}", haystack.go_type()),
        ))
    }

    /// `object.property` / `object[property]` (`runtime.Fetch`).
    pub(super) fn fetch(&self, object: &Value<'a>, property: &Value<'a>, at: usize) -> Eval<'a> {
        let cannot = || {
            self.fail(
                at,
                format!(
                    "cannot fetch {} from {}",
                    property.sprint(),
                    object.go_type()
                ),
            )
        };
        match object {
            Value::Nil => Err(cannot()),
            Value::Time(_) | Value::Duration(_) => match property {
                Value::Str(name) => match super::funcs::method(object, name) {
                    Some(method) => Ok(Value::Method(Rc::new((object.clone(), method)))),
                    None => Err(cannot()),
                },
                _ => Err(cannot()),
            },
            _ if object.is_map() => match property {
                Value::Str(key) => Ok(object.map_get(key).unwrap_or(Value::Nil)),
                Value::Nil => Ok(object.map_get("").unwrap_or(Value::Nil)),
                other => Err(self.fail(
                    at,
                    format!(
                        "reflect.Value.MapIndex: value of type {} is not assignable to type string",
                        other.go_type()
                    ),
                )),
            },
            Value::Str(s) => {
                let index = self.index(property, s.len(), at)?;
                Ok(Value::Int(i64::from(s.as_bytes()[index])))
            }
            _ => match object.array_len() {
                Some(len) => {
                    let index = self.index(property, len, at)?;
                    Ok(object.element(index).unwrap_or(Value::Nil))
                }
                None => Err(cannot()),
            },
        }
    }

    /// An index into something of `len` elements (negative from the end).
    fn index(&self, property: &Value<'a>, len: usize, at: usize) -> Result<usize, Stop> {
        let Some(i) = to_int(property) else {
            return Err(self.fail(
                at,
                format!("invalid operation: int({})", property.go_type()),
            ));
        };
        let index = if i < 0 { i + len as i64 } else { i };
        if index < 0 || index >= len as i64 {
            return Err(self.fail(
                at,
                format!("index out of range: {index} (array length is {len})"),
            ));
        }
        Ok(index as usize)
    }

    fn slice(
        &self,
        object: Value<'a>,
        from: Option<Value<'a>>,
        to: Option<Value<'a>>,
        at: usize,
    ) -> Eval<'a> {
        let len = match &object {
            Value::Str(s) => s.len(),
            other => match other.array_len() {
                Some(len) => len,
                None => {
                    return Err(self.fail(at, format!("cannot slice {}", object.go_type())));
                }
            },
        } as i64;
        let bound = |v: Option<Value<'a>>, default: i64| -> Result<i64, Stop> {
            match v {
                None => Ok(default),
                Some(v) => {
                    let Some(i) = to_int(&v) else {
                        return Err(
                            self.fail(at, format!("invalid operation: int({})", v.go_type()))
                        );
                    };
                    let i = if i < 0 { len + i } else { i };
                    Ok(i.clamp(0, len))
                }
            }
        };
        let to = bound(to, len)?;
        let from = bound(from, 0)?.min(to);
        let (from, to) = (from as usize, to as usize);
        Ok(match object {
            Value::Str(s) => match s.get(from..to) {
                Some(part) => Value::Str(part.into()),
                None => Value::Str(
                    String::from_utf8_lossy(&s.as_bytes()[from..to])
                        .as_ref()
                        .into(),
                ),
            },
            other => Value::List(Rc::new(
                other.elements().unwrap_or_default()[from..to].to_vec(),
            )),
        })
    }

    fn call(&self, callee: Value<'a>, args: Vec<Value<'a>>, at: usize) -> Eval<'a> {
        let result = match &callee {
            Value::Func(func) => super::funcs::call_func(*func, &args, self.env),
            Value::Method(bound) => super::funcs::call_method(&bound.0, bound.1, &args),
            Value::Nil => Err("invalid operation: cannot call nil".to_string()),
            other => Err(format!(
                "invalid operation: cannot call non-function of type {}",
                other.go_type()
            )),
        };
        result.map_err(|message| self.fail(at, message))
    }

    /// Runs a predicate over `items`, calling `each` with every result until it says
    /// stop.
    pub(super) fn predicate(
        &mut self,
        predicate: &Expr,
        items: &[Value<'a>],
        mut each: impl FnMut(&mut Self, usize, Value<'a>) -> Result<bool, Stop>,
    ) -> Result<(), Stop> {
        let Node::Predicate(body) = &predicate.node else {
            return Err(self.fail(predicate.at, "a predicate was expected"));
        };
        for (index, item) in items.iter().enumerate() {
            self.step(predicate.at)?;
            self.pointers.push(Pointer {
                item: item.clone(),
                index,
                acc: None,
            });
            let result = self.eval(body);
            self.pointers.pop();
            if !each(self, index, result?)? {
                break;
            }
        }
        Ok(())
    }

    /// Runs `reduce`'s predicate with its accumulator.
    pub(super) fn reduce(
        &mut self,
        predicate: &Expr,
        items: &[Value<'a>],
        mut acc: Value<'a>,
    ) -> Eval<'a> {
        let Node::Predicate(body) = &predicate.node else {
            return Err(self.fail(predicate.at, "a predicate was expected"));
        };
        for (index, item) in items.iter().enumerate() {
            self.step(predicate.at)?;
            self.pointers.push(Pointer {
                item: item.clone(),
                index,
                acc: Some(acc.clone()),
            });
            let result = self.eval(body);
            self.pointers.pop();
            acc = result?;
        }
        Ok(acc)
    }
}

/// The error of a non-boolean where a boolean must be.
fn not_bool(v: &Value) -> String {
    format!(
        "interface conversion: interface {{}} is {}, not bool",
        v.go_type()
    )
}

/// The integer of a number (`runtime.ToInt`: floats truncate).
pub(super) fn to_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Float(f) => Some(*f as i64),
        Value::Duration(d) => Some(*d),
        _ => None,
    }
}

pub(super) fn to_float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Two numbers: integers stay integers, anything with a float is a float.
fn arithmetic<'a>(
    l: &Value<'a>,
    r: &Value<'a>,
    ints: fn(i64, i64) -> i64,
    floats: fn(f64, f64) -> f64,
) -> Option<Value<'a>> {
    match (l, r) {
        (Value::Int(a), Value::Int(b)) => Some(Value::Int(ints(*a, *b))),
        _ => Some(Value::Float(floats(to_float(l)?, to_float(r)?))),
    }
}

pub(super) fn add_duration(
    t: &chrono::DateTime<chrono::FixedOffset>,
    ns: i64,
) -> chrono::DateTime<chrono::FixedOffset> {
    t.checked_add_signed(chrono::TimeDelta::nanoseconds(ns))
        .unwrap_or(*t)
}

/// `a.Sub(b)`, saturating as Go's does.
pub(super) fn sub_times(
    a: &chrono::DateTime<chrono::FixedOffset>,
    b: &chrono::DateTime<chrono::FixedOffset>,
) -> i64 {
    let delta = a.signed_duration_since(*b);
    delta
        .num_nanoseconds()
        .unwrap_or(if delta > chrono::TimeDelta::zero() {
            i64::MAX
        } else {
            i64::MIN
        })
}

/// `runtime.Equal`.
pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            to_float(a) == to_float(b)
        }
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Func(x), Value::Func(y)) => x == y,
        (Value::Namespace(x), Value::Namespace(y)) => x == y,
        _ => {
            if let (Some(x), Some(y)) = (a.elements(), b.elements()) {
                return x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| equal(p, q));
            }
            if let (Some(x), Some(y)) = (a.map_keys(), b.map_keys()) {
                return x == y
                    && x.iter().all(|k| {
                        equal(
                            &a.map_get(k).unwrap_or(Value::Nil),
                            &b.map_get(k).unwrap_or(Value::Nil),
                        )
                    });
            }
            false
        }
    }
}

/// The order of two values `<` can compare, if they are such.
pub(super) fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            to_float(a)?.partial_cmp(&to_float(b)?)
        }
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Func {
    /// Whether calling it needs the repo server (which Flotilla does not ask).
    pub(super) fn asks_repo_server(self) -> bool {
        matches!(self, Func::GetCommitMetadata | Func::GetAppDetails)
    }
}
