//! The four glob dialects Argo CD uses, each matched the way its Go library does:
//!
//! * [`git_pathspec_match`]: `git ls-files -- <pattern>` (the git files generator's default):
//!   a literal pathspec matches the path or a directory prefix of it; wildcards follow git's
//!   `wildmatch` without `WM_PATHNAME`, so `*` (and `**`) also match `/`.
//! * [`doublestar_match`]: `doublestar.FilepathGlob` (the generator's "new git file globbing"):
//!   `*` stops at `/`, a `**` path component spans any number of directories, `{a,b}` alternates.
//! * [`go_path_match`]: Go's `path.Match` (git directories generator, project resource lists):
//!   `*` stops at `/`, no `**`, classes negate with `^`; a malformed pattern is an error.
//! * [`gobwas_match`]: `github.com/gobwas/glob` (AppProject source repos and destinations): `*`
//!   stops at the given separators, `**` spans them, `{a,b}` alternates, classes negate with `!`.
//!
//! Matching runs on a memo table (pattern position × text position), so hostile patterns such
//! as `*a*a*a*a*b` cost at most pattern × text steps, never exponential time.

/// How one dialect treats its metacharacters.
#[derive(Clone, Copy)]
struct Dialect {
    /// `*` (and `?`) also match `/`.
    star_crosses_slash: bool,
    /// `**` anywhere matches across `/` (gobwas).
    super_star: bool,
    /// `**` as a whole path component spans directories (doublestar).
    globstar_component: bool,
    /// Characters that negate a class after `[`.
    class_negators: &'static [char],
    /// `{a,b}` alternation.
    braces: bool,
}

const GIT: Dialect = Dialect {
    star_crosses_slash: true,
    super_star: false,
    globstar_component: false,
    class_negators: &['!', '^'],
    braces: false,
};
const DOUBLESTAR: Dialect = Dialect {
    star_crosses_slash: false,
    super_star: false,
    globstar_component: true,
    class_negators: &['!', '^'],
    braces: true,
};
const GO_PATH: Dialect = Dialect {
    star_crosses_slash: false,
    super_star: false,
    globstar_component: false,
    class_negators: &['^'],
    braces: false,
};

/// A pattern that Go's `path.Match` (or another dialect's compiler) refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

#[derive(Debug, Clone)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `**` that may cross separators.
    SuperStar,
    /// `**/` in doublestar: zero or more whole directories.
    Globstar,
    /// A trailing `/**` in doublestar: the directory itself or anything below it.
    Tail,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// `git ls-files -- <pathspec>`: does `pathspec` select `path`?
pub fn git_pathspec_match(pathspec: &str, path: &str) -> bool {
    if pathspec.is_empty() || pathspec == "." {
        return true;
    }
    let spec = pathspec.strip_prefix("./").unwrap_or(pathspec);
    // A literal pathspec names a file or a directory whose files are all selected.
    if path == spec {
        return true;
    }
    if let Some(rest) = path.strip_prefix(spec)
        && (spec.ends_with('/') || rest.starts_with('/'))
    {
        return true;
    }
    if !spec.contains(['*', '?', '[', '\\']) {
        return false;
    }
    match compile(spec, GIT) {
        Ok(tokens) => matches(&tokens, path, GIT),
        Err(BadPattern) => false,
    }
}

/// `doublestar.Match(pattern, path)` with `/` as separator. A malformed pattern matches nothing.
pub fn doublestar_match(pattern: &str, path: &str) -> bool {
    let Ok(alternatives) = expand_braces(pattern) else {
        return false;
    };
    alternatives
        .iter()
        .any(|alt| match compile(alt, DOUBLESTAR) {
            Ok(tokens) => matches(&tokens, path, DOUBLESTAR),
            Err(BadPattern) => false,
        })
}

/// Go's `path.Match(pattern, name)` (also `filepath.Match` on Linux).
pub fn go_path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let tokens = compile(pattern, GO_PATH)?;
    Ok(matches(&tokens, name, GO_PATH))
}

