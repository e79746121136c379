//! The selector string syntax (`a=b,c in (x,y),!d`), lexed and parsed the
//! way apimachinery's `labels.Parse` does, so that the same strings are
//! accepted, rejected with the same messages, and normalised the same way.

use std::collections::BTreeSet;

use super::field_error::{BadValue, FieldError};
use super::requirement::{Operator, Requirement, RequirementError};
use super::validation::label_key_errors;

/// A selector string could not be parsed. [`std::fmt::Display`] is upstream's
/// message (what the apiserver puts in its 400 response); [`ParseError::input`]
/// is the string that was being parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    input: String,
    kind: ParseErrorKind,
}

impl ParseError {
    /// The selector string that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What went wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

/// The reasons a selector string is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A requirement was malformed or invalid.
    #[error("unable to parse requirement: {0}")]
    Requirement(RequirementSyntax),
    /// A comma was not followed by another requirement.
    #[error("found '{found}', expected: identifier after ','")]
    IdentifierAfterComma {
        /// The token after the comma.
        found: String,
    },
    /// A requirement was followed by something other than `,` or the end.
    #[error("found '{found}', expected: ',' or 'end of string'")]
    CommaOrEnd {
        /// The unexpected token.
        found: String,
    },
    /// The selector starts with something that cannot start a requirement.
    #[error("found '{found}', expected: !, identifier, or 'end of string'")]
    RequirementStart {
        /// The unexpected token.
        found: String,
    },
}

/// Why a single requirement inside a selector string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementSyntax {
    /// A token appeared where a key or value was expected.
    #[error("found '{found}', expected: identifier")]
    Identifier {
        /// The unexpected token.
        found: String,
    },
    /// The key is not a valid label key (reported with Go's nil field path).
    #[error("{0}")]
    InvalidKey(FieldError),
    /// A token appeared where an operator was expected.
    #[error("found '{found}', expected: in, notin, =, ==, !=, gt, lt")]
    Operator {
        /// The unexpected token.
        found: String,
    },
    /// `in`/`notin` was not followed by `(`.
    #[error("found '{found}' expected: '('")]
    OpenParen {
        /// The unexpected token.
        found: String,
    },
    /// A value list did not start with a value, `,` or `)`.
    #[error("found '{found}', expected: ',', ')' or identifier")]
    ValueListStart {
        /// The unexpected token.
        found: String,
    },
    /// A value in a list was followed by something other than `,` or `)`.
    #[error("found '{found}', expected: ',' or ')'")]
    CommaOrCloseParen {
        /// The unexpected token.
        found: String,
    },
    /// A value list contained something other than values and commas.
    #[error("found '{found}', expected: ',', or identifier")]
    CommaOrIdentifier {
        /// The unexpected token.
        found: String,
    },
    /// The requirement parsed but failed validation.
    #[error("{0}")]
    Invalid(RequirementError),
}

/// Parses a selector string into requirements sorted by key (stable, so
/// requirements on the same key keep their written order).
pub(crate) fn parse(input: &str) -> Result<Vec<Requirement>, ParseError> {
    let mut parser = Parser {
        tokens: lex(input),
        position: 0,
    };
    let mut requirements = parser.parse().map_err(|kind| ParseError {
        input: input.to_string(),
        kind,
    })?;
    requirements.sort_by(|a, b| a.key().cmp(b.key()));
    Ok(requirements)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(text: &[u8]) -> Option<Token> {
    Some(match text {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Byte-wise lexer mirroring upstream's, including its treatment of a NUL
/// byte as "end of input" for the token being read.
struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        match self.input.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special(ch) {
            self.scan_special()
        } else {
            self.scan_identifier()
        }
    }

    fn scan_identifier(&mut self) -> (Token, String) {
        let mut buffer = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            buffer.push(ch);
        }
        let token = keyword(&buffer).unwrap_or(Token::Identifier);
        (token, String::from_utf8_lossy(&buffer).into_owned())
    }

    /// Longest run of special characters that is still a token, so `!=` is
    /// one token and `=(` two.
    fn scan_special(&mut self) -> (Token, String) {
        let mut buffer = Vec::new();
        let mut last: Option<(Token, usize)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special(ch) {
                self.unread();
                break;
            }
            buffer.push(ch);
            if let Some(token) = keyword(&buffer) {
                last = Some((token, buffer.len()));
            } else if last.is_some() {
                self.unread();
                break;
            }
        }
        match last {
            Some((token, len)) => (token, String::from_utf8_lossy(&buffer[..len]).into_owned()),
            // Every single special character is a token, so this is not
            // reachable; treat it as an identifier rather than panic.
            None => (
                Token::Identifier,
                String::from_utf8_lossy(&buffer).into_owned(),
            ),
        }
    }
}

