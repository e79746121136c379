//! Flux's post-build variable substitution language (`fluxcd/pkg/envsubst`), a bash-like
//! `${…}` expander.
//!
//! The grammar is defined by a mode-switching scanner upstream, and some of its corners
//! are surprising (a `${v/a}` without the second slash swallows the text up to the next
//! `/`; `${v-d}` is an error; every default form applies to empty *and* unset values).
//! Manifests in the wild depend on those corners, so this parser reproduces the scanner's
//! decisions one by one rather than implementing bash.

/// Why an expression could not be parsed or expanded. The texts are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvsubstError {
    /// A `${` construct that does not fit any form.
    #[error("bad substitution")]
    BadSubstitution,
    /// `${name` not followed by `}` or an operator.
    #[error("missing closing brace")]
    MissingClosingBrace,
    /// `${` not followed by a variable name.
    #[error("unable to parse variable name")]
    VariableName,
    /// An operator's argument could not be read.
    #[error("unable to parse substitution within function")]
    FuncSubstitution,
    /// A default operator (`:=`, `:-`, …) that is not one.
    #[error("unable to parse default function")]
    DefaultFunction,
    /// Strict mode: the variable is not defined and the expression gives no default.
    #[error("variable not set (strict mode): {0:?}")]
    NotSet(String),
    /// A substring whose length points before its start (upstream panics here).
    #[error("bad substitution: substring length {0} is out of range")]
    SubstringRange(i64),
}

