//! The parser: tokens into trees, following Go's `text/template/parse/parse.go` including its
//! parse-time checks (unknown functions, undefined variables, `break` outside `range`).

use crate::lex::{Tok, Token, lex};
use crate::value::Value;
use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::sync::Arc;

/// A list of nodes (a template body or a branch).
pub(crate) type List = Vec<Node>;

/// A statement-level node.
#[derive(Debug)]
pub(crate) enum Node {
    Text(Box<str>),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipe,
    pub(crate) list: List,
    pub(crate) else_list: Option<List>,
}

/// A pipeline with optional variable declarations (`$x := …`) or assignment (`$x = …`).
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) pos: usize,
    pub(crate) decl: Vec<Arc<str>>,
    pub(crate) is_assign: bool,
    pub(crate) cmds: Vec<Cmd>,
}

/// One command of a pipeline: a function or value with arguments.
#[derive(Debug)]
pub(crate) struct Cmd {
    pub(crate) args: Vec<Arg>,
}

/// An operand.
#[derive(Debug)]
pub(crate) enum Arg {
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(usize, Number),
    String(usize, Arc<str>, Box<str>),
    /// `.A.B`
    Field(usize, Vec<Arc<str>>),
    /// `$x.A.B`
    Variable(usize, Arc<str>, Vec<Arc<str>>),
    Ident(usize, Arc<str>),
    /// `(pipeline)`
    Pipe(usize, Box<Pipe>),
    /// `(pipeline).A.B` or `func.A.B`: fields of an evaluated operand.
    Chain(usize, Box<Arg>, Vec<Arc<str>>),
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Bool(p, _)
            | Arg::Number(p, _)
            | Arg::String(p, ..)
            | Arg::Field(p, _)
            | Arg::Variable(p, ..)
            | Arg::Ident(p, _)
            | Arg::Pipe(p, ..)
            | Arg::Chain(p, ..) => *p,
        }
    }
}

/// A numeric constant: the value it has when passed where any type is accepted, or why it
/// has none.
#[derive(Debug)]
pub(crate) struct Number {
    pub(crate) text: Box<str>,
    pub(crate) value: std::result::Result<Value, String>,
}

/// The trees produced by one parse: the main body and every `define`/`block`.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) root: List,
    pub(crate) defines: Vec<(String, List)>,
}

/// A parse failure at a byte offset.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) message: String,
    pub(crate) pos: usize,
}

type Result<T> = std::result::Result<T, ParseError>;

struct Parser<'f> {
    toks: Vec<Token>,
    i: usize,
    vars: Vec<Arc<str>>,
    range_depth: usize,
    is_func: &'f dyn Fn(&str) -> bool,
    defines: Vec<(String, List)>,
}

/// Parses `src`. `is_func` tells whether a function name is defined (Go checks at parse time).
pub(crate) fn parse(
    src: &str,
    left: &str,
    right: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Parsed> {
    let toks = lex(src, left, right).map_err(|e| ParseError {
        message: e.message,
        pos: e.pos,
    })?;
    let mut p = Parser {
        toks,
        i: 0,
        vars: vec![Arc::from("$")],
        range_depth: 0,
        is_func,
        defines: Vec::new(),
    };
    let mut root = Vec::new();
    while p.peek().tok != Tok::Eof {
        if p.peek().tok == Tok::LeftDelim {
            let save = p.i;
            p.next();
            if p.next_non_space().tok == Tok::Keyword("define") {
                p.definition()?;
                continue;
            }
            p.i = save;
        }
        match p.text_or_action()? {
            Item::Node(n) => root.push(n),
            Item::End(pos) => return p.err_at(pos, "unexpected {{end}}"),
            Item::Else(pos, _) => return p.err_at(pos, "unexpected {{else}}"),
        }
    }
    // Go rejects two non-empty definitions of one name within a single parse.
    let mut seen = HashSet::new();
    for (name, list) in &p.defines {
        if !is_empty_tree(list) && !seen.insert(name.clone()) {
            return p.err_at(
                0,
                format!("template: multiple definition of template {name:?}"),
            );
        }
    }
    Ok(Parsed {
        root,
        defines: p.defines,
    })
}

/// Go's `parse.IsEmptyTree`: only whitespace text.
pub(crate) fn is_empty_tree(list: &List) -> bool {
    list.iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim_matches([' ', '\t', '\r', '\n']).is_empty()))
}

