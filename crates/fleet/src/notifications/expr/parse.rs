//! expr-lang's grammar as its `parser/parser.go` reads it: precedence climbing over the
//! binary operators of `parser/operator`, unary operators that take everything binding
//! tighter than themselves (`not a == b` is `(not a) == b`), `not in` and its kin,
//! chained comparisons (`a < b < c`), optional chains (`a?.b.c` is nil when `a` is),
//! the ternary and `?:`, `let` and `;` sequences, predicates (`all(xs, {# > 1})`,
//! `.field` for `#.field`) and the pipe (`x | f(y)` is `f(x, y)`).

use std::sync::Arc;

use super::Error;
use super::lex::{Kind, Token};

/// The deepest nesting of expressions read: deeper input is refused rather than run
/// the parser (and later the evaluator) out of stack.
const MAX_DEPTH: usize = 128;

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Expr {
    pub(super) node: Node,
    pub(super) at: usize,
}

/// expr's AST nodes, as far as Flotilla reads them.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    /// A variable (of the environment or a `let`).
    Ident(String),
    /// `#` (the element), `#index`, `#acc`, or the implicit `#` of `.field`.
    Pointer(String),
    Array(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// `object.property`, `object[property]`; `optional` for `?.`.
    Member {
        object: Box<Expr>,
        property: Box<Expr>,
        optional: bool,
    },
    Slice {
        object: Box<Expr>,
        from: Option<Box<Expr>>,
        to: Option<Box<Expr>>,
    },
    /// An optional chain: a nil met at a `?.` inside makes the whole chain nil.
    Chain(Box<Expr>),
    /// A call of a value (`time.Parse(x)`, `t.Add(d)`, a function of the environment).
    Call(Box<Expr>, Vec<Expr>),
    /// One of expr's built-in functions (`len`, `all`, `upper`).
    Builtin(&'static str, Vec<Expr>),
    /// A predicate argument of a built-in (`{# > 1}`).
    Predicate(Box<Expr>),
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
    Let(String, Box<Expr>, Box<Expr>),
    Sequence(Vec<Expr>),
}

/// Binary operators: precedence and whether they associate to the right
/// (`parser/operator/operator.go`).
fn binary(op: &str) -> Option<(u16, bool)> {
    Some(match op {
        "|" => (0, false),
        "or" | "||" => (10, false),
        "and" | "&&" => (15, false),
        "==" | "!=" | "<" | ">" | ">=" | "<=" | "in" | "matches" | "contains" | "startsWith"
        | "endsWith" => (20, false),
        ".." => (25, false),
        "+" | "-" => (30, false),
        "*" | "/" | "%" => (60, false),
        "**" | "^" => (100, true),
        "??" => (500, false),
        _ => return None,
    })
}

fn unary(op: &str) -> Option<u16> {
    match op {
        "not" | "!" => Some(50),
        "-" | "+" => Some(90),
        _ => None,
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "<" | ">" | ">=" | "<=")
}

/// What a built-in's arguments are: expressions, and where predicates go.
#[derive(Clone, Copy, PartialEq)]
enum Arg {
    Expr,
    Predicate,
    OptionalPredicate,
    OptionalExpr,
}

/// The built-ins taking predicates (`parser.go`'s `predicates`).
fn predicate_args(name: &str) -> Option<&'static [Arg]> {
    use Arg::*;
    Some(match name {
        "all" | "none" | "any" | "one" | "filter" | "map" | "find" | "findIndex" | "findLast"
        | "findLastIndex" | "groupBy" => &[Expr, Predicate],
        "count" | "sum" => &[Expr, OptionalPredicate],
        "sortBy" | "reduce" => &[Expr, Predicate, OptionalExpr],
        _ => return None,
    })
}