/// Expands every `${…}` in `text`. `lookup` answers a variable's value, or `None` when it
/// is not defined: that is an error unless the expression carries a default operator
/// (Flux's strict mode). A non-strict caller answers `Some("")` for unknown names.
pub fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvsubstError> {
    let nodes = Parser::new(text).parse_all()?;
    let mut out = String::with_capacity(text.len());
    for node in &nodes {
        eval(node, lookup, &mut out)?;
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Func {
        /// The variable's name.
        var: String,
        /// The operator as written (`""` for a plain `${v}`, `":-"`, `"//"`, …).
        op: String,
        /// Each argument is itself a sequence of text and nested expressions.
        args: Vec<Vec<Node>>,
    },
}

/// Which characters a token may continue with: the scanner's accept functions, which see
/// the character and the token's length in bytes including it.
#[derive(Clone, Copy)]
enum Accept {
    Any,
    Ident,
    Colons,
    OneHash,
    NotClosing,
    HashOp,
    PercentOp,
    DefaultOp,
    ReplaceOp,
    OneEqual,
    OneColon,
    NotColonOrClose,
    Slashes,
    NotSlash,
    CasingOp,
}

impl Accept {
    fn accepts(self, c: char, len: usize) -> bool {
        match self {
            Accept::Any => true,
            Accept::Ident => c.is_alphabetic() || c.is_numeric() || c == '_',
            Accept::Colons => c == ':',
            Accept::OneHash => c == '#' && len == 1,
            Accept::NotClosing => c != '}',
            Accept::HashOp => c == '#' && len < 3,
            Accept::PercentOp => c == '%' && len < 3,
            Accept::DefaultOp => match len {
                1 => c == ':',
                2 => matches!(c, '=' | '-' | '?' | '+'),
                _ => false,
            },
            Accept::ReplaceOp => match len {
                1 => c == '/',
                2 => matches!(c, '/' | '#' | '%'),
                _ => false,
            },
            Accept::OneEqual => len == 1 && c == '=',
            Accept::OneColon => len == 1 && c == ':',
            Accept::NotColonOrClose => c != ':' && c != '}',
            Accept::Slashes => c == '/',
            Accept::NotSlash => c != '/',
            Accept::CasingOp => (c == ',' || c == '^') && len < 3,
        }
    }
}

/// What a scan may recognise besides plain text, and which escapes apply inside it.
#[derive(Clone, Copy, Default)]
struct Mode {
    text: bool,
    open: bool,
    close: bool,
    /// `$$` → `$`.
    escape_dollar: bool,
    /// `\/` → `/` and `\\` → `\`.
    escape_backslash: bool,
}

impl Mode {
    const TEXT: Mode = Mode {
        text: true,
        open: false,
        close: false,
        escape_dollar: false,
        escape_backslash: false,
    };
    fn with_open(self) -> Mode {
        Mode { open: true, ..self }
    }
    fn with_close(self) -> Mode {
        Mode {
            close: true,
            ..self
        }
    }
    fn with_all_escapes(self) -> Mode {
        Mode {
            escape_dollar: true,
            escape_backslash: true,
            ..self
        }
    }
}

enum Token {
    End,
    Illegal,
    Text(String),
    Open,
    Close,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser { src, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The length of an escape sequence at the cursor (always 2), if `mode` has one there.
    fn escape_at(&self, mode: Mode) -> bool {
        let rest = self.rest().as_bytes();
        match rest {
            [b'$', b'$', ..] => mode.escape_dollar,
            [b'\\', b'/' | b'\\', ..] => mode.escape_backslash,
            _ => false,
        }
    }

    fn scan(&mut self, mode: Mode, accept: Accept) -> Token {
        let Some(first) = self.peek() else {
            return Token::End;
        };
        if mode.open && self.rest().starts_with("${") {
            self.pos += 2;
            return Token::Open;
        }
        if mode.close && first == '}' {
            self.pos += 1;
            return Token::Close;
        }
        if !mode.text {
            return Token::Illegal;
        }
        let mut text = String::new();
        while let Some(c) = self.peek() {
            // An opening `${` ends the text (the first character was checked above).
            if mode.open && !text.is_empty() && self.rest().starts_with("${") {
                break;
            }
            if self.escape_at(mode) {
                let kept = self.src[self.pos + 1..].chars().next().unwrap_or('$');
                text.push(kept);
                self.pos += 1 + kept.len_utf8();
                continue;
            }
            if !accept.accepts(c, text.len() + c.len_utf8()) {
                break;
            }
            text.push(c);
            self.pos += c.len_utf8();
        }
        if text.is_empty() {
            Token::Illegal
        } else {
            Token::Text(text)
        }
    }

    /// Text and expressions up to the end of the input.
    fn parse_all(&mut self) -> Result<Vec<Node>, EnvsubstError> {
        let mode = Mode {
            escape_dollar: true,
            ..Mode::TEXT.with_open()
        };
        let mut nodes = Vec::new();
        loop {
            match self.scan(mode, Accept::Any) {
                Token::End => return Ok(nodes),
                Token::Text(text) => nodes.push(Node::Text(text)),
                Token::Open => nodes.push(self.parse_func()?),
                Token::Illegal | Token::Close => return Err(EnvsubstError::BadSubstitution),
            }
        }
    }

    /// After `${`: the variable, its operator and arguments, and the closing `}`.
    fn parse_func(&mut self) -> Result<Node, EnvsubstError> {
        if self.peek() == Some('#') {
            return self.parse_length();
        }
        let var = match self.scan(Mode::TEXT, Accept::Ident) {
            Token::Text(name) => name,
            _ => return Err(EnvsubstError::VariableName),
        };
        match self.peek() {
            Some(':') => {
                let after_colon = self.src[self.pos + 1..].chars().next();
                if matches!(after_colon, Some('=' | '-' | '?' | '+')) {
                    self.parse_default(var, Accept::DefaultOp)
                } else {
                    self.parse_substring(var)
                }
            }
            Some('=') => self.parse_default(var, Accept::OneEqual),
            Some(',' | '^') => {
                let op = self.scan_operator(Accept::CasingOp, EnvsubstError::BadSubstitution)?;
                self.expect_close()?;
                Ok(func(var, op, Vec::new()))
            }
            Some('/') => self.parse_replace(var),
            Some('#') => self.parse_remove(var, Accept::HashOp),
            Some('%') => self.parse_remove(var, Accept::PercentOp),
            _ => match self.scan(Mode::default().with_close(), Accept::Ident) {
                Token::Close => Ok(func(var, String::new(), Vec::new())),
                _ => Err(EnvsubstError::MissingClosingBrace),
            },
        }
    }

    fn scan_operator(
        &mut self,
        accept: Accept,
        error: EnvsubstError,
    ) -> Result<String, EnvsubstError> {
        match self.scan(Mode::TEXT, accept) {
            Token::Text(op) => Ok(op),
            _ => Err(error),
        }
    }

    /// One argument: a nested `${…}`, or text the scanner accepts.
    fn parse_arg(&mut self, accept: Accept, escapes: bool) -> Result<Node, EnvsubstError> {
        let mut mode = Mode::TEXT.with_open();
        if escapes {
            mode = mode.with_all_escapes();
        }
        match self.scan(mode, accept) {
            Token::Open => self.parse_func(),
            Token::Text(text) => Ok(Node::Text(text)),
            _ => Err(EnvsubstError::FuncSubstitution),
        }
    }

    fn expect_close(&mut self) -> Result<(), EnvsubstError> {
        match self.scan(Mode::default().with_close(), Accept::Any) {
            Token::Close => Ok(()),
            _ => Err(EnvsubstError::BadSubstitution),
        }
    }

    /// `${#v}`: the length of the value.
    fn parse_length(&mut self) -> Result<Node, EnvsubstError> {
        let op = self.scan_operator(Accept::OneHash, EnvsubstError::BadSubstitution)?;
        let var = self.scan_operator(Accept::Ident, EnvsubstError::BadSubstitution)?;
        self.expect_close()?;
        Ok(func(var, op, Vec::new()))
    }

    /// `${v:offset}` and `${v:offset:length}`.
    fn parse_substring(&mut self, var: String) -> Result<Node, EnvsubstError> {
        let op = self.scan_operator(Accept::OneColon, EnvsubstError::BadSubstitution)?;
        let offset = self.parse_arg(Accept::NotColonOrClose, false)?;
        match self.scan(Mode::TEXT.with_close(), Accept::Colons) {
            Token::Close => return Ok(func(var, op, vec![vec![offset]])),
            Token::Text(_) => {}
            _ => return Err(EnvsubstError::BadSubstitution),
        }
        let length = self.parse_arg(Accept::NotClosing, false)?;
        self.expect_close()?;
        Ok(func(var, op, vec![vec![offset], vec![length]]))
    }

    /// `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`.
    fn parse_remove(&mut self, var: String, accept: Accept) -> Result<Node, EnvsubstError> {
        let op = self.scan_operator(accept, EnvsubstError::BadSubstitution)?;
        let pattern = self.parse_arg(Accept::NotClosing, false)?;
        self.expect_close()?;
        Ok(func(var, op, vec![vec![pattern]]))
    }

    /// `${v/p/r}`, `${v//p/r}`, `${v/#p/r}`, `${v/%p/r}` (the replacement may be empty).
    fn parse_replace(&mut self, var: String) -> Result<Node, EnvsubstError> {
        let op = self.scan_operator(Accept::ReplaceOp, EnvsubstError::BadSubstitution)?;
        let pattern = self.parse_arg(Accept::NotSlash, true)?;
        self.scan_operator(Accept::Slashes, EnvsubstError::BadSubstitution)?;
        if self.peek() == Some('}') {
            self.expect_close()?;
            return Ok(func(var, op, vec![vec![pattern]]));
        }
        let replacement = self.parse_arg(Accept::NotClosing, true)?;
        self.expect_close()?;
        Ok(func(var, op, vec![vec![pattern], vec![replacement]]))
    }

    /// `${v=d}`, `${v:=d}`, `${v:-d}`, `${v:?d}`, `${v:+d}`: the default is any mix of
    /// text and nested expressions, up to the closing brace.
    fn parse_default(&mut self, var: String, accept: Accept) -> Result<Node, EnvsubstError> {
        let op = self.scan_operator(accept, EnvsubstError::DefaultFunction)?;
        let mut default = Vec::new();
        while self.peek() != Some('}') {
            default.push(self.parse_arg(Accept::NotClosing, false)?);
        }
        self.expect_close()?;
        // Upstream joins every argument: one argument made of all the parts is the same.
        let args = if default.is_empty() {
            Vec::new()
        } else {
            vec![default]
        };
        Ok(func(var, op, args))
    }
}

fn func(var: String, op: String, args: Vec<Vec<Node>>) -> Node {
    Node::Func { var, op, args }
}

fn is_default_op(op: &str) -> bool {
    matches!(op, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}

fn eval(
    node: &Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), EnvsubstError> {
    let (var, op, args) = match node {
        Node::Text(text) => {
            out.push_str(text);
            return Ok(());
        }
        Node::Func { var, op, args } => (var, op, args),
    };
    // Arguments are expanded first, even when the operator ends up not using them.
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        let mut value = String::new();
        for part in arg {
            eval(part, lookup, &mut value)?;
        }
        values.push(value);
    }
    let value = match lookup(var) {
        Some(value) => value,
        None if is_default_op(op) => String::new(),
        None => return Err(EnvsubstError::NotSet(var.clone())),
    };
    out.push_str(&apply(op, &value, &values)?);
    Ok(())
}

fn apply(op: &str, value: &str, args: &[String]) -> Result<String, EnvsubstError> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    Ok(match op {
        "," => map_first(value, |c| c.to_lowercase().collect()),
        ",," => value.to_lowercase(),
        "^" => map_first(value, |c| c.to_uppercase().collect()),
        "^^" => value.to_uppercase(),
        "#" if args.is_empty() => value.len().to_string(),
        "#" => trim_prefix(value, arg(0), Shortest),
        "##" => trim_prefix(value, arg(0), Longest),
        "%" => trim_suffix(value, arg(0), Shortest),
        "%%" => trim_suffix(value, arg(0), Longest),
        ":" => substring(value, args)?,
        "/" => replace(value, arg(0), arg(1), Some(1)),
        "//" => replace(value, arg(0), arg(1), None),
        "/#" => match (arg(0), arg(1)) {
            (Some(from), Some(to)) if value.starts_with(from) => {
                format!("{to}{}", &value[from.len()..])
            }
            _ => value.to_owned(),
        },
        "/%" => match (arg(0), arg(1)) {
            (Some(from), Some(to)) if value.ends_with(from) => {
                format!("{}{to}", &value[..value.len() - from.len()])
            }
            _ => value.to_owned(),
        },
        // Plain `${v}` and every default form: the default applies to an empty value.
        _ if value.is_empty() && !args.is_empty() => args.concat(),
        _ => value.to_owned(),
    })
}

fn map_first(value: &str, f: impl Fn(char) -> String) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => f(first) + chars.as_str(),
        None => String::new(),
    }
}

