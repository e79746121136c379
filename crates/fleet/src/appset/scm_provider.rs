//! The ApplicationSet SCM provider generator, as Argo CD's `SCMProviderGenerator`: the
//! repositories of an organization (listed by an [`ScmProvider`] — a forge's API at the
//! edge, chosen by [`ScmProviders`]), one parameter set per repository and branch kept by
//! the `filters`.
//!
//! The filters follow `ListRepos` in Argo CD's `scm_provider/utils.go`, quirks included:
//!
//! * a filter holds when all its conditions hold; an item is kept when one filter holds;
//! * a filter is *repository-level* when it has only `repositoryMatch`/`labelMatch`, and
//!   *branch-level* as soon as it has `pathsExist`, `pathsDoNotExist` or `branchMatch`;
//!   repositories are first narrowed by the repository-level filters, their branches then by
//!   the branch-level ones — so `[{repositoryMatch: a}, {pathsExist: [p]}]` needs both,
//!   not either;
//! * a filter with no condition is neither and takes no part.

use serde_json::Value;

use super::params::{Params, sanitize_name};

/// A repository's id as its forge reports it (GitHub, GitLab and Gitea number them; Azure
/// DevOps uses text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryId {
    /// A numeric id.
    Number(i64),
    /// A textual id.
    Text(String),
}

/// One repository at one branch, as Argo CD's `scm_provider.Repository`. A listing gives
/// each repository at its default branch without a `sha`; [`ScmProvider::branches`] gives
/// it at each branch considered, with the branch's head commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repository {
    /// The organization (GitHub owner, GitLab namespace path, Gitea owner).
    pub organization: String,
    /// The repository's name (GitLab: its path).
    pub repository: String,
    /// The clone URL for the generator's `cloneProtocol`.
    pub url: String,
    /// The branch.
    pub branch: String,
    /// The branch's head commit (empty until branches are read).
    pub sha: String,
    /// Topics (GitHub, GitLab) or labels (Gitea).
    pub labels: Vec<String>,
    /// The forge's id of the repository, if it has one.
    pub repository_id: Option<RepositoryId>,
}

/// Why a provider could not answer; the message is the forge's, in Argo CD's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScmError(pub String);

/// One organization on one forge, as Argo CD's `SCMProviderService`.
pub trait ScmProvider {
    /// Every repository, at its default branch, with the clone URL for `clone_protocol`
    /// (`""` or `ssh`, `https`).
    fn list_repos(&self, clone_protocol: &str) -> Result<Vec<Repository>, ScmError>;
    /// Whether `path` (a file or directory) exists at the repository's branch.
    fn has_path(&self, repo: &Repository, path: &str) -> Result<bool, ScmError>;
    /// The repository at its default branch or, with `allBranches`, at every branch — each
    /// with its head commit; none when the default branch does not exist (an empty
    /// repository).
    fn branches(&self, repo: &Repository) -> Result<Vec<Repository>, ScmError>;
}

/// Chooses the provider an `scmProvider` generator names (its JSON, e.g.
/// `{"github": {"organization": …}, "filters": […]}`), with its credentials; the error is
/// Argo CD's message (`scm providers are disabled`, `scm provider: error fetching Github
/// token: …`).
pub trait ScmProviders: Send + Sync {
    /// The provider, or why not.
    fn provider<'a>(&'a self, generator: &Value) -> Result<Box<dyn ScmProvider + 'a>, ScmError>;
}

/// Which stage of `ListRepos` a filter takes part in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Only repository conditions: narrows the listed repositories.
    Repository,
    /// A path or branch condition: narrows the branches of the kept repositories.
    Branch,
}

/// A compiled `filters[]` entry (Argo CD's `Filter`).
#[derive(Debug)]
struct Filter {
    repository_match: Option<regex::Regex>,
    label_match: Option<regex::Regex>,
    branch_match: Option<regex::Regex>,
    paths_exist: Vec<String>,
    paths_do_not_exist: Vec<String>,
    /// `None` for a filter without conditions, which takes part in neither stage.
    level: Option<Level>,
}