/// expr's built-in functions that Flotilla evaluates.
pub(super) const BUILTINS: &[&str] = &[
    "all",
    "none",
    "any",
    "one",
    "filter",
    "map",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "count",
    "sum",
    "reduce",
    "len",
    "type",
    "abs",
    "ceil",
    "floor",
    "round",
    "int",
    "float",
    "string",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "upper",
    "lower",
    "split",
    "replace",
    "repeat",
    "join",
    "indexOf",
    "lastIndexOf",
    "hasPrefix",
    "hasSuffix",
    "max",
    "min",
    "toJSON",
    "now",
    "duration",
    "first",
    "last",
    "get",
    "take",
    "keys",
    "values",
    "reverse",
    "concat",
];

/// expr's other built-ins: refused by name, not read as calls of the environment.
const REFUSED_BUILTINS: &[&str] = &[
    "groupBy",
    "sortBy",
    "splitAfter",
    "mean",
    "median",
    "fromJSON",
    "date",
    "timezone",
    "toPairs",
    "fromPairs",
    "uniq",
    "flatten",
    "sort",
    "toBase64",
    "fromBase64",
    "bitand",
    "bitor",
    "bitxor",
    "bitnand",
    "bitnot",
    "bitshl",
    "bitshr",
    "bitushr",
];

struct Parser<'s> {
    source: &'s str,
    tokens: Vec<Token>,
    pos: usize,
    /// Inside how many predicates (where `#` and `.field` mean the element).
    predicates: usize,
    depth: usize,
}

/// The tree of `source`.
pub(super) fn parse(source: &str) -> Result<Expr, Error> {
    let tokens = super::lex::tokens(source)?;
    let mut p = Parser {
        source,
        tokens,
        pos: 0,
        predicates: 0,
        depth: 0,
    };
    let tree = p.sequence()?;
    if p.current().kind != Kind::End {
        return Err(p.unexpected());
    }
    Ok(tree)
}