fn replace(value: &str, from: Option<&str>, to: Option<&str>, count: Option<usize>) -> String {
    let Some(from) = from else {
        return value.to_owned();
    };
    let to = to.unwrap_or("");
    match count {
        Some(n) => value.replacen(from, to, n),
        None => value.replace(from, to),
    }
}

/// `${v:offset[:length]}` over bytes, as upstream slices Go strings; offsets that are not
/// numbers leave the value unchanged.
fn substring(value: &str, args: &[String]) -> Result<String, EnvsubstError> {
    let bytes = value.as_bytes();
    let len = bytes.len() as i64;
    let Some(mut start) = args.first().and_then(|a| go_atoi(a)) else {
        return Ok(value.to_owned());
    };
    if start < 0 {
        start = (len + start).max(0);
    }
    let from = |s: i64| -> String {
        if s < len {
            String::from_utf8_lossy(&bytes[s as usize..]).into_owned()
        } else {
            String::new()
        }
    };
    let Some(length) = args.get(1) else {
        return Ok(from(start));
    };
    let Some(length) = go_atoi(length) else {
        return Ok(value.to_owned());
    };
    if start + length >= len {
        return Ok(from(start));
    }
    if length < 0 {
        return Err(EnvsubstError::SubstringRange(length));
    }
    Ok(String::from_utf8_lossy(&bytes[start as usize..(start + length) as usize]).into_owned())
}