/// Argo CD's `glob.MatchStringInList(list, item, glob.REGEXP)`: an entry wrapped in `/`
/// is a regular expression (unanchored, as Go's `regexp.MatchString`), any other a
/// gobwas glob without separators. An expression that does not compile matches nothing.
pub fn match_string_in_list(list: &[String], item: &str) -> bool {
    list.iter().any(|entry| {
        match entry
            .strip_prefix('/')
            .and_then(|rest| rest.strip_suffix('/'))
            .filter(|_| entry.len() >= 2)
        {
            Some(expression) => regex::Regex::new(expression).is_ok_and(|re| re.is_match(item)),
            None => gobwas_match(entry, item, false),
        }
    })
}

/// `glob.MustCompile(pattern, separators...).Match(text)` from gobwas/glob; a pattern that does
/// not compile matches nothing (Argo CD logs and treats it as no match).
pub fn gobwas_match(pattern: &str, text: &str, slash_is_separator: bool) -> bool {
    gobwas_try_match(pattern, text, slash_is_separator).unwrap_or(false)
}

/// [`gobwas_match`] that tells a pattern which does not compile (Argo CD's
/// `glob.MatchWithError`).
pub fn gobwas_try_match(
    pattern: &str,
    text: &str,
    slash_is_separator: bool,
) -> Result<bool, BadPattern> {
    let dialect = Dialect {
        star_crosses_slash: !slash_is_separator,
        super_star: true,
        globstar_component: false,
        class_negators: &['!'],
        braces: true,
    };
    let alternatives = expand_braces(pattern)?;
    let mut matched = false;
    for alternative in &alternatives {
        matched |= matches(&compile(alternative, dialect)?, text, dialect);
    }
    Ok(matched)
}

/// Most alternatives one brace pattern may expand to; more is treated as malformed.
const MAX_ALTERNATIVES: usize = 1024;

/// Expands `{a,b}` groups (nested ones too) into plain patterns.
fn expand_braces(pattern: &str) -> Result<Vec<String>, BadPattern> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    expand_into(&chars, String::new(), &mut out)?;
    Ok(out)
}

fn expand_into(rest: &[char], prefix: String, out: &mut Vec<String>) -> Result<(), BadPattern> {
    let mut prefix = prefix;
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            '\\' if i + 1 < rest.len() => {
                prefix.push('\\');
                prefix.push(rest[i + 1]);
                i += 2;
            }
            '[' => {
                // Copy a class verbatim: braces inside it are literal.
                let end = rest[i + 1..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| i + 1 + p)
                    .ok_or(BadPattern)?;
                prefix.extend(&rest[i..=end]);
                i = end + 1;
            }
            '{' => {
                let (alternatives, close) = split_group(rest, i)?;
                for alt in alternatives {
                    let mut combined: Vec<char> = alt;
                    combined.extend_from_slice(&rest[close + 1..]);
                    expand_into(&combined, prefix.clone(), out)?;
                    if out.len() > MAX_ALTERNATIVES {
                        return Err(BadPattern);
                    }
                }
                return Ok(());
            }
            c => {
                prefix.push(c);
                i += 1;
            }
        }
    }
    out.push(prefix);
    Ok(())
}

/// The comma-separated alternatives of the group opening at `open`, and its closing index.
fn split_group(chars: &[char], open: usize) -> Result<(Vec<Vec<char>>, usize), BadPattern> {
    let mut depth = 0;
    let mut alternatives = vec![Vec::new()];
    let mut i = open + 1;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                if let Some(last) = alternatives.last_mut() {
                    last.push(c);
                    last.push(chars[i + 1]);
                }
                i += 2;
                continue;
            }
            '{' => depth += 1,
            '}' if depth == 0 => return Ok((alternatives, i)),
            '}' => depth -= 1,
            ',' if depth == 0 => {
                alternatives.push(Vec::new());
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(last) = alternatives.last_mut() {
            last.push(c);
        }
        i += 1;
    }
    Err(BadPattern)
}