impl Parser<'_> {
    fn current(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek(&self) -> &Token {
        &self.tokens[(self.pos + 1).min(self.tokens.len() - 1)]
    }

    fn next(&mut self) {
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
    }

    fn error(&self, at: usize, message: &str) -> Error {
        Error::at(self.source, at, message)
    }

    fn unexpected(&self) -> Error {
        let token = self.current();
        self.error(token.at, &format!("unexpected token {}", token.describe()))
    }

    fn expect_op(&mut self, op: &str) -> Result<(), Error> {
        if self.current().is_op(op) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_bracket(&mut self, c: char) -> Result<(), Error> {
        if self.current().is_bracket(c) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn sequence(&mut self) -> Result<Expr, Error> {
        let first = self.expression(0)?;
        let at = first.at;
        let mut nodes = vec![first];
        while self.current().is_op(";") {
            self.next();
            if self.current().kind == Kind::End {
                break;
            }
            nodes.push(self.expression(0)?);
        }
        Ok(if nodes.len() == 1 {
            nodes.remove(0)
        } else {
            Expr {
                node: Node::Sequence(nodes),
                at,
            }
        })
    }

    fn expression(&mut self, precedence: u16) -> Result<Expr, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                self.current().at,
                &format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let result = self.expression_inner(precedence);
        self.depth -= 1;
        result
    }

    fn expression_inner(&mut self, precedence: u16) -> Result<Expr, Error> {
        if precedence == 0 && self.current().is_op("let") {
            return self.variable();
        }
        if precedence == 0 && self.current().is_op("if") {
            return self.conditional_if();
        }
        let mut left = self.primary()?;
        let mut previous: Option<&'static str> = None;
        while let Kind::Op(mut op) = self.current().kind {
            let mut negate = None;
            if op == "not" {
                let not_at = self.current().at;
                match self.peek().kind {
                    Kind::Op(
                        next @ ("in" | "matches" | "contains" | "startsWith" | "endsWith"),
                    ) => {
                        if binary(next).is_some_and(|(p, _)| p >= precedence) {
                            self.next();
                            op = next;
                            negate = Some(not_at);
                        } else {
                            break;
                        }
                    }
                    _ => {
                        self.next();
                        return Err(self.unexpected());
                    }
                }
            }
            let Some((op_precedence, right_assoc)) = binary(op) else {
                break;
            };
            if op_precedence < precedence {
                break;
            }
            let op_at = self.current().at;
            self.next();
            if op == "|" {
                let Kind::Ident(name) = self.current().kind.clone() else {
                    return Err(self.unexpected());
                };
                let at = self.current().at;
                self.next();
                left = self.call(name, at, vec![left])?;
                previous = Some(op);
                continue;
            }
            if previous == Some("??") && op != "??" {
                return Err(self.error(
                    op_at,
                    &format!(
                        "Operator ({op}) and coalesce expressions (??) cannot be mixed. Wrap either by parentheses."
                    ),
                ));
            }
            if is_comparison(op) {
                left = self.comparison(left, op, op_at, op_precedence)?;
                previous = Some(op);
                continue;
            }
            let right = if right_assoc {
                self.expression(op_precedence)?
            } else {
                self.expression(op_precedence + 1)?
            };
            left = Expr {
                node: Node::Binary(op, Box::new(left), Box::new(right)),
                at: op_at,
            };
            if let Some(not_at) = negate {
                left = Expr {
                    node: Node::Unary("not", Box::new(left)),
                    at: not_at,
                };
            }
            previous = Some(op);
        }
        if precedence == 0 {
            left = self.ternary(left)?;
        }
        Ok(left)
    }

    /// `a < b < c` is `a < b and b < c`.
    fn comparison(
        &mut self,
        mut left: Expr,
        mut op: &'static str,
        mut at: usize,
        precedence: u16,
    ) -> Result<Expr, Error> {
        let mut root: Option<Expr> = None;
        loop {
            let right = self.expression(precedence + 1)?;
            let compared = Expr {
                node: Node::Binary(op, Box::new(left), Box::new(right.clone())),
                at,
            };
            root = Some(match root {
                None => compared,
                Some(before) => Expr {
                    node: Node::Binary("&&", Box::new(before), Box::new(compared)),
                    at,
                },
            });
            left = right;
            match self.current().kind {
                Kind::Op(next) if is_comparison(next) => {
                    op = next;
                    at = self.current().at;
                    self.next();
                }
                _ => break,
            }
        }
        Ok(root.expect("one comparison at least"))
    }

    fn ternary(&mut self, mut node: Expr) -> Result<Expr, Error> {
        while self.current().is_op("?") {
            let at = self.current().at;
            self.next();
            let (yes, no) = if self.current().is_op(":") {
                self.next();
                (node.clone(), self.expression(0)?)
            } else {
                let yes = self.expression(0)?;
                self.expect_op(":")?;
                (yes, self.expression(0)?)
            };
            node = Expr {
                node: Node::Conditional(Box::new(node), Box::new(yes), Box::new(no)),
                at,
            };
        }
        Ok(node)
    }

    fn variable(&mut self) -> Result<Expr, Error> {
        self.expect_op("let")?;
        let Kind::Ident(name) = self.current().kind.clone() else {
            return Err(self.unexpected());
        };
        let at = self.current().at;
        self.next();
        self.expect_op("=")?;
        let value = self.expression(0)?;
        self.expect_op(";")?;
        let body = self.sequence()?;
        Ok(Expr {
            node: Node::Let(name, Box::new(value), Box::new(body)),
            at,
        })
    }

    fn conditional_if(&mut self) -> Result<Expr, Error> {
        let at = self.current().at;
        self.next();
        let condition = self.expression(0)?;
        self.expect_bracket('{')?;
        let yes = self.sequence()?;
        self.expect_bracket('}')?;
        self.expect_op("else")?;
        let no = if self.current().is_op("if") {
            self.conditional_if()?
        } else {
            self.expect_bracket('{')?;
            let no = self.sequence()?;
            self.expect_bracket('}')?;
            no
        };
        Ok(Expr {
            node: Node::Conditional(Box::new(condition), Box::new(yes), Box::new(no)),
            at,
        })
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let token = self.current().clone();
        if let Kind::Op(op) = token.kind
            && let Some(precedence) = unary(op)
        {
            self.next();
            let operand = self.expression(precedence)?;
            let node = Expr {
                node: Node::Unary(op, Box::new(operand)),
                at: token.at,
            };
            return self.postfix(node);
        }
        if token.is_bracket('(') {
            self.next();
            let inner = self.sequence()?;
            self.expect_bracket(')')?;
            return self.postfix(inner);
        }
        if self.predicates > 0 && (token.is_op("#") || token.is_op(".")) {
            let mut name = String::new();
            if token.is_op("#") {
                self.next();
                if let Kind::Ident(n) = &self.current().kind {
                    name = n.clone();
                    self.next();
                }
            }
            let node = Expr {
                node: Node::Pointer(name),
                at: token.at,
            };
            return self.postfix(node);
        }
        self.secondary()
    }

    fn secondary(&mut self) -> Result<Expr, Error> {
        let token = self.current().clone();
        let at = token.at;
        let node = match token.kind {
            Kind::Ident(name) => {
                self.next();
                match name.as_str() {
                    "true" => {
                        return Ok(Expr {
                            node: Node::Bool(true),
                            at,
                        });
                    }
                    "false" => {
                        return Ok(Expr {
                            node: Node::Bool(false),
                            at,
                        });
                    }
                    "nil" => {
                        return Ok(Expr {
                            node: Node::Nil,
                            at,
                        });
                    }
                    _ if self.current().is_bracket('(') => self.call(name, at, Vec::new())?,
                    _ => Expr {
                        node: Node::Ident(name),
                        at,
                    },
                }
            }
            Kind::Int(n) => {
                self.next();
                return Ok(Expr {
                    node: Node::Int(n),
                    at,
                });
            }
            Kind::Float(f) => {
                self.next();
                return Ok(Expr {
                    node: Node::Float(f),
                    at,
                });
            }
            Kind::Str(s) => {
                self.next();
                Expr {
                    node: Node::Str(s.into()),
                    at,
                }
            }
            Kind::Bracket('[') => self.array()?,
            Kind::Bracket('{') => self.map()?,
            _ => return Err(self.unexpected()),
        };
        self.postfix(node)
    }

    /// A call of `name` (a built-in, else a function of the environment); `arguments`
    /// holds what a pipe passes first.
    fn call(&mut self, name: String, at: usize, mut arguments: Vec<Expr>) -> Result<Expr, Error> {
        if REFUSED_BUILTINS.contains(&name.as_str()) {
            return Err(self.error(
                at,
                &format!("the built-in function {name} is not supported by Flotilla"),
            ));
        }
        if let Some(args) = predicate_args(&name) {
            let builtin = BUILTINS
                .iter()
                .find(|b| **b == name)
                .copied()
                .expect("every predicate built-in is known");
            self.expect_bracket('(')?;
            // A pipe's left side is the first argument, not written in the brackets.
            let args = args.get(arguments.len()..).unwrap_or_default();
            for (i, arg) in args.iter().enumerate() {
                let optional = matches!(arg, Arg::OptionalPredicate | Arg::OptionalExpr);
                if self.current().is_bracket(')') {
                    if optional {
                        break;
                    }
                    return Err(self.error(
                        self.current().at,
                        &format!("expected at least {} arguments", args.len()),
                    ));
                }
                if i > 0 {
                    self.expect_op(",")?;
                }
                let node = match arg {
                    Arg::Expr | Arg::OptionalExpr => self.expression(0)?,
                    Arg::Predicate | Arg::OptionalPredicate => self.predicate()?,
                };
                arguments.push(node);
            }
            if self.current().is_op(",") {
                self.next();
            }
            self.expect_bracket(')')?;
            return Ok(Expr {
                node: Node::Builtin(builtin, arguments),
                at,
            });
        }
        let arguments = self.arguments(arguments)?;
        if let Some(builtin) = BUILTINS.iter().find(|b| **b == name) {
            return Ok(Expr {
                node: Node::Builtin(builtin, arguments),
                at,
            });
        }
        let callee = Expr {
            node: Node::Ident(name),
            at,
        };
        Ok(Expr {
            node: Node::Call(Box::new(callee), arguments),
            at,
        })
    }

    fn arguments(&mut self, mut arguments: Vec<Expr>) -> Result<Vec<Expr>, Error> {
        let offset = arguments.len();
        self.expect_bracket('(')?;
        while !self.current().is_bracket(')') {
            if arguments.len() > offset {
                self.expect_op(",")?;
            }
            if self.current().is_bracket(')') {
                break;
            }
            arguments.push(self.expression(0)?);
        }
        self.expect_bracket(')')?;
        Ok(arguments)
    }

    fn predicate(&mut self) -> Result<Expr, Error> {
        let at = self.current().at;
        let braces = self.current().is_bracket('{');
        if braces {
            self.next();
        }
        self.predicates += 1;
        let node = if braces {
            self.sequence()
        } else {
            let node = self.expression(0);
            if node.is_ok() && self.current().is_op(";") {
                Err(self.error(self.current().at, "wrap predicate with brackets { and }"))
            } else {
                node
            }
        };
        self.predicates -= 1;
        let node = node?;
        if braces {
            self.expect_bracket('}')?;
        }
        Ok(Expr {
            node: Node::Predicate(Box::new(node)),
            at,
        })
    }

    fn array(&mut self) -> Result<Expr, Error> {
        let at = self.current().at;
        self.expect_bracket('[')?;
        let mut nodes = Vec::new();
        while !self.current().is_bracket(']') {
            if !nodes.is_empty() {
                self.expect_op(",")?;
                if self.current().is_bracket(']') {
                    break;
                }
            }
            nodes.push(self.expression(0)?);
        }
        self.expect_bracket(']')?;
        Ok(Expr {
            node: Node::Array(nodes),
            at,
        })
    }

    fn map(&mut self) -> Result<Expr, Error> {
        let at = self.current().at;
        self.expect_bracket('{')?;
        let mut pairs = Vec::new();
        while !self.current().is_bracket('}') {
            if !pairs.is_empty() {
                self.expect_op(",")?;
                if self.current().is_bracket('}') {
                    break;
                }
                if self.current().is_op(",") {
                    return Err(self.unexpected());
                }
            }
            let token = self.current().clone();
            let key = match &token.kind {
                Kind::Int(n) => Node::Str(n.to_string().into()),
                Kind::Float(f) => Node::Str(f.to_string().into()),
                Kind::Str(s) | Kind::Ident(s) => Node::Str(s.as_str().into()),
                Kind::Bracket('(') => {
                    let key = self.expression(0)?;
                    self.expect_op(":")?;
                    pairs.push((key, self.expression(0)?));
                    continue;
                }
                _ => {
                    return Err(self.error(
                        token.at,
                        &format!(
                            "a map key must be a quoted string, a number, a identifier, or an expression enclosed in parentheses (unexpected token {})",
                            token.describe()
                        ),
                    ));
                }
            };
            self.next();
            self.expect_op(":")?;
            let value = self.expression(0)?;
            pairs.push((
                Expr {
                    node: key,
                    at: token.at,
                },
                value,
            ));
        }
        self.expect_bracket('}')?;
        Ok(Expr {
            node: Node::Map(pairs),
            at,
        })
    }

    fn postfix(&mut self, mut node: Expr) -> Result<Expr, Error> {
        loop {
            let token = self.current().clone();
            let optional = token.is_op("?.");
            if token.is_op(".") || optional {
                self.next();
                if optional && self.current().is_bracket('[') {
                    node = self.index(node, true)?;
                    continue;
                }
                let property = self.current().clone();
                let name = match &property.kind {
                    Kind::Ident(name) => name.clone(),
                    // Word operators are valid property and method names (`.matches`).
                    Kind::Op(word) if word.chars().all(|c| c.is_ascii_alphabetic()) => {
                        word.to_string()
                    }
                    Kind::End => {
                        return Err(self.error(property.at, "unexpected end of expression"));
                    }
                    _ => return Err(self.error(property.at, "expected name")),
                };
                self.next();
                let (inner, in_chain) = match node.node {
                    Node::Chain(inner) => (*inner, true),
                    other => (
                        Expr {
                            node: other,
                            at: node.at,
                        },
                        false,
                    ),
                };
                let member = Expr {
                    node: Node::Member {
                        object: Box::new(inner),
                        property: Box::new(Expr {
                            node: Node::Str(name.as_str().into()),
                            at: property.at,
                        }),
                        optional,
                    },
                    at: property.at,
                };
                node = if self.current().is_bracket('(') {
                    let arguments = self.arguments(Vec::new())?;
                    Expr {
                        node: Node::Call(Box::new(member), arguments),
                        at: property.at,
                    }
                } else {
                    member
                };
                if in_chain || optional {
                    node = Expr {
                        at: node.at,
                        node: Node::Chain(Box::new(node)),
                    };
                }
            } else if token.is_bracket('[') {
                node = self.index(node, false)?;
            } else {
                return Ok(node);
            }
        }
    }

    /// `node[i]`, `node[a:b]` (the `[` current).
    fn index(&mut self, node: Expr, optional: bool) -> Result<Expr, Error> {
        let at = self.current().at;
        self.expect_bracket('[')?;
        if self.current().is_op(":") {
            self.next();
            let to = if self.current().is_bracket(']') {
                None
            } else {
                Some(Box::new(self.expression(0)?))
            };
            self.expect_bracket(']')?;
            return Ok(Expr {
                node: Node::Slice {
                    object: Box::new(node),
                    from: None,
                    to,
                },
                at,
            });
        }
        let from = self.expression(0)?;
        if self.current().is_op(":") {
            self.next();
            let to = if self.current().is_bracket(']') {
                None
            } else {
                Some(Box::new(self.expression(0)?))
            };
            self.expect_bracket(']')?;
            return Ok(Expr {
                node: Node::Slice {
                    object: Box::new(node),
                    from: Some(Box::new(from)),
                    to,
                },
                at,
            });
        }
        self.expect_bracket(']')?;
        let member = Expr {
            node: Node::Member {
                object: Box::new(node),
                property: Box::new(from),
                optional,
            },
            at,
        };
        Ok(if optional {
            Expr {
                node: Node::Chain(Box::new(member)),
                at,
            }
        } else {
            member
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree as a compact S-expression, for comparing shapes.
    fn shape(e: &Expr) -> String {
        match &e.node {
            Node::Nil => "nil".into(),
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Float(f) => format!("{f:?}"),
            Node::Str(s) => format!("{s:?}"),
            Node::Ident(n) => n.clone(),
            Node::Pointer(n) => format!("#{n}"),
            Node::Array(items) => format!(
                "[{}]",
                items.iter().map(shape).collect::<Vec<_>>().join(" ")
            ),
            Node::Map(pairs) => format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{}:{}", shape(k), shape(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Node::Unary(op, x) => format!("({op} {})", shape(x)),
            Node::Binary(op, a, b) => format!("({op} {} {})", shape(a), shape(b)),
            Node::Member {
                object,
                property,
                optional,
            } => format!(
                "({} {} {})",
                if *optional { "?." } else { "." },
                shape(object),
                shape(property)
            ),
            Node::Slice { object, from, to } => format!(
                "(slice {} {} {})",
                shape(object),
                from.as_deref().map_or("_".into(), shape),
                to.as_deref().map_or("_".into(), shape)
            ),
            Node::Chain(x) => format!("(chain {})", shape(x)),
            Node::Call(f, args) => format!(
                "(call {}{})",
                shape(f),
                args.iter()
                    .map(|a| format!(" {}", shape(a)))
                    .collect::<String>()
            ),
            Node::Builtin(f, args) => format!(
                "({f}{})",
                args.iter()
                    .map(|a| format!(" {}", shape(a)))
                    .collect::<String>()
            ),
            Node::Predicate(x) => format!("{{{}}}", shape(x)),
            Node::Conditional(c, a, b) => format!("(? {} {} {})", shape(c), shape(a), shape(b)),
            Node::Let(n, v, b) => format!("(let {n} {} {})", shape(v), shape(b)),
            Node::Sequence(items) => format!(
                "(; {})",
                items.iter().map(shape).collect::<Vec<_>>().join(" ")
            ),
        }
    }

    fn parsed(source: &str) -> String {
        shape(&parse(source).unwrap_or_else(|e| panic!("{source}: {e}")))
    }

    /// Shapes as expr's parser_test.go builds them.
    #[test]
    fn precedence_and_associativity_follow_expr() {
        assert_eq!(parsed("a + b * c"), "(+ a (* b c))");
        assert_eq!(parsed("a ** b ** c"), "(** a (** b c))");
        assert_eq!(parsed("a - b - c"), "(- (- a b) c)");
        assert_eq!(parsed("not a == b"), "(== (not a) b)");
        assert_eq!(parsed("!a.b"), "(! (. a \"b\"))");
        assert_eq!(parsed("-a ** 2"), "(- (** a 2))");
        assert_eq!(parsed("a or b and c"), "(or a (and b c))");
        assert_eq!(parsed("a not in b"), "(not (in a b))");
        assert_eq!(parsed("a < b < c"), "(&& (< a b) (< b c))");
        assert_eq!(parsed("a ? b : c ? d : e"), "(? a b (? c d e))");
        assert_eq!(parsed("a ?: b"), "(? a a b)");
        assert_eq!(parsed("a ?? b ?? c"), "(?? (?? a b) c)");
        assert_eq!(parsed("x in [1, 2,]"), "(in x [1 2])");
        assert_eq!(parsed("{a: 1, 'b': 2, (c): 3}"), "{\"a\":1 \"b\":2 c:3}");
        assert_eq!(parsed("1..3"), "(.. 1 3)");
        assert_eq!(parsed("let x = 1; x + 1"), "(let x 1 (+ x 1))");
        assert_eq!(parsed("a[1:]"), "(slice a 1 _)");
        assert_eq!(parsed("if a { 1 } else { 2 }"), "(? a 1 2)");
    }

    #[test]
    fn chains_calls_and_predicates() {
        assert_eq!(
            parsed("a?.b.c"),
            "(chain (. (?. a \"b\") \"c\"))",
            "one chain: a nil at ?. makes all of it nil"
        );
        assert_eq!(parsed("a?.['b']"), "(chain (?. a \"b\"))");
        assert_eq!(
            parsed("time.Parse(x).Add(1 * time.Minute).Before(y)"),
            "(call (. (call (. (call (. time \"Parse\") x) \"Add\") (* 1 (. time \"Minute\"))) \"Before\") y)"
        );
        assert_eq!(parsed("all(xs, {# > 1})"), "(all xs {(> # 1)})");
        assert_eq!(
            parsed("filter(xs, .a == 1)"),
            "(filter xs {(== (. # \"a\") 1)})"
        );
        assert_eq!(parsed("count(xs)"), "(count xs)");
        assert_eq!(parsed("x | upper()"), "(upper x)");
        assert_eq!(parsed("x | f(1)"), "(call f x 1)");
        assert_eq!(parsed("a.matches"), "(. a \"matches\")");
    }

    #[test]
    fn bad_input_is_refused_where_it_goes_wrong() {
        let error = |source: &str| parse(source).unwrap_err().to_string();
        assert_eq!(
            error("app.status.sync.status = 'Synced'"),
            "unexpected token Operator(\"=\") (1:24)\n | app.status.sync.status = 'Synced'\n | .......................^"
        );
        // expr's parser_test.go TestParse_error, the cases of the grammar Flotilla reads.
        for (source, message) in [
            (
                "foo.",
                "unexpected end of expression (1:4)\n | foo.\n | ...^",
            ),
            ("a+", "unexpected token EOF (1:2)\n | a+\n | .^"),
            (
                "a ? (1+2) c",
                "unexpected token Identifier(\"c\") (1:11)\n | a ? (1+2) c\n | ..........^",
            ),
            (
                "[a b]",
                "unexpected token Identifier(\"b\") (1:4)\n | [a b]\n | ...^",
            ),
            (
                "foo.bar(a b)",
                "unexpected token Identifier(\"b\") (1:11)\n | foo.bar(a b)\n | ..........^",
            ),
            (
                "{-}",
                "a map key must be a quoted string, a number, a identifier, or an expression enclosed in parentheses (unexpected token Operator(\"-\")) (1:2)\n | {-}\n | .^",
            ),
            (
                "foo({.bar})",
                "a map key must be a quoted string, a number, a identifier, or an expression enclosed in parentheses (unexpected token Operator(\".\")) (1:6)\n | foo({.bar})\n | .....^",
            ),
            (
                "[1, 2, 3,,]",
                "unexpected token Operator(\",\") (1:10)\n | [1, 2, 3,,]\n | .........^",
            ),
            (
                "[,]",
                "unexpected token Operator(\",\") (1:2)\n | [,]\n | .^",
            ),
            (
                "{,}",
                "a map key must be a quoted string, a number, a identifier, or an expression enclosed in parentheses (unexpected token Operator(\",\")) (1:2)\n | {,}\n | .^",
            ),
            (
                "{foo:1, bar:2, ,}",
                "unexpected token Operator(\",\") (1:16)\n | {foo:1, bar:2, ,}\n | ...............^",
            ),
            (
                "foo ?? bar || baz",
                "Operator (||) and coalesce expressions (??) cannot be mixed. Wrap either by parentheses. (1:12)\n | foo ?? bar || baz\n | ...........^",
            ),
            (
                "1 not == [1, 2, 5]",
                "unexpected token Operator(\"==\") (1:7)\n | 1 not == [1, 2, 5]\n | ......^",
            ),
            (
                "foo(1; 2; 3)",
                "unexpected token Operator(\";\") (1:6)\n | foo(1; 2; 3)\n | .....^",
            ),
            (
                "map(ls, 1; 2; 3)",
                "wrap predicate with brackets { and } (1:10)\n | map(ls, 1; 2; 3)\n | .........^",
            ),
            (
                "[1; 2; 3]",
                "unexpected token Operator(\";\") (1:3)\n | [1; 2; 3]\n | ..^",
            ),
            (
                "1 + if true { 2 } else { 3 }",
                "unexpected token Operator(\"if\") (1:5)\n | 1 + if true { 2 } else { 3 }\n | ....^",
            ),
            (
                "if a { 1 } else b",
                "unexpected token Identifier(\"b\") (1:17)\n | if a { 1 } else b\n | ................^",
            ),
            (
                "list | all(#,,)",
                "unexpected token Operator(\",\") (1:14)\n | list | all(#,,)\n | .............^",
            ),
        ] {
            assert_eq!(error(source), message, "{source}");
        }
        assert!(error("a not b").starts_with("unexpected token Identifier(\"b\")"));
        assert!(
            error("sortBy(xs, .a)").starts_with("the built-in function sortBy is not supported")
        );
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(error(&deep).contains("nests deeper than"));
        assert!(error("all(xs, # > 1; true)").starts_with("wrap predicate with brackets"));
    }
}