/// Go's `strconv.Atoi`: optional sign, ASCII digits, nothing else.
fn go_atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[derive(Clone, Copy, PartialEq)]
enum Extent {
    Shortest,
    Longest,
}
use Extent::{Longest, Shortest};

/// Removes the shortest or longest non-empty prefix matching the glob `pattern`.
fn trim_prefix(value: &str, pattern: Option<&str>, extent: Extent) -> String {
    let Some(pattern) = pattern else {
        return value.to_owned();
    };
    // Candidate prefixes from the longest to the shortest (never empty), as upstream.
    let mut cut = None;
    let ends = value.char_indices().map(|(i, c)| i + c.len_utf8()).rev();
    for end in ends {
        match glob_match(pattern, &value[..end]) {
            Err(()) => return value.to_owned(),
            Ok(true) => {
                cut = Some(end);
                if extent == Longest {
                    break;
                }
            }
            Ok(false) => {}
        }
    }
    match cut {
        Some(end) => value[end..].to_owned(),
        None => value.to_owned(),
    }
}

/// Suffix removal, done upstream by reversing both the value and the pattern.
fn trim_suffix(value: &str, pattern: Option<&str>, extent: Extent) -> String {
    let Some(pattern) = pattern else {
        return value.to_owned();
    };
    let reversed: String = value.chars().rev().collect();
    let reversed_pattern: String = pattern.chars().rev().collect();
    trim_prefix(&reversed, Some(&reversed_pattern), extent)
        .chars()
        .rev()
        .collect()
}

