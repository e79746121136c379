//! The ApplicationSet pull request generator, as Argo CD's `PullRequestGenerator`: the open
//! pull requests of a repository (listed by a [`PullRequests`] provider — a forge's API at
//! the edge), kept when one of the `filters` matches (`branchMatch`, `targetBranchMatch`,
//! `titleMatch`, regular expressions that must all hold), each one parameter set: `number`,
//! `title`, `branch`, `branch_slug`, `target_branch`, `target_branch_slug`, `head_sha`,
//! `head_short_sha` (8), `head_short_sha_7`, `author`, and `labels` with Go templates.

use serde_json::Value;

use super::params::Params;

/// One open pull request, as a provider lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: i64,
    /// Its title.
    pub title: String,
    /// The head branch.
    pub branch: String,
    /// The branch it would merge into.
    pub target_branch: String,
    /// The head commit.
    pub head_sha: String,
    /// Who opened it.
    pub author: String,
    /// Its labels' names.
    pub labels: Vec<String>,
}

/// Why a provider could not list a repository's pull requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullRequestError {
    /// The repository does not exist (or is not visible): skipped when the generator says
    /// `continueOnRepoNotFoundError`.
    #[error("{0}")]
    RepositoryNotFound(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// Lists the open pull requests a `pullRequest` generator names (its JSON, e.g.
/// `{"github": {"owner": …, "repo": …}}`), the provider's own filters (labels) applied.
pub trait PullRequests: Send + Sync {
    /// The pull requests, or why not.
    fn list(&self, generator: &Value) -> Result<Vec<PullRequest>, PullRequestError>;
}

/// `ListPullRequests`: those matching at least one filter (all when there are none).
pub(crate) fn filtered(
    pulls: Vec<PullRequest>,
    filters: Option<&Value>,
) -> Result<Vec<PullRequest>, String> {
    let filters = filters
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let compile = |filter: &Value, field: &str| -> Result<Option<regex::Regex>, String> {
        filter
            .get(field)
            .and_then(Value::as_str)
            .map(|text| {
                regex::Regex::new(text).map_err(|e| {
                    let name = field[..1].to_uppercase() + &field[1..];
                    format!("error compiling {name} regexp {text:?}: {e}")
                })
            })
            .transpose()
    };
    let mut compiled = Vec::with_capacity(filters.len());
    for filter in filters {
        compiled.push((
            compile(filter, "branchMatch")?,
            compile(filter, "targetBranchMatch")?,
            compile(filter, "titleMatch")?,
        ));
    }
    if compiled.is_empty() {
        return Ok(pulls);
    }
    let holds =
        |re: &Option<regex::Regex>, text: &str| re.as_ref().is_none_or(|re| re.is_match(text));
    Ok(pulls
        .into_iter()
        .filter(|pull| {
            compiled.iter().any(|(branch, target, title)| {
                holds(branch, &pull.branch)
                    && holds(target, &pull.target_branch)
                    && holds(title, &pull.title)
            })
        })
        .collect())
}

/// The parameters of one pull request (`labels` only for Go templates, as upstream).
pub(crate) fn params_of(pull: &PullRequest, go_template: bool) -> Params {
    let short = |n: usize| pull.head_sha.chars().take(n).collect::<String>();
    let mut params = Params::new();
    let mut put = |k: &str, v: String| {
        params.insert(k.to_string(), Value::String(v));
    };
    put("number", pull.number.to_string());
    put("title", pull.title.clone());
    put("branch", pull.branch.clone());
    put("branch_slug", slug(&pull.branch));
    put("target_branch", pull.target_branch.clone());
    put("target_branch_slug", slug(&pull.target_branch));
    put("head_sha", pull.head_sha.clone());
    put("head_short_sha", short(8));
    put("head_short_sha_7", short(7));
    put("author", pull.author.clone());
    if go_template {
        params.insert(
            "labels".into(),
            Value::Array(pull.labels.iter().cloned().map(Value::String).collect()),
        );
    }
    params
}

/// The longest slug Argo CD makes (room for a 13-character suffix in a DNS label).
const SLUG_MAX: usize = 50;

/// gosimple/slug's `Make` as Argo CD configures it (`_` → `-`, at most 50 characters, cut at
/// the last `-` before that): `&` reads `and` and `@` `at`, then lower case; anything but
/// ASCII letters, digits, `-` and `_` becomes `-`; runs of `-` are one; `-` and `_` trimmed
/// at the ends. Non-ASCII letters become `-` here, where gosimple transliterates them
/// (`ü` → `u`).
pub fn slug(text: &str) -> String {
    let substituted = text
        .trim()
        .replace('_', "-")
        .replace('&', "and")
        .replace('@', "at");
    let mut out = String::with_capacity(substituted.len());
    for c in substituted.to_lowercase().chars() {
        let kept = c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let c = if kept { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_matches(|c| c == '-' || c == '_').to_string();
    if out.len() <= SLUG_MAX {
        return out;
    }
    // `smartTruncate`: the last `-` at or before the limit, else a hard cut.
    match out.as_bytes()[..=SLUG_MAX].iter().rposition(|b| *b == b'-') {
        Some(i) => out[..i].to_string(),
        None => out[..SLUG_MAX].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pull(number: i64, branch: &str, target: &str, title: &str) -> PullRequest {
        PullRequest {
            number,
            title: title.into(),
            branch: branch.into(),
            target_branch: target.into(),
            head_sha: "089d92cbf9ff857a39e6feccd32798ca700fb958".into(),
            author: "ana".into(),
            labels: vec!["preview".into()],
        }
    }

    /// ASCII cases of gosimple/slug's `TestSlugMake`, with Argo CD's `_` → `-` applied to
    /// the expected values, then branch names and the 50-character cut as its
    /// `smartTruncate` reads.
    #[test]
    fn slugs_are_gosimples() {
        for (input, want) in [
            ("DOBROSLAWZYBORT", "dobroslawzybort"),
            ("  Dobroslaw     Zybort  ?", "dobroslaw-zybort"),
            ("This & that", "this-and-that"),
            ("_test_slug_", "test-slug"),
            ("-test-slug-", "test-slug"),
            (
                "% 5 @ 4 $ 3 / 2 & 1 & 2 # 3 @ 4 _ 5",
                "5-at-4-3-2-and-1-and-2-3-at-4-5",
            ),
            ("feat/new-api", "feat-new-api"),
            ("Feature_ABC-123", "feature-abc-123"),
            ("  spaces  around ", "spaces-around"),
            ("a & b", "a-and-b"),
            ("--dashes--", "dashes"),
            ("multiple---dashes", "multiple-dashes"),
            ("dots.and/slashes", "dots-and-slashes"),
        ] {
            assert_eq!(slug(input), want, "{input}");
        }
        let long = "this-is-a-very-long-branch-name-that-goes-past-fifty-characters";
        assert_eq!(slug(long), "this-is-a-very-long-branch-name-that-goes-past");
        let one_word = "x".repeat(60);
        assert_eq!(slug(&one_word), "x".repeat(50));
    }

    #[test]
    fn filters_keep_what_one_of_them_matches() {
        let pulls = vec![
            pull(1, "feat/a", "main", "Add a"),
            pull(2, "fix/b", "main", "Fix b"),
            pull(3, "feat/c", "release", "[skip] c"),
        ];
        let numbers = |filters: Value| {
            filtered(pulls.clone(), Some(&filters))
                .unwrap()
                .iter()
                .map(|p| p.number)
                .collect::<Vec<_>>()
        };
        assert_eq!(numbers(json!([])), [1, 2, 3]);
        assert_eq!(
            numbers(json!([{"branchMatch": "^feat/", "targetBranchMatch": "^main$"}])),
            [1]
        );
        assert_eq!(
            numbers(json!([{"branchMatch": "^fix/"}, {"titleMatch": "skip"}])),
            [2, 3]
        );
        let error = filtered(pulls, Some(&json!([{"branchMatch": "("}]))).unwrap_err();
        assert!(
            error.starts_with("error compiling BranchMatch regexp \"(\": "),
            "{error}"
        );
    }

    #[test]
    fn a_pull_request_gives_argo_cds_parameters() {
        let p = params_of(&pull(42, "feat/New_UI", "main", "New UI"), true);
        assert_eq!(
            Value::Object(p),
            json!({"number": "42", "title": "New UI", "branch": "feat/New_UI",
                   "branch_slug": "feat-new-ui", "target_branch": "main",
                   "target_branch_slug": "main",
                   "head_sha": "089d92cbf9ff857a39e6feccd32798ca700fb958",
                   "head_short_sha": "089d92cb", "head_short_sha_7": "089d92c",
                   "author": "ana", "labels": ["preview"]})
        );
        assert!(
            params_of(&pull(1, "b", "main", "t"), false)
                .get("labels")
                .is_none()
        );
    }
}
