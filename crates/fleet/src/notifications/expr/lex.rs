//! Tokens of expr-lang (`parser/lexer` upstream): numbers in every base expr reads,
//! strings in both quotes and backticks with Go's escapes, identifiers (`$env` included),
//! the word operators and the symbols.

use super::Error;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    /// A name (`app`, `true`, `nil`, `len`).
    Ident(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A string literal, unescaped.
    Str(String),
    /// An operator, symbol or word operator (`and`, `in`, `?.`, `,`).
    Op(&'static str),
    /// `(`, `)`, `[`, `]`, `{` or `}`.
    Bracket(char),
    /// The end of the input.
    End,
}

/// A token and where it starts (a byte offset).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) kind: Kind,
    pub(super) at: usize,
}

impl Token {
    pub(super) fn is_op(&self, op: &str) -> bool {
        matches!(&self.kind, Kind::Op(o) if *o == op)
    }

    pub(super) fn is_bracket(&self, c: char) -> bool {
        self.kind == Kind::Bracket(c)
    }

    /// How expr names a token in its errors (`Operator("=")`, `Identifier("x")`).
    pub(super) fn describe(&self) -> String {
        match &self.kind {
            Kind::Ident(s) => format!("Identifier({s:?})"),
            Kind::Int(i) => format!("Number(\"{i}\")"),
            Kind::Float(f) => format!("Number(\"{f}\")"),
            Kind::Str(s) => format!("String({s:?})"),
            Kind::Op(o) => format!("Operator({o:?})"),
            Kind::Bracket(c) => format!("Bracket(\"{c}\")"),
            Kind::End => "EOF".into(),
        }
    }
}

/// Word operators: lexed as names, read as operators.
const WORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "let",
    "if",
    "else",
];

/// Symbols, longest first so that `?.` is not read as `?` then `.`.
const SYMBOLS: &[&str] = &[
    "?.", "??", "..", "==", "!=", "<=", ">=", "&&", "||", "**", "::", "+", "-", "*", "/", "%", "^",
    "<", ">", "!", "?", ":", ".", ",", "|", ";", "=", "#",
];

/// The tokens of `source`, ending with [`Kind::End`].
pub(super) fn tokens(source: &str) -> Result<Vec<Token>, Error> {
    let bytes = source.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if source[i..].starts_with("//") {
            i = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        if source[i..].starts_with("/*") {
            match source[i + 2..].find("*/") {
                Some(n) => i += n + 4,
                None => return Err(Error::at(source, start, "unclosed comment")),
            }
            continue;
        }
        let operand_before = out.last().is_some_and(|t| {
            matches!(
                t.kind,
                Kind::Ident(_) | Kind::Int(_) | Kind::Float(_) | Kind::Str(_)
            ) || t.is_bracket(')')
                || t.is_bracket(']')
        });
        let leading_dot_number =
            c == b'.' && !operand_before && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if c.is_ascii_digit() || leading_dot_number {
            let (kind, end) = number(source, i)?;
            out.push(Token { kind, at: start });
            i = end;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let (text, end) = quoted(source, i)?;
            out.push(Token {
                kind: Kind::Str(text),
                at: start,
            });
            i = end;
            continue;
        }
        if c == b'`' {
            let Some(n) = source[i + 1..].find('`') else {
                return Err(Error::at(source, start, "literal not terminated"));
            };
            out.push(Token {
                kind: Kind::Str(source[i + 1..i + 1 + n].to_string()),
                at: start,
            });
            i += n + 2;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            let end = source[i..]
                .char_indices()
                .find(|&(_, ch)| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .map_or(source.len(), |(n, _)| i + n);
            if end == i {
                let ch = source[i..].chars().next().unwrap_or('?');
                return Err(Error::at(
                    source,
                    start,
                    &format!("unrecognized character: U+{:04X} '{ch}'", ch as u32),
                ));
            }
            let word = &source[i..end];
            let kind = match WORDS.iter().find(|w| **w == word) {
                Some(w) => Kind::Op(w),
                None => Kind::Ident(word.to_string()),
            };
            out.push(Token { kind, at: start });
            i = end;
            continue;
        }
        if let Some(b) = ['(', ')', '[', ']', '{', '}']
            .into_iter()
            .find(|b| *b as u8 == c)
        {
            out.push(Token {
                kind: Kind::Bracket(b),
                at: start,
            });
            i += 1;
            continue;
        }
        match SYMBOLS.iter().find(|s| source[i..].starts_with(**s)) {
            Some(symbol) => {
                out.push(Token {
                    kind: Kind::Op(symbol),
                    at: start,
                });
                i += symbol.len();
            }
            None => {
                let ch = source[i..].chars().next().unwrap_or('?');
                return Err(Error::at(
                    source,
                    start,
                    &format!("unrecognized character: U+{:04X} '{ch}'", ch as u32),
                ));
            }
        }
    }
    // expr places the end at the last character.
    let end = source.char_indices().last().map_or(0, |(n, _)| n);
    out.push(Token {
        kind: Kind::End,
        at: end,
    });
    Ok(out)
}

/// A number starting at `start`: `42`, `1_000`, `0x2A`, `0o52`, `0b101010`, `0.5`,
/// `.5`, `1e3`. `1..3` is a range, not `1.` and `.3`.
fn number(source: &str, start: usize) -> Result<(Kind, usize), Error> {
    let bytes = source.as_bytes();
    let mut i = start;
    let radix = match (bytes.get(i), bytes.get(i + 1).map(u8::to_ascii_lowercase)) {
        (Some(b'0'), Some(b'x')) => 16,
        (Some(b'0'), Some(b'o')) => 8,
        (Some(b'0'), Some(b'b')) => 2,
        _ => 10,
    };
    if radix != 10 {
        i += 2;
        while i < bytes.len() && (bytes[i].is_ascii_hexdigit() || bytes[i] == b'_') {
            i += 1;
        }
        let digits: String = source[start + 2..i].chars().filter(|c| *c != '_').collect();
        return match i64::from_str_radix(&digits, radix) {
            Ok(n) => Ok((Kind::Int(n), i)),
            Err(e) => Err(Error::at(
                source,
                start,
                &format!("invalid integer literal: {e}"),
            )),
        };
    }
    let mut float = false;
    let digits = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i].is_ascii_digit() || bytes[*i] == b'_') {
            *i += 1;
        }
    };
    digits(&mut i);
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1) != Some(&b'.') {
        float = true;
        i += 1;
        digits(&mut i);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            float = true;
            i = j;
            digits(&mut i);
        }
    }
    let text: String = source[start..i].chars().filter(|c| *c != '_').collect();
    if float {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok((Kind::Float(f), i)),
            Ok(_) => Err(Error::at(source, start, "float literal is too large")),
            Err(e) => Err(Error::at(
                source,
                start,
                &format!("invalid float literal: {e}"),
            )),
        }
    } else {
        match text.parse::<i64>() {
            Ok(n) => Ok((Kind::Int(n), i)),
            Err(_) => Err(Error::at(source, start, "integer literal is too large")),
        }
    }
}

