//! Go's `path.Match` (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes; `*` never crosses `/`), used by
//! `.helmignore` and `--show-only`, and the `**` extension of `.Files.Glob` (gobwas/glob
//! with `/` as separator, where `**` crosses directories).

/// Whether `name` matches the Go `path.Match` pattern. A malformed pattern matches nothing.
pub(crate) fn path_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n, false)
}

/// Whether `name` matches a `.Files.Glob` pattern (`**` matches across `/`).
pub(crate) fn files_glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n, true)
}

fn matches(p: &[char], n: &[char], double_star: bool) -> bool {
    let Some(&c) = p.first() else {
        return n.is_empty();
    };
    match c {
        '*' => {
            let (rest, crosses) = if double_star && p.get(1) == Some(&'*') {
                (&p[2..], true)
            } else {
                (&p[1..], false)
            };
            for i in 0..=n.len() {
                if matches(rest, &n[i..], double_star) {
                    return true;
                }
                if i < n.len() && n[i] == '/' && !crosses {
                    return false;
                }
            }
            false
        }
        '?' => n.first().is_some_and(|&x| x != '/') && matches(&p[1..], &n[1..], double_star),
        '[' => {
            let Some(&x) = n.first() else { return false };
            match class(&p[1..], x) {
                Some((ok, used)) => ok && x != '/' && matches(&p[1 + used..], &n[1..], double_star),
                None => false,
            }
        }
        '\\' => match p.get(1) {
            Some(&e) => n.first() == Some(&e) && matches(&p[2..], &n[1..], double_star),
            None => false,
        },
        _ => n.first() == Some(&c) && matches(&p[1..], &n[1..], double_star),
    }
}

/// Matches `x` against a character class starting after `[`; returns whether it matched
/// and how many pattern characters the class used (through `]`).
fn class(p: &[char], x: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = p.first() == Some(&'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&c| c != ']') {
            hi = if p[i + 1] == '\\' {
                i += 1;
                *p.get(i + 1)?
            } else {
                p[i + 1]
            };
            i += 2;
        }
        if lo <= x && x <= hi {
            matched = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match() {
        assert!(path_match(
            "templates/subdir/role*",
            "templates/subdir/rolebinding.yaml"
        ));
        assert!(!path_match("templates/*", "templates/subdir/role.yaml"));
        assert!(path_match("*.txt", "a.txt"));
        assert!(path_match("a?c", "abc"));
        assert!(path_match("[a-c]x", "bx"));
        assert!(!path_match("[^a-c]x", "bx"));
        assert!(path_match("a\\*", "a*"));
        assert!(!path_match("[", "a"));
    }

    #[test]
    fn double_star_crosses_directories_only_in_files_glob() {
        assert!(files_glob("files/**.yaml", "files/a/b.yaml"));
        assert!(files_glob("files/*", "files/a.yaml"));
        assert!(!files_glob("files/*", "files/a/b.yaml"));
    }
}
