//! Argo CD's `util/glob.Match` for names that are not paths — API groups, kinds' keys in
//! `argocd-cm`, cluster URLs: `*` matches any run of characters (`/` included, as gobwas
//! glob compiles them without separators), `?` one character, anything else itself.
//! Character classes and alternatives (`[a-z]`, `{a,b}`) are not supported.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative with one backtrack point per `*` (linear in practice, no recursion).
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some('?') => {
                p += 1;
                t += 1;
            }
            Some(c) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_questions_and_literals() {
        assert!(matches("*", ""));
        assert!(matches(
            "*.crossplane.io/*",
            "ec2.aws.crossplane.io/Instance"
        ));
        assert!(!matches("*.crossplane.io/*", "crossplane.io/Thing"));
        assert!(matches("https://*.internal", "https://east.internal"));
        assert!(
            matches("https://*.internal", "https://a/b.internal"),
            "* crosses /"
        );
        assert!(!matches("https://*.internal", "https://east.example"));
        assert!(matches("v?", "v1"));
        assert!(!matches("v?", "v10"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbY"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
    }
}