enum Item {
    Node(Node),
    End(usize),
    /// `{{else}}`, and whether `if`/`with` follows it.
    Else(usize, Option<&'static str>),
}

impl Parser<'_> {
    fn err_at<T>(&self, pos: usize, message: impl Into<String>) -> Result<T> {
        Err(ParseError {
            message: message.into(),
            pos,
        })
    }

    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.tok != Tok::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let save = self.i;
        let t = self.next_non_space();
        self.i = save;
        t
    }

    fn unexpected<T>(&self, t: &Token, context: &str) -> Result<T> {
        self.err_at(
            t.pos,
            format!("unexpected {} in {context}", describe(&t.tok)),
        )
    }

    fn expect(&mut self, want: Tok, context: &str) -> Result<Token> {
        let t = self.next_non_space();
        if t.tok != want {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn definition(&mut self) -> Result<()> {
        let context = "define clause";
        let t = self.next_non_space();
        let name = match &t.tok {
            Tok::Str(s) => unquote(s).map_err(|m| ParseError {
                message: m,
                pos: t.pos,
            })?,
            _ => return self.unexpected(&t, context),
        };
        self.expect(Tok::RightDelim, context)?;
        let vars = std::mem::replace(&mut self.vars, vec![Arc::from("$")]);
        let (list, end) = self.item_list()?;
        self.vars = vars;
        if let Item::Else(pos, _) = end {
            return self.err_at(pos, format!("unexpected {{{{else}}}} in {context}"));
        }
        self.defines.push((name, list));
        Ok(())
    }

    fn item_list(&mut self) -> Result<(List, Item)> {
        let mut list = Vec::new();
        while self.peek_non_space().tok != Tok::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                end => return Ok((list, end)),
            }
        }
        let pos = self.peek().pos;
        self.err_at(pos, "unexpected EOF")
    }

    fn text_or_action(&mut self) -> Result<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s.into()))),
            Tok::LeftDelim => self.action(),
            _ => self.unexpected(&t, "input"),
        }
    }

    fn action(&mut self) -> Result<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Keyword("block") => return self.block(t.pos).map(Item::Node),
            Tok::Keyword(k @ ("break" | "continue")) => {
                let n = self.next_non_space();
                if n.tok != Tok::RightDelim {
                    return self.unexpected(&n, &format!("{{{{{k}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.err_at(t.pos, format!("{{{{{k}}}}} outside {{{{range}}}}"));
                }
                return Ok(Item::Node(if k == "break" {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Tok::Keyword("else") => {
                let peek = self.peek_non_space();
                if let Tok::Keyword(k @ ("if" | "with")) = peek.tok {
                    return Ok(Item::Else(t.pos, Some(k)));
                }
                self.expect(Tok::RightDelim, "else")?;
                return Ok(Item::Else(t.pos, None));
            }
            Tok::Keyword("end") => {
                self.expect(Tok::RightDelim, "end")?;
                return Ok(Item::End(t.pos));
            }
            Tok::Keyword(k @ ("if" | "with" | "range")) => return self.control(k).map(Item::Node),
            Tok::Keyword("template") => return self.template_control().map(Item::Node),
            _ => {}
        }
        self.i -= 1;
        // Variables declared in an action persist until the enclosing `end`.
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn control(&mut self, context: &'static str) -> Result<Node> {
        let vars = self.vars.len();
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let else_list = match next {
            Item::End(_) => None,
            Item::Else(_, Some(k)) if k == context && context != "range" => {
                self.next_non_space();
                Some(vec![self.control(context)?])
            }
            Item::Else(..) => {
                let (list, next) = self.item_list()?;
                if let Item::Else(pos, _) = next {
                    return self.err_at(pos, "expected end; found {{else}}");
                }
                Some(list)
            }
            Item::Node(_) => unreachable!("item_list returns only end or else"),
        };
        self.vars.truncate(vars);
        let b = Branch {
            pipe,
            list,
            else_list,
        };
        Ok(match context {
            "if" => Node::If(b),
            "with" => Node::With(b),
            _ => Node::Range(b),
        })
    }

    fn template_name(&mut self, context: &str) -> Result<(usize, String)> {
        let t = self.next_non_space();
        match &t.tok {
            Tok::Str(s) => Ok((
                t.pos,
                unquote(s).map_err(|m| ParseError {
                    message: m,
                    pos: t.pos,
                })?,
            )),
            _ => self.unexpected(&t, context),
        }
    }

    fn template_control(&mut self) -> Result<Node> {
        let context = "template clause";
        let (pos, name) = self.template_name(context)?;
        let pipe = if self.peek_non_space().tok == Tok::RightDelim {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline(context, Tok::RightDelim)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block(&mut self, pos: usize) -> Result<Node> {
        let context = "block clause";
        let (_, name) = self.template_name(context)?;
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        let vars = std::mem::replace(&mut self.vars, vec![Arc::from("$")]);
        let depth = std::mem::take(&mut self.range_depth);
        let (list, end) = self.item_list()?;
        self.vars = vars;
        self.range_depth = depth;
        if let Item::Else(p, _) = end {
            return self.err_at(p, format!("unexpected {{{{else}}}} in {context}"));
        }
        self.defines.push((name.clone(), list));
        Ok(Node::Template {
            pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> Result<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, or `$i, $e :=` in range.
        loop {
            let save = self.i;
            let v = self.next_non_space();
            let Tok::Variable(name) = &v.tok else {
                self.i = save;
                break;
            };
            let next = self.peek_non_space();
            match next.tok {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.tok == Tok::Assign;
                    self.next_non_space();
                    let name: Arc<str> = Arc::from(name.as_str());
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    break;
                }
                Tok::Comma => {
                    self.next_non_space();
                    let name: Arc<str> = Arc::from(name.as_str());
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen => continue,
                            _ => {
                                return self
                                    .err_at(next.pos, "range can only initialize variables");
                            }
                        }
                    }
                    return self.err_at(next.pos, format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            if t.tok == end {
                if pipe.cmds.is_empty() {
                    return self.err_at(t.pos, format!("missing value for {context}"));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args[0],
                        Arg::Bool(..)
                            | Arg::Dot(_)
                            | Arg::Nil(_)
                            | Arg::Number(..)
                            | Arg::String(..)
                    ) {
                        return self.err_at(
                            t.pos,
                            format!("non executable command in pipeline stage {}", i + 1),
                        );
                    }
                }
                return Ok(pipe);
            }
            match t.tok {
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn command(&mut self) -> Result<Cmd> {
        let mut args = Vec::new();
        let pos = self.peek_non_space().pos;
        loop {
            self.peek_non_space();
            while self.peek().tok == Tok::Space {
                self.next();
            }
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.i -= 1,
                Tok::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.err_at(pos, "empty command");
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> Result<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        // Go gives the extended node the position of the first chained field.
        let chain_pos = self.peek().pos;
        let mut chain = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            chain.push(Arc::from(&f[1..]));
            self.next();
        }
        if chain.is_empty() {
            return Ok(Some(term));
        }
        Ok(Some(match term {
            Arg::Field(_, mut fields) => {
                fields.extend(chain);
                Arg::Field(chain_pos, fields)
            }
            Arg::Variable(_, name, mut fields) => {
                fields.extend(chain);
                Arg::Variable(chain_pos, name, fields)
            }
            Arg::Chain(_, inner, mut fields) => {
                fields.extend(chain);
                Arg::Chain(chain_pos, inner, fields)
            }
            Arg::Bool(..) | Arg::String(..) | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return self.err_at(
                    term.pos(),
                    format!("unexpected . after term {:?}", arg_string(&term)),
                );
            }
            inner @ (Arg::Ident(..) | Arg::Pipe(..)) => {
                Arg::Chain(chain_pos, Box::new(inner), chain)
            }
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.tok {
            Tok::Ident(name) => {
                if !(self.is_func)(&name) {
                    return self.err_at(pos, format!("function {name:?} not defined"));
                }
                Arg::Ident(pos, Arc::from(name))
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable(v) => {
                if !self.vars.iter().any(|x| **x == *v) {
                    return self.err_at(pos, format!("undefined variable {v:?}"));
                }
                Arg::Variable(pos, Arc::from(v), Vec::new())
            }
            Tok::Field(f) => Arg::Field(pos, vec![Arc::from(&f[1..])]),
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Number(text) | Tok::Char(text) => {
                let n = number(&text).map_err(|m| ParseError { message: m, pos })?;
                Arg::Number(pos, n)
            }
            Tok::LeftParen => {
                let p = self.pipeline("parenthesized pipeline", Tok::RightParen)?;
                Arg::Pipe(pos, Box::new(p))
            }
            Tok::Str(s) => {
                let v = unquote(&s).map_err(|m| ParseError { message: m, pos })?;
                Arg::String(pos, Arc::from(v), s.into())
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}

/// Go's `item.String()` as used in "unexpected … in …" messages.
fn describe(t: &Tok) -> String {
    let q = |s: &str| {
        if s.chars().count() > 10 {
            let short: String = s.chars().take(10).collect();
            format!("{short:?}...")
        } else {
            format!("{s:?}")
        }
    };
    match t {
        Tok::Eof => "EOF".into(),
        Tok::Keyword(k) => format!("<{k}>"),
        Tok::Text(s) | Tok::Field(s) | Tok::Variable(s) | Tok::Ident(s) | Tok::Str(s) => q(s),
        Tok::Char(s) | Tok::Number(s) => q(s),
        Tok::LeftDelim => q("{{"),
        Tok::RightDelim => q("}}"),
        Tok::Space => q(" "),
        Tok::Bool(b) => q(if *b { "true" } else { "false" }),
        Tok::Nil => q("nil"),
        Tok::Dot => q("."),
        Tok::Pipe => q("|"),
        Tok::LeftParen => q("("),
        Tok::RightParen => q(")"),
        Tok::Declare => q(":="),
        Tok::Assign => q("="),
        Tok::Comma => q(","),
    }
}

/// Go's `strconv.Unquote` for double-quoted, raw and character literals.
pub(crate) fn unquote(s: &str) -> std::result::Result<String, String> {
    let bad = || "invalid syntax".to_string();
    if let Some(raw) = s.strip_prefix('`') {
        return raw.strip_suffix('`').map(str::to_string).ok_or_else(bad);
    }
    let quote = s.chars().next().ok_or_else(bad)?;
    let body = s
        .strip_prefix(quote)
        .and_then(|b| b.strip_suffix(quote))
        .ok_or_else(bad)?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> std::result::Result<u32, String> {
            let h: String = chars.by_ref().take(n).collect();
            if h.len() != n {
                return Err(bad());
            }
            u32::from_str_radix(&h, 16).map_err(|_| bad())
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' if quote == '\'' => out.push('\''),
            '"' if quote == '"' => out.push('"'),
            'x' => out.push(char::from_u32(hex(&mut chars, 2)?).ok_or_else(bad)?),
            'u' => out.push(char::from_u32(hex(&mut chars, 4)?).ok_or_else(bad)?),
            'U' => out.push(char::from_u32(hex(&mut chars, 8)?).ok_or_else(bad)?),
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).map_err(|_| bad())?;
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseInt(text, 0, 64)`: prefixes 0x, 0o, 0b, 0 (octal), underscores.
pub(crate) fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, t) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits, prefixed) = match t.get(..2) {
        Some("0x" | "0X") => (16, &t[2..], true),
        Some("0o" | "0O") => (8, &t[2..], true),
        Some("0b" | "0B") => (2, &t[2..], true),
        _ if t.len() > 1 && t.starts_with('0') => (8, &t[1..], true),
        _ => (10, t, false),
    };
    if digits.is_empty()
        || digits.starts_with('_') && !prefixed
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let mag = u64::from_str_radix(&clean, radix).ok()?;
    if neg {
        if mag > i64::MAX as u64 + 1 {
            return None;
        }
        Some((mag as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(mag).ok()
    }
}

fn number(text: &str) -> std::result::Result<Number, String> {
    let value = if text.starts_with('\'') {
        let s = unquote(text).map_err(|_| format!("malformed character constant: {text}"))?;
        let mut cs = s.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) => Ok(Value::Int(c as i64)),
            _ => return Err(format!("malformed character constant: {text}")),
        }
    } else if text.ends_with('i') {
        Err("complex numbers are not supported".to_string())
    } else if let Some(i) = parse_go_int(text) {
        let looks_float = !text.contains(['x', 'X']) && text.contains(['.', 'e', 'E', 'p', 'P']);
        Ok(if looks_float {
            Value::Float(i as f64)
        } else {
            Value::Int(i)
        })
    } else {
        let clean: String = text.chars().filter(|c| *c != '_').collect();
        let unsigned = clean.trim_start_matches(['+', '-']);
        let is_hex = unsigned.starts_with("0x") || unsigned.starts_with("0X");
        if is_hex {
            return match parse_hex_float(unsigned) {
                Some(f) => Ok(Number {
                    text: text.into(),
                    value: Ok(Value::Float(if clean.starts_with('-') { -f } else { f })),
                }),
                None => Err(format!("illegal number syntax: {text:?}")),
            };
        }
        match clean.parse::<f64>() {
            Ok(f) if !is_hex => {
                if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                    // Integers too large for int64 (Go would keep a uint64 up to 2^64-1).
                    Err(format!("{text} overflows int"))
                } else {
                    Ok(Value::Float(f))
                }
            }
            _ => return Err(format!("illegal number syntax: {text:?}")),
        }
    };
    Ok(Number {
        text: text.into(),
        value,
    })
}

/// A hexadecimal float such as `0x1.Ep+2` (without sign or underscores).
fn parse_hex_float(s: &str) -> Option<f64> {
    let body = s.get(2..)?;
    let (mant, exp) = match body.find(['p', 'P']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
        None => return None,
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Go's `Node.String()` for operands, used in error contexts.
pub(crate) fn arg_string(a: &Arg) -> String {
    let mut s = String::new();
    write_arg(&mut s, a);
    s
}

fn write_arg(s: &mut String, a: &Arg) {
    let chain = |s: &mut String, fields: &[Arc<str>]| {
        for f in fields {
            s.push('.');
            s.push_str(f);
        }
    };
    match a {
        Arg::Dot(_) => s.push('.'),
        Arg::Nil(_) => s.push_str("nil"),
        Arg::Bool(_, b) => s.push_str(if *b { "true" } else { "false" }),
        Arg::Number(_, n) => s.push_str(&n.text),
        Arg::String(_, _, quoted) => s.push_str(quoted),
        Arg::Field(_, f) => chain(s, f),
        Arg::Variable(_, name, f) => {
            s.push_str(name);
            chain(s, f);
        }
        Arg::Ident(_, name) => s.push_str(name),
        Arg::Pipe(_, p) => {
            s.push('(');
            write_pipe(s, p);
            s.push(')');
        }
        Arg::Chain(_, inner, f) => {
            write_arg(s, inner);
            chain(s, f);
        }
    }
}

/// Go's `PipeNode.String()`.
pub(crate) fn pipe_string(p: &Pipe) -> String {
    let mut s = String::new();
    write_pipe(&mut s, p);
    s
}

fn write_pipe(s: &mut String, p: &Pipe) {
    if !p.decl.is_empty() {
        for (i, d) in p.decl.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(d);
        }
        s.push_str(if p.is_assign { " = " } else { " := " });
    }
    for (i, c) in p.cmds.iter().enumerate() {
        if i > 0 {
            s.push_str(" | ");
        }
        for (j, a) in c.args.iter().enumerate() {
            if j > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{}", ArgDisplay(a));
        }
    }
}

struct ArgDisplay<'a>(&'a Arg);

impl fmt::Display for ArgDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&arg_string(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integer_literals() {
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("0o17"), Some(15));
        assert_eq!(parse_go_int("017"), Some(15));
        assert_eq!(parse_go_int("1_000"), Some(1000));
        assert_eq!(parse_go_int("-0b101"), Some(-5));
        assert_eq!(parse_go_int("1e3"), None);
    }
}