/// `compileFilters`: the filters, or Argo CD's `error compiling RepositoryMatch regexp …`.
fn compile_filters(filters: Option<&Value>) -> Result<Vec<Filter>, String> {
    let filters = filters
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let given = |filter: &Value, field: &str| filter.get(field).filter(|v| !v.is_null()).cloned();
    let compile = |filter: &Value, field: &str| -> Result<Option<regex::Regex>, String> {
        let Some(text) = given(filter, field) else {
            return Ok(None);
        };
        let text = text.as_str().unwrap_or_default().to_string();
        regex::Regex::new(&text).map(Some).map_err(|e| {
            let name = field[..1].to_uppercase() + &field[1..];
            format!("error compiling {name} regexp {text:?}: {e}")
        })
    };
    let paths = |filter: &Value, field: &str| -> Option<Vec<String>> {
        given(filter, field).map(|v| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    };
    let mut compiled = Vec::with_capacity(filters.len());
    for filter in filters {
        // Argo CD sets the level field by field in this order; the last one present wins.
        let mut level = None;
        let repository_match = compile(filter, "repositoryMatch")?;
        if repository_match.is_some() {
            level = Some(Level::Repository);
        }
        let label_match = compile(filter, "labelMatch")?;
        if label_match.is_some() {
            level = Some(Level::Repository);
        }
        let paths_exist = paths(filter, "pathsExist");
        let paths_do_not_exist = paths(filter, "pathsDoNotExist");
        if paths_exist.is_some() || paths_do_not_exist.is_some() {
            level = Some(Level::Branch);
        }
        let branch_match = compile(filter, "branchMatch")?;
        if branch_match.is_some() {
            level = Some(Level::Branch);
        }
        compiled.push(Filter {
            repository_match,
            label_match,
            branch_match,
            paths_exist: paths_exist.unwrap_or_default(),
            paths_do_not_exist: paths_do_not_exist.unwrap_or_default(),
            level,
        });
    }
    Ok(compiled)
}

/// `matchFilter`: every condition of `filter` holds for `repo`.
fn matches(provider: &dyn ScmProvider, repo: &Repository, filter: &Filter) -> Result<bool, String> {
    if let Some(re) = &filter.repository_match
        && !re.is_match(&repo.repository)
    {
        return Ok(false);
    }
    if let Some(re) = &filter.branch_match
        && !re.is_match(&repo.branch)
    {
        return Ok(false);
    }
    if let Some(re) = &filter.label_match
        && !repo.labels.iter().any(|label| re.is_match(label))
    {
        return Ok(false);
    }
    for (paths, wanted) in [
        (&filter.paths_exist, true),
        (&filter.paths_do_not_exist, false),
    ] {
        for path in paths {
            let path = path.trim_end_matches('/');
            if provider.has_path(repo, path).map_err(|e| e.0)? != wanted {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The items one of `filters` keeps, in order (all of them when there are no filters).
fn kept(
    provider: &dyn ScmProvider,
    items: Vec<Repository>,
    filters: &[&Filter],
) -> Result<Vec<Repository>, String> {
    if filters.is_empty() {
        return Ok(items);
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        for filter in filters {
            if matches(provider, &item, filter)? {
                out.push(item);
                break;
            }
        }
    }
    Ok(out)
}

/// `ListRepos`: the filters compiled (before any call), the repositories listed and
/// narrowed by the repository-level filters, their branches read and narrowed by the
/// branch-level ones. The error is Argo CD's, before its `error listing repos: ` prefix.
pub(crate) fn list_repos(
    provider: &dyn ScmProvider,
    generator: &Value,
) -> Result<Vec<Repository>, String> {
    let filters = compile_filters(generator.get("filters"))?;
    let at = |level: Level| -> Vec<&Filter> {
        filters.iter().filter(|f| f.level == Some(level)).collect()
    };
    let clone_protocol = generator
        .get("cloneProtocol")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let repos = provider.list_repos(clone_protocol).map_err(|e| e.0)?;
    let repos = kept(provider, repos, &at(Level::Repository))?;
    let mut branches = Vec::new();
    for repo in &repos {
        branches.extend(provider.branches(repo).map_err(|e| e.0)?);
    }
    kept(provider, branches, &at(Level::Branch))
}

/// The parameters of one repository at one branch. `labels` is comma-joined in both
/// template modes, as upstream. `repository_id` is the forge's value: a number stays one
/// in legacy mode (where, as upstream, a non-string leaves its `{{…}}` as written) and is
/// its decimal text with Go templates, which print Argo CD's integer so — our template
/// data would hold a float and print `1.9e+08`.
pub(crate) fn params_of(repo: &Repository, go_template: bool) -> Params {
    let short = |n: usize| repo.sha.chars().take(n).collect::<String>();
    let mut params = Params::new();
    let mut put = |k: &str, v: String| {
        params.insert(k.to_string(), Value::String(v));
    };
    put("organization", repo.organization.clone());
    put("repository", repo.repository.clone());
    put("url", repo.url.clone());
    put("branch", repo.branch.clone());
    put("sha", repo.sha.clone());
    put("short_sha", short(8));
    put("short_sha_7", short(7));
    put("labels", repo.labels.join(","));
    put("branchNormalized", sanitize_name(&repo.branch));
    let id = match &repo.repository_id {
        None => Value::Null,
        Some(RepositoryId::Text(text)) => Value::String(text.clone()),
        Some(RepositoryId::Number(n)) if go_template => Value::String(n.to_string()),
        Some(RepositoryId::Number(n)) => Value::from(*n),
    };
    params.insert("repository_id".into(), id);
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::RefCell;

    /// Argo CD's `MockProvider`: `repos` lists each repository once (its first entry),
    /// `branches` gives every entry of that repository (one per branch), and a path
    /// exists when it is the repository's name. Calls are recorded.
    #[derive(Default)]
    struct Mock {
        repos: Vec<Repository>,
        calls: RefCell<Vec<String>>,
    }

    impl ScmProvider for Mock {
        fn list_repos(&self, protocol: &str) -> Result<Vec<Repository>, ScmError> {
            self.calls.borrow_mut().push(format!("list {protocol}"));
            let mut out: Vec<Repository> = Vec::new();
            for repo in &self.repos {
                if !out.iter().any(|r| r.repository == repo.repository) {
                    out.push(repo.clone());
                }
            }
            Ok(out)
        }
        fn has_path(&self, repo: &Repository, path: &str) -> Result<bool, ScmError> {
            self.calls
                .borrow_mut()
                .push(format!("path {}@{} {path}", repo.repository, repo.branch));
            Ok(path == repo.repository)
        }
        fn branches(&self, repo: &Repository) -> Result<Vec<Repository>, ScmError> {
            let mut out: Vec<Repository> = Vec::new();
            for candidate in self
                .repos
                .iter()
                .filter(|r| r.repository == repo.repository)
            {
                if !out.iter().any(|r| r.branch == candidate.branch) {
                    out.push(candidate.clone());
                }
            }
            Ok(out)
        }
    }

    fn repo(name: &str, branch: &str, labels: &[&str]) -> Repository {
        Repository {
            repository: name.into(),
            branch: branch.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            ..Repository::default()
        }
    }

    fn mock(repos: Vec<Repository>) -> Mock {
        Mock {
            repos,
            ..Mock::default()
        }
    }

    fn names(provider: &Mock, filters: Value) -> Vec<String> {
        list_repos(provider, &json!({"filters": filters}))
            .unwrap()
            .into_iter()
            .map(|r| r.repository)
            .collect()
    }

    fn labelled() -> Mock {
        mock(vec![
            repo("one", "", &["prod-one", "prod-two", "staging"]),
            repo("two", "", &["prod-two"]),
            repo("three", "", &["staging"]),
        ])
    }

    // The cases of Argo CD's scm_provider/utils_test.go, expected values from there.

    #[test]
    fn repository_match() {
        let provider = mock(vec![
            repo("one", "", &[]),
            repo("two", "", &[]),
            repo("three", "", &[]),
            repo("four", "", &[]),
        ]);
        assert_eq!(
            names(&provider, json!([{"repositoryMatch": "n|hr"}])),
            ["one", "three"]
        );
    }

    #[test]
    fn label_match() {
        assert_eq!(
            names(&labelled(), json!([{"labelMatch": "^prod-.*$"}])),
            ["one", "two"]
        );
    }

    #[test]
    fn paths_exist_and_paths_do_not_exist() {
        let provider = mock(vec![
            repo("one", "", &[]),
            repo("two", "", &[]),
            repo("three", "", &[]),
        ]);
        assert_eq!(names(&provider, json!([{"pathsExist": ["two"]}])), ["two"]);
        assert_eq!(
            names(&provider, json!([{"pathsDoNotExist": ["two"]}])),
            ["one", "three"]
        );
        // `strings.TrimRight(path, "/")`.
        assert_eq!(
            names(&provider, json!([{"pathsExist": ["two//"]}])),
            ["two"]
        );
    }

    #[test]
    fn bad_regexps_are_argo_cds_errors_before_any_call() {
        for field in ["repositoryMatch", "labelMatch", "branchMatch"] {
            let provider = mock(vec![repo("one", "", &[])]);
            let error = list_repos(&provider, &json!({"filters": [{field: "("}]})).unwrap_err();
            let name = field[..1].to_uppercase() + &field[1..];
            assert!(
                error.starts_with(&format!("error compiling {name} regexp \"(\": ")),
                "{error}"
            );
            assert!(provider.calls.borrow().is_empty(), "nothing listed");
        }
    }

    #[test]
    fn branch_match() {
        let provider = mock(vec![
            repo("one", "one", &[]),
            repo("one", "two", &[]),
            repo("two", "one", &[]),
            repo("three", "one", &[]),
            repo("three", "two", &[]),
        ]);
        let kept: Vec<(String, String)> =
            list_repos(&provider, &json!({"filters": [{"branchMatch": "w"}]}))
                .unwrap()
                .into_iter()
                .map(|r| (r.repository, r.branch))
                .collect();
        assert_eq!(
            kept,
            [
                ("one".to_string(), "two".to_string()),
                ("three".to_string(), "two".to_string())
            ]
        );
    }

    #[test]
    fn conditions_of_one_filter_all_hold() {
        assert_eq!(
            names(
                &labelled(),
                json!([{"repositoryMatch": "w", "labelMatch": "^prod-.*$"}])
            ),
            ["two"]
        );
    }

    #[test]
    fn one_of_several_filters_is_enough() {
        assert_eq!(
            names(
                &labelled(),
                json!([{"repositoryMatch": "e"}, {"labelMatch": "^prod-.*$"}])
            ),
            ["one", "two", "three"]
        );
    }

    #[test]
    fn no_filters_keep_everything() {
        assert_eq!(names(&labelled(), json!([])), ["one", "two", "three"]);
        assert_eq!(
            list_repos(&labelled(), &json!({})).unwrap().len(),
            3,
            "filters absent"
        );
    }

    /// `TestApplicableFilterMap`'s rule: repository conditions alone make a
    /// repository-level filter, any path or branch condition a branch-level one, and a
    /// filter without conditions is neither.
    #[test]
    fn filters_take_part_at_their_level() {
        let filters = compile_filters(Some(&json!([
            {"branchMatch": "x"},
            {"repositoryMatch": "x"},
            {"pathsExist": ["test"]},
            {"labelMatch": "x"},
            {},
            {"repositoryMatch": "x", "branchMatch": "y"},
            {"pathsDoNotExist": ["test"]},
        ])))
        .unwrap();
        let levels: Vec<Option<Level>> = filters.iter().map(|f| f.level).collect();
        use Level::{Branch, Repository};
        assert_eq!(
            levels,
            [
                Some(Branch),
                Some(Repository),
                Some(Branch),
                Some(Repository),
                None,
                Some(Branch),
                Some(Branch)
            ]
        );
    }

    /// Upstream's two stages: a repository-level filter and a branch-level filter in two
    /// entries must both hold (the first narrows repositories, the second branches), and a
    /// branch-level filter's repository condition is checked on each branch.
    #[test]
    fn a_repository_level_and_a_branch_level_filter_both_apply() {
        let provider = mock(vec![
            repo("one", "main", &[]),
            repo("two", "main", &[]),
            repo("three", "main", &[]),
        ]);
        assert_eq!(
            names(
                &provider,
                json!([{"repositoryMatch": "^t"}, {"pathsExist": ["two"]}])
            ),
            ["two"]
        );
        assert_eq!(
            names(
                &provider,
                json!([{"repositoryMatch": "^one$", "branchMatch": ""}, {"pathsExist": ["two"]}])
            ),
            ["one", "two"],
            "two branch-level filters: either"
        );
        // Paths are only asked of repositories the repository-level filters kept.
        let provider = mock(vec![repo("one", "main", &[]), repo("two", "main", &[])]);
        names(
            &provider,
            json!([{"repositoryMatch": "^two$"}, {"pathsExist": ["x"]}]),
        );
        let calls = provider.calls.borrow();
        assert_eq!(*calls, ["list ", "path two@main x"]);
    }

    #[test]
    fn the_clone_protocol_goes_to_the_listing() {
        let provider = labelled();
        list_repos(&provider, &json!({"cloneProtocol": "https"})).unwrap();
        assert_eq!(*provider.calls.borrow(), ["list https"]);
    }

    fn shell(go_template: bool) -> crate::argocd::applicationset::ApplicationSet {
        let mut set = crate::argocd::applicationset::ApplicationSet::from_yaml(
            "metadata: {name: set, namespace: argocd}\nspec: {template: {metadata: {name: x}, spec: {}}}\n",
        )
        .unwrap();
        set.spec.go_template = go_template;
        set
    }

    /// Always the same organization, as Argo CD's generator tests override the provider.
    struct Fixed(Vec<Repository>);

    impl ScmProviders for Fixed {
        fn provider<'a>(&'a self, _: &Value) -> Result<Box<dyn ScmProvider + 'a>, ScmError> {
            Ok(Box::new(mock(self.0.clone())))
        }
    }

    fn generated(go_template: bool, generator: Value, repos: Vec<Repository>) -> Vec<Value> {
        let set = shell(go_template);
        let fixed = Fixed(repos);
        let memory = crate::appset::MemoryRepos::new();
        let ctx = crate::appset::GeneratorContext {
            repos: &memory,
            cluster_secrets: &[],
            new_git_file_globbing: false,
            projects: None,
            pull_requests: None,
            scm_providers: Some(&fixed),
            controller_objects: None,
            plugins: None,
        };
        crate::appset::generate_params(&generator, &set, ctx)
            .unwrap()
            .into_iter()
            .map(Value::Object)
            .collect()
    }

    /// `TestSCMProviderGenerateParams` "Value interpolation": `values` rendered against the
    /// repository's parameters, `values.` keys in legacy mode, a `values` map with Go
    /// templates.
    #[test]
    fn values_are_rendered_from_the_repositorys_parameters() {
        let repo3 = Repository {
            organization: "myorg".into(),
            repository: "repo3".into(),
            url: "git@github.com:myorg/repo3.git".into(),
            branch: "main".into(),
            sha: "0bc57212c3cbbec69d20b34c507284bd300def5b".into(),
            labels: vec!["prod".into(), "staging".into()],
            repository_id: Some(RepositoryId::Number(190320253)),
        };
        let legacy = generated(
            false,
            json!({"scmProvider": {"values": {"foo": "bar", "should_i_force_push_to": "{{ branch }}?"}}}),
            vec![repo3.clone()],
        );
        assert_eq!(
            legacy,
            [json!({"organization": "myorg", "repository": "repo3",
                    "repository_id": 190320253,
                    "url": "git@github.com:myorg/repo3.git", "branch": "main",
                    "branchNormalized": "main",
                    "sha": "0bc57212c3cbbec69d20b34c507284bd300def5b",
                    "short_sha": "0bc57212", "short_sha_7": "0bc5721",
                    "labels": "prod,staging",
                    "values.foo": "bar", "values.should_i_force_push_to": "main?"})]
        );
        let go = generated(
            true,
            json!({"scmProvider": {"values": {"name": "{{.organization}}-{{.repository}}-{{.repository_id}}"}}}),
            vec![repo3],
        );
        assert_eq!(go[0]["values"], json!({"name": "myorg-repo3-190320253"}));
    }

    #[test]
    fn without_a_provider_the_generator_says_so() {
        let set = shell(false);
        let memory = crate::appset::MemoryRepos::new();
        let ctx = crate::appset::GeneratorContext {
            repos: &memory,
            cluster_secrets: &[],
            new_git_file_globbing: false,
            projects: None,
            pull_requests: None,
            scm_providers: None,
            controller_objects: None,
            plugins: None,
        };
        assert_eq!(
            crate::appset::generate_params(&json!({"scmProvider": {}}), &set, ctx),
            Err("no SCM provider implementation configured".into())
        );
    }

    /// `DefaultSCMProviderRequeueAfter` (30 minutes) unless `requeueAfterSeconds`, also
    /// inside a matrix.
    #[test]
    fn the_set_is_polled_every_half_hour_by_default() {
        let mut set = shell(false);
        let half_hour = std::time::Duration::from_secs(30 * 60);
        set.spec.generators = vec![json!({"scmProvider": {"github": {"organization": "o"}}})];
        assert_eq!(crate::appset::requeue_after(&set), Some(half_hour));
        set.spec.generators = vec![json!({"matrix": {"generators": [
            {"scmProvider": {"github": {"organization": "o"}, "requeueAfterSeconds": 60}},
            {"list": {"elements": []}}]}})];
        assert_eq!(
            crate::appset::requeue_after(&set),
            Some(std::time::Duration::from_secs(60))
        );
    }

    /// Argo CD's `TestSCMProviderGenerateParams` ("Multiple repos with labels", "Repos with
    /// and without id").
    #[test]
    fn a_repository_gives_argo_cds_parameters() {
        let repo1 = Repository {
            organization: "myorg".into(),
            repository: "repo1".into(),
            url: "git@github.com:myorg/repo1.git".into(),
            branch: "main".into(),
            sha: "0bc57212c3cbbec69d20b34c507284bd300def5b".into(),
            labels: vec!["prod".into(), "staging".into()],
            repository_id: Some(RepositoryId::Number(190320251)),
        };
        let expected = |id: Value| {
            json!({"organization": "myorg", "repository": "repo1", "repository_id": id,
                   "url": "git@github.com:myorg/repo1.git", "branch": "main",
                   "branchNormalized": "main",
                   "sha": "0bc57212c3cbbec69d20b34c507284bd300def5b",
                   "short_sha": "0bc57212", "short_sha_7": "0bc5721",
                   "labels": "prod,staging"})
        };
        assert_eq!(
            Value::Object(params_of(&repo1, false)),
            expected(json!(190320251))
        );
        assert_eq!(
            Value::Object(params_of(&repo1, true)),
            expected(json!("190320251"))
        );
        let repo2 = Repository {
            organization: "myorg".into(),
            repository: "repo2".into(),
            url: "git@github.com:myorg/repo2.git".into(),
            branch: "main".into(),
            sha: "59d0".into(),
            ..Repository::default()
        };
        let p = params_of(&repo2, false);
        assert_eq!(
            (
                &p["short_sha"],
                &p["short_sha_7"],
                &p["labels"],
                &p["repository_id"]
            ),
            (&json!("59d0"), &json!("59d0"), &json!(""), &Value::Null)
        );
        let repo4 = Repository {
            repository_id: Some(RepositoryId::Text("idaz09".into())),
            ..repo2
        };
        assert_eq!(params_of(&repo4, false)["repository_id"], json!("idaz09"));
        let feature = Repository {
            branch: "Feature/New_UI".into(),
            ..Repository::default()
        };
        assert_eq!(
            params_of(&feature, true)["branchNormalized"],
            json!("feature-new-ui")
        );
    }
}
