//! Errors of parsing and executing templates, worded as Go's `text/template` words them.

use std::fmt;

/// A parse or execution failure. `Display` matches Go's error text byte for byte where Go has
/// an equivalent, so users can search for the messages they know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The template text does not parse. Go prints only the line; the column is kept for tools.
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// Name the text was parsed under.
        name: String,
        /// 1-based line.
        line: usize,
        /// 0-based byte column within the line.
        column: usize,
        /// What is wrong, in Go's words.
        message: String,
    },
    /// Execution failed at an action.
    #[error("template: {name}:{line}:{column}: executing {template:?} at <{context}>: {message}")]
    Exec {
        /// Name the failing text was parsed under.
        name: String,
        /// 1-based line.
        line: usize,
        /// 0-based byte column within the line.
        column: usize,
        /// Name of the template being executed.
        template: String,
        /// The failing node, as Go prints it (truncated to 20 bytes).
        context: String,
        /// What went wrong, in Go's words.
        message: String,
    },
    /// A safety limit stopped execution.
    #[error("template: {name}:{line}:{column}: executing {template:?}: {limit}")]
    Limit {
        /// Name the text was parsed under.
        name: String,
        /// 1-based line.
        line: usize,
        /// 0-based byte column within the line.
        column: usize,
        /// Name of the template being executed.
        template: String,
        /// Which limit.
        limit: Limit,
    },
    /// `execute_template` named a template that the set does not have.
    #[error("template: no template {name:?} associated with template {set:?}")]
    NoTemplate {
        /// The requested name.
        name: String,
        /// The set's main template name.
        set: String,
    },
    /// The template exists only as a name: nothing was parsed into it.
    #[error("template: {name}: {name:?} is an incomplete or empty template")]
    Incomplete {
        /// The template's name.
        name: String,
    },
}

/// The safety limit that was exceeded (see [`Limits`](crate::Limits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Nested `template`/`include`/`tpl` calls went deeper than allowed.
    Depth(usize),
    /// More output bytes than allowed.
    Output(usize),
    /// More execution steps than allowed.
    Steps(u64),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Depth(n) => write!(f, "exceeded maximum template depth ({n})"),
            Limit::Output(n) => write!(f, "output exceeds the limit of {n} bytes"),
            Limit::Steps(n) => write!(f, "execution exceeds the budget of {n} steps"),
        }
    }
}

/// Why a function call failed. The executor reports it as Go does: `error calling NAME: …`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FuncError {
    /// The function's own message.
    #[error("{0}")]
    Message(String),
    /// A template error from `include`/`tpl`; safety limits pass through unwrapped.
    #[error(transparent)]
    Template(Box<Error>),
}

impl FuncError {
    /// A function error with the given message.
    pub fn msg(m: impl Into<String>) -> Self {
        FuncError::Message(m.into())
    }
}

impl From<Error> for FuncError {
    fn from(e: Error) -> Self {
        FuncError::Template(Box::new(e))
    }
}

/// Line (1-based) and byte column (0-based) of `pos` in `src`, as Go's `ErrorContext` counts.
pub(crate) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = 1 + before.matches('\n').count();
    let col = match before.rfind('\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}