fn lex(input: &str) -> Vec<(Token, String)> {
    let mut lexer = Lexer {
        input: input.as_bytes(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    loop {
        let (token, literal) = lexer.lex();
        tokens.push((token, literal));
        if token == Token::EndOfString {
            return tokens;
        }
    }
}

/// Whether `in`/`notin` are operators (after a key) or plain words (values).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    tokens: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn lookahead(&self, context: Context) -> (Token, String) {
        let (token, literal) = self
            .tokens
            .get(self.position)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        (in_context(token, context), literal)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, ParseErrorKind> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let requirement = self
                        .parse_requirement()
                        .map_err(ParseErrorKind::Requirement)?;
                    requirements.push(requirement);
                    let (token, literal) = self.consume(Context::Values);
                    match token {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (next, found) = self.lookahead(Context::Values);
                            if next != Token::Identifier && next != Token::DoesNotExist {
                                return Err(ParseErrorKind::IdentifierAfterComma { found });
                            }
                        }
                        _ => return Err(ParseErrorKind::CommaOrEnd { found: literal }),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => return Err(ParseErrorKind::RequirementStart { found: literal }),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, RequirementSyntax> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(operator) = inferred {
            return Requirement::new(key, operator, Vec::new()).map_err(RequirementSyntax::Invalid);
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(key, operator, values.into_iter().collect())
            .map_err(RequirementSyntax::Invalid)
    }

    /// Reads `[!] KEY`; a key followed by `,` or the end means `exists`.
    fn parse_key_and_infer_operator(
        &mut self,
    ) -> Result<(String, Option<Operator>), RequirementSyntax> {
        let mut operator = None;
        let (mut token, mut literal) = self.consume(Context::Values);
        if token == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (token, literal) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(RequirementSyntax::Identifier { found: literal });
        }
        let key_errors = label_key_errors(&literal);
        if !key_errors.is_empty() {
            // Upstream validates here with no field path, and Go prints a nil
            // path as "<nil>"; clients see exactly that.
            return Err(RequirementSyntax::InvalidKey(FieldError::invalid(
                "<nil>",
                BadValue::String(literal),
                key_errors.join("; "),
            )));
        }
        let (next, _) = self.lookahead(Context::Values);
        if operator.is_none() && matches!(next, Token::EndOfString | Token::Comma) {
            operator = Some(Operator::Exists);
        }
        Ok((literal, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, RequirementSyntax> {
        let (token, literal) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(RequirementSyntax::Operator { found: literal }),
        })
    }

    /// Reads `( v1, v2, … )`. Empty entries are the empty value, so `()` and
    /// `(a,,)` both contain `""`; the result is sorted and de-duplicated.
    fn parse_values(&mut self) -> Result<BTreeSet<String>, RequirementSyntax> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(RequirementSyntax::OpenParen { found: literal });
        }
        let (token, literal) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                // parse_identifiers_list only returns at a ')'.
                self.consume(Context::Values);
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(RequirementSyntax::ValueListStart { found: literal }),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, RequirementSyntax> {
        let mut values = BTreeSet::new();
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    values.insert(literal);
                    let (next, found) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(RequirementSyntax::CommaOrCloseParen { found }),
                    }
                }
                Token::Comma => {
                    // A comma with nothing before it, after it, or between
                    // two commas stands for the empty value.
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Token::ClosedPar {
                        values.insert(String::new());
                        return Ok(values);
                    }
                    if next == Token::Comma {
                        values.insert(String::new());
                    }
                }
                _ => return Err(RequirementSyntax::CommaOrIdentifier { found: literal }),
            }
        }
    }

    /// Reads the single value after `=`, `==`, `!=`, `>` or `<`; nothing
    /// before `,` or the end is the empty value.
    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, RequirementSyntax> {
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Token::EndOfString | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (token, literal) = self.consume(Context::Values);
        if token == Token::Identifier {
            return Ok(BTreeSet::from([literal]));
        }
        Err(RequirementSyntax::Identifier { found: literal })
    }
}

fn in_context(token: Token, context: Context) -> Token {
    match (context, token) {
        (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
        _ => token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &str) -> Vec<Token> {
        lex(input).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn lexer_prefers_the_longest_operator() {
        use Token::*;
        assert_eq!(tokens("!="), [NotEquals, EndOfString]);
        assert_eq!(tokens("!"), [DoesNotExist, EndOfString]);
        assert_eq!(tokens("==="), [DoubleEquals, Equals, EndOfString]);
        assert_eq!(
            tokens(">=1"),
            [GreaterThan, Equals, Identifier, EndOfString]
        );
        assert_eq!(tokens("=("), [Equals, OpenPar, EndOfString]);
    }

    #[test]
    fn lexer_splits_on_specials_and_whitespace_only() {
        use Token::*;
        assert_eq!(tokens("~"), [Identifier, EndOfString]);
        assert_eq!(tokens("a||b"), [Identifier, EndOfString]);
        assert_eq!(
            tokens("tier notin\t( gold ,silver )"),
            [
                Identifier,
                NotIn,
                OpenPar,
                Identifier,
                Comma,
                Identifier,
                ClosedPar,
                EndOfString
            ]
        );
        assert_eq!(
            tokens("in notin () , == !="),
            [
                In,
                NotIn,
                OpenPar,
                ClosedPar,
                Comma,
                DoubleEquals,
                NotEquals,
                EndOfString
            ]
        );
        assert_eq!(
            tokens("n>7"),
            [Identifier, GreaterThan, Identifier, EndOfString]
        );
        assert_eq!(tokens(""), [EndOfString]);
    }

    #[test]
    fn operator_position_reports_the_expected_set() {
        let mut p = Parser {
            tokens: lex("!"),
            position: 0,
        };
        assert_eq!(
            p.parse_operator().unwrap_err().to_string(),
            "found '!', expected: in, notin, =, ==, !=, gt, lt"
        );
        let mut p = Parser {
            tokens: lex("notin"),
            position: 0,
        };
        assert_eq!(p.parse_operator().unwrap(), Operator::NotIn);
    }
}