fn compile(pattern: &str, dialect: Dialect) -> Result<Vec<Token>, BadPattern> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let escaped = *chars.get(i + 1).ok_or(BadPattern)?;
                tokens.push(Token::Literal(escaped));
                i += 2;
            }
            '?' => {
                tokens.push(Token::One);
                i += 1;
            }
            '*' => {
                let mut run = 1;
                while chars.get(i + run) == Some(&'*') {
                    run += 1;
                }
                let at_component_start = i == 0 || chars[i - 1] == '/';
                let next = chars.get(i + run);
                if dialect.globstar_component && run >= 2 && at_component_start {
                    match next {
                        Some('/') => {
                            tokens.push(Token::Globstar);
                            i += run + 1;
                            continue;
                        }
                        None => {
                            // A trailing `**` matches everything below (and the directory).
                            if matches!(tokens.last(), Some(Token::Literal('/'))) {
                                tokens.pop();
                                tokens.push(Token::Tail);
                            } else {
                                tokens.push(Token::SuperStar);
                            }
                            i += run;
                            continue;
                        }
                        _ => {}
                    }
                }
                if dialect.super_star && run >= 2 {
                    tokens.push(Token::SuperStar);
                } else {
                    tokens.push(Token::Star);
                }
                i += run;
            }
            '[' => {
                let (token, next) = compile_class(&chars, i, dialect)?;
                tokens.push(token);
                i = next;
            }
            c => {
                tokens.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    Ok(tokens)
}

fn compile_class(
    chars: &[char],
    open: usize,
    dialect: Dialect,
) -> Result<(Token, usize), BadPattern> {
    let mut i = open + 1;
    let mut negated = false;
    if let Some(c) = chars.get(i)
        && dialect.class_negators.contains(c)
    {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i).ok_or(BadPattern)?;
        // A `]` right after the opening (git, doublestar) is a literal member.
        if c == ']' && !(first && dialect.star_crosses_slash) {
            break;
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *chars.get(i).ok_or(BadPattern)?
        } else {
            c
        };
        i += 1;
        let hi = if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
            let mut hi = chars[i + 1];
            i += 2;
            if hi == '\\' {
                hi = *chars.get(i).ok_or(BadPattern)?;
                i += 1;
            }
            hi
        } else {
            lo
        };
        if hi < lo {
            return Err(BadPattern);
        }
        ranges.push((lo, hi));
    }
    if ranges.is_empty() {
        return Err(BadPattern);
    }
    Ok((Token::Class { negated, ranges }, i + 1))
}

fn matches(tokens: &[Token], text: &str, dialect: Dialect) -> bool {
    let text: Vec<char> = text.chars().collect();
    let width = text.len() + 1;
    let mut memo: Vec<Option<bool>> = vec![None; (tokens.len() + 1) * width];
    match_at(tokens, &text, 0, 0, dialect, &mut memo)
}