/// The glob matcher upstream vendors (an early form of Go's `path.Match`, in which `*` and
/// `?` also match `/`). `Err` is a malformed pattern.
fn glob_match(mut pattern: &str, mut name: &str) -> Result<bool, ()> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = split_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(true);
        }
        match match_chunk(chunk, name) {
            Ok(Some(left)) if left.is_empty() || !pattern.is_empty() => {
                name = left;
                continue;
            }
            Err(()) => return Err(()),
            _ => {}
        }
        if star {
            for i in 0..name.len() {
                if !name.is_char_boundary(i + 1) {
                    continue;
                }
                match match_chunk(chunk, &name[i + 1..]) {
                    Ok(Some(left)) => {
                        if pattern.is_empty() && !left.is_empty() {
                            continue;
                        }
                        name = left;
                        continue 'pattern;
                    }
                    Err(()) => return Err(()),
                    Ok(None) => {}
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Leading stars, then the chunk up to the next star outside a character class.
fn split_chunk(pattern: &str) -> (bool, &str, &str) {
    let trimmed = pattern.trim_start_matches('*');
    let star = trimmed.len() != pattern.len();
    let bytes = trimmed.as_bytes();
    let mut in_class = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => i += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'*' if !in_class => break,
            _ => {}
        }
        i += 1;
    }
    (star, &trimmed[..i], &trimmed[i..])
}

/// Matches `chunk` (no stars) at the start of `name`: `Some(rest)` on a match.
fn match_chunk<'n>(mut chunk: &str, mut name: &'n str) -> Result<Option<&'n str>, ()> {
    while let Some(p) = chunk.chars().next() {
        let Some(c) = name.chars().next() else {
            return Ok(None);
        };
        match p {
            '[' => {
                name = &name[c.len_utf8()..];
                chunk = &chunk[1..];
                let negated = chunk.starts_with('^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chunk.starts_with(']') {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if let Some(rest) = chunk.strip_prefix('-') {
                        (hi, chunk) = class_char(rest)?;
                    }
                    matched |= lo <= c && c <= hi;
                    ranges += 1;
                }
                if matched == negated {
                    return Ok(None);
                }
            }
            '?' => {
                name = &name[c.len_utf8()..];
                chunk = &chunk[1..];
            }
            _ => {
                if p == '\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(());
                    }
                }
                let literal = chunk.chars().next().unwrap_or(p);
                if !name.starts_with(literal) {
                    return Ok(None);
                }
                name = &name[literal.len_utf8()..];
                chunk = &chunk[literal.len_utf8()..];
            }
        }
    }
    Ok(Some(name))
}

