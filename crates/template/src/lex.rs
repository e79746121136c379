//! The lexer: template text into tokens, following Go's `text/template/parse/lex.go`
//! (trim markers, comments, Go literals), so that the parser sees the same token stream.

/// What a token is. Literals keep their source text; the parser interprets them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Field(String),
    Variable(String),
    Ident(String),
    /// Quoted or raw string, source text including quotes.
    Str(String),
    Char(String),
    Number(String),
    Bool(bool),
    Nil,
    Dot,
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    Keyword(&'static str),
    Eof,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
}

/// A lexing error: Go's message and where it happened.
#[derive(Debug)]
pub(crate) struct LexError {
    pub(crate) message: String,
    pub(crate) pos: usize,
}

const KEYWORDS: [&str; 10] = [
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    left: &'a str,
    right: &'a str,
    out: Vec<Token>,
    paren_depth: usize,
}

/// Splits `src` into tokens using the given delimiters.
pub(crate) fn lex(src: &str, left: &str, right: &str) -> Result<Vec<Token>, LexError> {
    let mut l = Lexer {
        src,
        pos: 0,
        left,
        right,
        out: Vec::new(),
        paren_depth: 0,
    };
    l.run()?;
    Ok(l.out)
}

impl Lexer<'_> {
    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            message: message.into(),
            pos,
        })
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.out.push(Token { tok, pos });
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn run(&mut self) -> Result<(), LexError> {
        // Whether the previous action ended with `-}}`, so this text loses leading space.
        let mut trim_leading = false;
        loop {
            let start = self.pos;
            let next = self.rest().find(self.left).map(|i| self.pos + i);
            let end = next.unwrap_or(self.src.len());
            let mut text_start = start;
            if trim_leading {
                while text_start < end && is_space(self.src.as_bytes()[text_start]) {
                    text_start += 1;
                }
            }
            let mut text_end = end;
            let Some(delim) = next else {
                if text_start < text_end {
                    self.emit(
                        Tok::Text(self.src[text_start..text_end].to_string()),
                        text_start,
                    );
                }
                self.emit(Tok::Eof, self.src.len());
                return Ok(());
            };
            let after = &self.src[delim + self.left.len()..];
            let trim_left =
                after.len() >= 2 && after.starts_with('-') && is_space(after.as_bytes()[1]);
            if trim_left {
                while text_end > text_start && is_space(self.src.as_bytes()[text_end - 1]) {
                    text_end -= 1;
                }
            }
            if text_start < text_end {
                self.emit(
                    Tok::Text(self.src[text_start..text_end].to_string()),
                    text_start,
                );
            }
            self.pos = delim + self.left.len() + if trim_left { 2 } else { 0 };
            // Comments: `{{/*` … `*/}}`, no space allowed between delimiter and comment marker.
            if self.rest().starts_with("/*") {
                let Some(close) = self.rest().find("*/") else {
                    return self.err(delim, "unclosed comment");
                };
                self.pos += close + 2;
                let (at, trim) = self.at_right_delim();
                if !at {
                    return self.err(delim, "comment ends before closing delimiter");
                }
                self.pos += self.right.len() + if trim { 2 } else { 0 };
                trim_leading = trim;
                continue;
            }
            self.emit(Tok::LeftDelim, delim);
            trim_leading = self.inside_action()?;
        }
    }

    /// Whether the input is at the right delimiter, and whether it carries a trim marker.
    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        if r.len() >= 2
            && is_space(r.as_bytes()[0])
            && r.as_bytes()[1] == b'-'
            && r[2..].starts_with(self.right)
        {
            return (true, true);
        }
        (r.starts_with(self.right), false)
    }

    /// Lexes one action; returns whether it ended with a right trim marker.
    fn inside_action(&mut self) -> Result<bool, LexError> {
        loop {
            let (at, trim) = self.at_right_delim();
            if at {
                if self.paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                let p = self.pos + if trim { 2 } else { 0 };
                self.emit(Tok::RightDelim, p);
                self.pos = p + self.right.len();
                return Ok(trim);
            }
            let start = self.pos;
            let Some(c) = self.rest().chars().next() else {
                return self.err(start, "unclosed action");
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    while self.pos < self.src.len() && is_space(self.src.as_bytes()[self.pos]) {
                        // A space that begins ` -}}` belongs to the delimiter.
                        if self.at_right_delim() == (true, true) {
                            break;
                        }
                        self.pos += 1;
                    }
                    self.emit(Tok::Space, start);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, start);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return self.err(start, "expected :=");
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, start);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, start);
                }
                ',' => {
                    self.pos += 1;
                    self.emit(Tok::Comma, start);
                }
                '"' => self.quote(start)?,
                '`' => {
                    let Some(end) = self.src[start + 1..].find('`') else {
                        return self.err(start, "unterminated raw quoted string");
                    };
                    self.pos = start + 1 + end + 1;
                    self.emit(Tok::Str(self.src[start..self.pos].to_string()), start);
                }
                '\'' => self.char_const(start)?,
                '$' => {
                    self.pos += 1;
                    self.alnum();
                    self.terminator()?;
                    self.emit(Tok::Variable(self.src[start..self.pos].to_string()), start);
                }
                '.' => {
                    let next = self.src[start + 1..].chars().next();
                    if next.is_some_and(|c| c.is_ascii_digit()) {
                        self.number(start)?;
                    } else {
                        self.pos += 1;
                        if next.is_some_and(is_alnum) {
                            self.alnum();
                            self.terminator()?;
                            self.emit(Tok::Field(self.src[start..self.pos].to_string()), start);
                        } else {
                            self.terminator()?;
                            self.emit(Tok::Dot, start);
                        }
                    }
                }
                '+' | '-' | '0'..='9' => self.number(start)?,
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen, start);
                }
                ')' => {
                    self.pos += 1;
                    if self.paren_depth == 0 {
                        return self.err(start, "unexpected right paren");
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RightParen, start);
                }
                c if is_alnum(c) => {
                    self.alnum();
                    self.terminator()?;
                    let word = &self.src[start..self.pos];
                    let tok = match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Ident(w.to_string()),
                        },
                    };
                    self.emit(tok, start);
                }
                c => {
                    return self.err(start, format!("bad character {}", go_rune(c)));
                }
            }
        }
    }

    fn alnum(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Go requires a word to be followed by a terminator (space, delimiter, punctuation).
    fn terminator(&self) -> Result<(), LexError> {
        let r = self.rest();
        let Some(c) = r.chars().next() else {
            return Ok(());
        };
        if matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '('
        ) || r.starts_with(self.right)
        {
            return Ok(());
        }
        self.err(self.pos, format!("bad character {}", go_rune(c)))
    }

    fn quote(&mut self, start: usize) -> Result<(), LexError> {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None | Some(b'\n') => return self.err(start, "unterminated quoted string"),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        self.emit(Tok::Str(self.src[start..self.pos].to_string()), start);
        Ok(())
    }

    fn char_const(&mut self, start: usize) -> Result<(), LexError> {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None | Some(b'\n') => return self.err(start, "unterminated character constant"),
                Some(b'\\') => i += 2,
                Some(b'\'') => break,
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        self.emit(Tok::Char(self.src[start..self.pos].to_string()), start);
        Ok(())
    }

    fn number(&mut self, start: usize) -> Result<(), LexError> {
        let b = self.src.as_bytes();
        let mut i = start;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        if b.get(i) == Some(&b'0') {
            match b.get(i + 1) {
                Some(b'x' | b'X') => {
                    i += 2;
                    digits = b"0123456789abcdefABCDEF_";
                }
                Some(b'o' | b'O') => {
                    i += 2;
                    digits = b"01234567_";
                }
                Some(b'b' | b'B') => {
                    i += 2;
                    digits = b"01_";
                }
                _ => {}
            }
        }
        let hex = digits.len() > 12;
        let run = |mut i: usize, set: &[u8]| {
            while b.get(i).is_some_and(|c| set.contains(c)) {
                i += 1;
            }
            i
        };
        i = run(i, digits);
        if b.get(i) == Some(&b'.') {
            i = run(i + 1, digits);
        }
        let exp: &[u8] = if hex { b"pP" } else { b"eE" };
        if b.get(i).is_some_and(|c| exp.contains(c)) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            i = run(i, b"0123456789_");
        }
        if b.get(i) == Some(&b'i') {
            i += 1;
        }
        self.pos = i;
        if self.rest().chars().next().is_some_and(is_alnum) {
            let end = i + self.rest().chars().next().map_or(0, char::len_utf8);
            return self.err(
                start,
                format!("bad number syntax: {:?}", &self.src[start..end]),
            );
        }
        self.emit(Tok::Number(self.src[start..i].to_string()), start);
        Ok(())
    }
}

/// Go's `%#U` formatting of a rune, used in "bad character" errors.
fn go_rune(c: char) -> String {
    format!("U+{:04X} '{c}'", c as u32)
}