/// A single- or double-quoted string starting at `start`, with Go's escapes.
fn quoted(source: &str, start: usize) -> Result<(String, usize), Error> {
    let quote = source.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = source[start + 1..].char_indices();
    let at = |n: usize| start + 1 + n;
    while let Some((n, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, at(n) + 1)),
            '\n' => break,
            '\\' => {
                let Some((m, e)) = chars.next() else { break };
                let mut hex = |count: usize| -> Result<u32, Error> {
                    let mut value = 0u32;
                    for _ in 0..count {
                        match chars.next().and_then(|(_, d)| d.to_digit(16)) {
                            Some(d) => value = value * 16 + d,
                            None => return Err(Error::at(source, at(m), "invalid char escape")),
                        }
                    }
                    Ok(value)
                };
                let pushed = match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    '\\' | '\'' | '"' => e,
                    'x' => char::from_u32(hex(2)?).unwrap_or('\u{fffd}'),
                    'u' => char::from_u32(hex(4)?)
                        .ok_or_else(|| Error::at(source, at(m), "invalid char escape"))?,
                    'U' => char::from_u32(hex(8)?)
                        .ok_or_else(|| Error::at(source, at(m), "invalid char escape"))?,
                    '0'..='7' => {
                        let mut value = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match chars.next().and_then(|(_, d)| d.to_digit(8)) {
                                Some(d) => value = value * 8 + d,
                                None => {
                                    return Err(Error::at(source, at(m), "invalid char escape"));
                                }
                            }
                        }
                        char::from_u32(value).unwrap_or('\u{fffd}')
                    }
                    _ => return Err(Error::at(source, at(m), "invalid char escape")),
                };
                out.push(pushed);
            }
            c => out.push(c),
        }
    }
    Err(Error::at(source, start, "literal not terminated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Kind> {
        tokens(source)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn numbers_strings_names_and_operators() {
        assert_eq!(
            kinds(".5 0x2A 0o52 0b101010 1_000 1e3 'a\\'b' \"\\u00e9\\n\" `r\\n`"),
            [
                Kind::Float(0.5),
                Kind::Int(42),
                Kind::Int(42),
                Kind::Int(42),
                Kind::Int(1000),
                Kind::Float(1000.0),
                Kind::Str("a'b".into()),
                Kind::Str("é\n".into()),
                Kind::Str("r\\n".into()),
                Kind::End
            ]
        );
        assert_eq!(
            kinds("a?.b ?? 1..3 not in x // comment\n/* c */"),
            [
                Kind::Ident("a".into()),
                Kind::Op("?."),
                Kind::Ident("b".into()),
                Kind::Op("??"),
                Kind::Int(1),
                Kind::Op(".."),
                Kind::Int(3),
                Kind::Op("not"),
                Kind::Op("in"),
                Kind::Ident("x".into()),
                Kind::End
            ]
        );
        assert_eq!(
            kinds("a.b[0].c"),
            [
                Kind::Ident("a".into()),
                Kind::Op("."),
                Kind::Ident("b".into()),
                Kind::Bracket('['),
                Kind::Int(0),
                Kind::Bracket(']'),
                Kind::Op("."),
                Kind::Ident("c".into()),
                Kind::End
            ]
        );
    }

    #[test]
    fn bad_input_is_an_error_with_its_position() {
        let e = tokens("a == 'open").unwrap_err();
        assert_eq!(
            e.to_string(),
            "literal not terminated (1:6)\n | a == 'open\n | .....^"
        );
        let e = tokens("a @ b").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unrecognized character: U+0040 '@' (1:3)"),
            "{e}"
        );
        assert!(tokens("99999999999999999999").is_err());
    }
}