/// One character of a class (`\` escapes it); a class that ends early is malformed.
fn class_char(chunk: &str) -> Result<(char, &str), ()> {
    let chunk = match chunk.as_bytes().first() {
        None | Some(b'-' | b']') => return Err(()),
        Some(b'\\') => &chunk[1..],
        Some(_) => chunk,
    };
    let c = chunk.chars().next().ok_or(())?;
    let rest = &chunk[c.len_utf8()..];
    if rest.is_empty() {
        return Err(());
    }
    Ok((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lenient(vars: &[(&str, &str)], input: &str) -> Result<String, EnvsubstError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        expand(input, &|name| {
            Some(vars.get(name).cloned().unwrap_or_default())
        })
    }

    fn strict(vars: &[(&str, &str)], input: &str) -> Result<String, EnvsubstError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        expand(input, &|name| vars.get(name).cloned())
    }

    // Cases re-authored from fluxcd/pkg envsubst's TestExpand (bash manual examples).
    #[test]
    fn expands_every_operator() {
        let z = [("z", "abcABC123ABCabc")];
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars, &str, &str)] = &[
            (&[], "plain TEXT 42", "plain TEXT 42"),
            (&[("v", "hello")], "${#v}", "5"),
            (&[("v", "hello World")], "${v^}", "Hello World"),
            (&[("v", "hello")], "${v^^}", "HELLO"),
            (&[("v", "HELLO")], "${v,}", "hELLO"),
            (&[("v", "HeLLo")], "${v,,}", "hello"),
            (&[("p", "/usr/local/share/doc")], "${p:11}", "share/doc"),
            (&[("p", "/usr/local/share/doc")], "${p:11:5}", "share"),
            // `:-` is the default operator, so a negative offset can only come from a variable
            (
                &[("p", "/usr/local/share/doc")],
                "${p:-3}",
                "/usr/local/share/doc",
            ),
            (
                &[("p", "/usr/local/share/doc"), ("n", "-3")],
                "${p:${n}}",
                "doc",
            ),
            (&[("p", "abc")], "${p:1:99}", "bc"),
            (&[("p", "abc")], "${p:x}", "abc"),
            (&[("v", "set")], "${v=other}", "set"),
            (&[], "${v=other}", "other"),
            (&[("d", "x")], "a ${v=${d}}", "a x"),
            (&[("d", "x")], "${v=pre${d}-post}", "prex-post"),
            (&[], "${v:=dflt}", "dflt"),
            (&[], "${v:-dflt}", "dflt"),
            (&[], "${v:?dflt}", "dflt"),
            (&[], "${v:+dflt}", "dflt"),
            (&[("v", "set")], "${v:+dflt}", "set"),
            (&[], "${v:=}", ""),
            (&z, "${z/%abc/XYZ}", "abcABC123ABCXYZ"),
            (&z, "${z/#abc/XYZ}", "XYZABC123ABCabc"),
            (&z, "${z//abc/xyz}", "xyzABC123ABCxyz"),
            (&z, "${z/abc/xyz}", "xyzABC123ABCabc"),
            (&z, "${z/abc/}", "ABC123ABCabc"),
            (&[("f", "a.b.tar.gz")], "${f#*.}", "b.tar.gz"),
            (&[("f", "a.b.tar.gz")], "${f##*.}", "gz"),
            (&[("f", "a.b.tar.gz")], "${f%.*}", "a.b.tar"),
            (&[("f", "a.b.tar.gz")], "${f%%.*}", "a"),
            (&[("f", "/x/y/z")], "${f#*/}", "x/y/z"),
            (&[("f", "/x/y/z")], "${f##*/}", "z"),
            (&[("f", "x/y")], "${f#[a-x]}", "/y"),
            (&[("f", "x/y")], "${f#[!}", "x/y"),
            (&[("v", "ab")], "${w=${v^^}}", "AB"),
            (&[("s", "a/b/c")], r"${s/\//-}", "a-b/c"),
            (&[("s", "a/b/c")], r"${s//\//-}", "a-b-c"),
            (&[("s", "a.b")], "${s/./}", "ab"),
        ];
        for (vars, input, want) in cases {
            assert_eq!(lenient(vars, input).as_deref(), Ok(*want), "{input}");
        }
    }

    #[test]
    fn dollar_dollar_escapes_and_bare_dollars_stay() {
        let v = [("v", "X")];
        assert_eq!(lenient(&v, "$${v}").unwrap(), "${v}");
        assert_eq!(lenient(&v, "$$${v}").unwrap(), "$X");
        assert_eq!(lenient(&v, "a $v b $").unwrap(), "a $v b $");
        assert_eq!(
            lenient(&v, "t ${v}$${x$${v}$v${v}").unwrap(),
            "t X${x${v}$vX"
        );
        assert_eq!(lenient(&[("d", "x")], "s $${w=${d}}").unwrap(), "s ${w=x}");
        // Backslashes escape only inside replacement patterns.
        assert_eq!(lenient(&v, r"\\a ${v}").unwrap(), r"\\a X");
    }

    #[test]
    fn strict_mode_refuses_unset_variables_without_a_default() {
        assert_eq!(strict(&[("v", "")], "${v}").unwrap(), "");
        for input in [
            "${missing}",
            "${#missing}",
            "${missing^}",
            "${missing,,}",
            "${missing:0}",
            "${missing:0:10}",
            "${missing/a/b}",
            "${missing//a/b}",
            "${missing/#a/b}",
            "${missing/%a/b}",
            "${missing#a}",
            "${missing%%a}",
            // a nested expression is evaluated even where its value is not needed
            "${v:=${missing}}",
        ] {
            assert_eq!(
                strict(&[("v", "set")], input),
                Err(EnvsubstError::NotSet("missing".into())),
                "{input}"
            );
        }
        assert_eq!(
            EnvsubstError::NotSet("missing".into()).to_string(),
            r#"variable not set (strict mode): "missing""#
        );
        for (input, want) in [
            ("${missing:-f}", "f"),
            ("${missing:=a}", "a"),
            ("${missing=a}", "a"),
            ("${missing:+a}", "a"),
        ] {
            assert_eq!(strict(&[], input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn malformed_expressions_are_errors_worded_as_upstream() {
        let cases = [
            ("${v-d}", EnvsubstError::MissingClosingBrace),
            ("${v", EnvsubstError::MissingClosingBrace),
            ("${}", EnvsubstError::VariableName),
            ("${-x}", EnvsubstError::VariableName),
            ("${#}", EnvsubstError::BadSubstitution),
            ("${v::2}", EnvsubstError::FuncSubstitution),
            ("${v:=abc", EnvsubstError::FuncSubstitution),
            ("${v/a}", EnvsubstError::BadSubstitution),
            ("${v^x}", EnvsubstError::BadSubstitution),
        ];
        for (input, want) in cases {
            assert_eq!(lenient(&[("v", "abc")], input), Err(want), "{input}");
        }
        assert_eq!(
            lenient(&[("v", "abc")], "${v:1:-5}"),
            Err(EnvsubstError::SubstringRange(-5))
        );
    }

    #[test]
    fn replace_without_second_slash_reads_up_to_the_next_slash() {
        // Upstream's pattern scanner does not stop at `}`.
        assert_eq!(
            lenient(&[("v", "a}b")], "${v/a}b/X} tail").unwrap(),
            "X tail"
        );
    }

    #[test]
    fn glob_matches_like_the_vendored_path_match() {
        for (pattern, name, want) in [
            ("*", "a/b", Ok(true)),
            ("a*", "a/b", Ok(true)),
            ("?", "/", Ok(true)),
            ("*.txt", "x.txt", Ok(true)),
            ("*.txt", "x.txt.gz", Ok(false)),
            ("[a-c]x", "bx", Ok(true)),
            ("[^a-c]x", "bx", Ok(false)),
            ("\\*", "*", Ok(true)),
            ("[", "a", Err(())),
            ("a\\", "a", Ok(false)),
        ] {
            assert_eq!(glob_match(pattern, name), want, "{pattern} ~ {name}");
        }
    }
}