fn match_at(
    tokens: &[Token],
    text: &[char],
    p: usize,
    t: usize,
    dialect: Dialect,
    memo: &mut Vec<Option<bool>>,
) -> bool {
    let key = p * (text.len() + 1) + t;
    if let Some(known) = memo[key] {
        return known;
    }
    let result = match tokens.get(p) {
        None => t == text.len(),
        Some(Token::Literal(c)) => {
            text.get(t) == Some(c) && match_at(tokens, text, p + 1, t + 1, dialect, memo)
        }
        Some(Token::One) => {
            text.get(t)
                .is_some_and(|&c| c != '/' || dialect.star_crosses_slash)
                && match_at(tokens, text, p + 1, t + 1, dialect, memo)
        }
        Some(Token::Class { negated, ranges }) => {
            text.get(t).is_some_and(|&c| {
                let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                // gobwas and doublestar never let a class match the separator.
                let separator_ok = c != '/' || dialect.star_crosses_slash || !dialect.braces;
                inside != *negated && separator_ok
            }) && match_at(tokens, text, p + 1, t + 1, dialect, memo)
        }
        // Each star either stops here or swallows one more character: with the memo table
        // this is linear in the text per pattern position.
        Some(Token::Star) => {
            match_at(tokens, text, p + 1, t, dialect, memo)
                || (t < text.len()
                    && (dialect.star_crosses_slash || text[t] != '/')
                    && match_at(tokens, text, p, t + 1, dialect, memo))
        }
        Some(Token::SuperStar) => {
            match_at(tokens, text, p + 1, t, dialect, memo)
                || (t < text.len() && match_at(tokens, text, p, t + 1, dialect, memo))
        }
        Some(Token::Globstar) => {
            // Zero directories, or one more whole directory.
            match_at(tokens, text, p + 1, t, dialect, memo)
                || text[t..]
                    .iter()
                    .position(|&c| c == '/')
                    .is_some_and(|i| match_at(tokens, text, p, t + i + 1, dialect, memo))
        }
        Some(Token::Tail) => t == text.len() || text[t] == '/',
    };
    memo[key] = Some(result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Argo CD's `MatchStringInList` in REGEXP mode (util/glob/list_test.go's kinds of
    /// cases): `/…/` entries are unanchored regular expressions, others globs.
    #[test]
    fn a_list_matches_globs_and_slash_wrapped_expressions() {
        let list = |entries: &[&str]| entries.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert!(match_string_in_list(&list(&["team-*"]), "team-a"));
        assert!(!match_string_in_list(&list(&["team-*"]), "teams"));
        assert!(match_string_in_list(&list(&["a", "b*"]), "bob"));
        assert!(match_string_in_list(&list(&["/^team-[a-z]$/"]), "team-a"));
        assert!(!match_string_in_list(&list(&["/^team-[a-z]$/"]), "team-ab"));
        assert!(
            match_string_in_list(&list(&["/eam/"]), "team-a"),
            "unanchored, as regexp.MatchString"
        );
        assert!(
            !match_string_in_list(&list(&["/[/"]), "["),
            "a bad expression matches nothing"
        );
        assert!(match_string_in_list(&list(&["*"]), "anything"));
        assert!(!match_string_in_list(&[], "argocd"));
    }

    #[test]
    fn git_pathspec_star_crosses_directories() {
        assert!(git_pathspec_match(
            "apps/*/config.yaml",
            "apps/web/config.yaml"
        ));
        assert!(git_pathspec_match(
            "apps/*/config.yaml",
            "apps/team/web/config.yaml"
        ));
        assert!(!git_pathspec_match(
            "apps/*/config.yaml",
            "apps/config.yaml"
        ));
        assert!(git_pathspec_match("apps", "apps/web/config.yaml"));
        assert!(!git_pathspec_match("app", "apps/web/config.yaml"));
        assert!(git_pathspec_match(
            "**/config.json",
            "cluster-config/dev/config.json"
        ));
        assert!(git_pathspec_match("*.json", "a/b.json"));
    }

    #[test]
    fn doublestar_spans_whole_directories_only() {
        assert!(doublestar_match(
            "apps/*/config.yaml",
            "apps/web/config.yaml"
        ));
        assert!(!doublestar_match(
            "apps/*/config.yaml",
            "apps/team/web/config.yaml"
        ));
        assert!(doublestar_match("apps/**/config.yaml", "apps/config.yaml"));
        assert!(doublestar_match(
            "apps/**/config.yaml",
            "apps/team/web/config.yaml"
        ));
        assert!(doublestar_match("**/config.{yaml,json}", "x/config.json"));
        assert!(doublestar_match("apps/**", "apps/a/b"));
        assert!(!doublestar_match("apps/*", "apps/a/b"));
    }

    #[test]
    fn go_path_match_like_go() {
        assert_eq!(go_path_match("apps/*", "apps/web"), Ok(true));
        assert_eq!(go_path_match("apps/*", "apps/web/x"), Ok(false));
        assert_eq!(go_path_match("a[^b]c", "axc"), Ok(true));
        assert_eq!(go_path_match("a[^b]c", "abc"), Ok(false));
        assert_eq!(go_path_match("[", "a"), Err(BadPattern));
        assert_eq!(go_path_match("a\\", "a"), Err(BadPattern));
        assert_eq!(go_path_match("*", ""), Ok(true));
    }

    #[test]
    fn gobwas_separators() {
        assert!(gobwas_match(
            "https://github.com/org/*",
            "https://github.com/org/repo",
            true
        ));
        assert!(!gobwas_match(
            "https://github.com/*",
            "https://github.com/org/repo",
            true
        ));
        assert!(gobwas_match(
            "https://github.com/**",
            "https://github.com/org/repo",
            true
        ));
        assert!(gobwas_match("team-*", "team-a/b", false));
        assert!(gobwas_match("{dev,prod}-*", "prod-eu", false));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let text = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(40));
        assert!(!gobwas_match(&pattern, &text, true));
        assert!(!git_pathspec_match(&pattern, &text));
    }
}
