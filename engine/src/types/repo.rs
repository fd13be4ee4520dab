//! `repo.branch` and `repo.files`: a tenant's git branches and the config files committed to
//! them.

use super::in_resource;
use super::params::{self, Phase, TypedParams};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::repo::{Author, CommitSpec};
use provisio::validate::NameKind;
use provisio::{Bytes, Deleted, Error, Outcome, Result, validate};
use serde_json::{Value, json};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// repo.branch
// ---------------------------------------------------------------------------------------------

/// `repo.branch`: a branch created from the head of a base branch. An existing branch is left
/// where it is (never reset).
///
/// Parameters:
/// - `name` (required): the branch, e.g. `dev-${tenant.name}`.
/// - `base` (default `main`): the branch to start from.
///
/// Outputs: `name`, `head` (the commit at the branch's head). Changing `name` replaces the
/// branch. Delete deletes the branch.
///
/// ```yaml
/// dev_branch:
///   type: repo.branch
///   provider: config_repo
///   params:
///     name: dev-${tenant.name}
///     base: main
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RepoBranch;

struct BranchSpec {
    name: String,
    base: String,
}

/// The parameters of `repo.branch` (see [`RepoBranch`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchParams {
    name: String,
    base: Option<String>,
}

impl TypedParams for BranchParams {
    const TYPE: &'static str = "repo.branch";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = BranchSpec;

    fn check(self, phase: Phase) -> Result<BranchSpec> {
        let name = phase.name("name", &self.name, validate::git_branch_name)?;
        let base = phase
            .opt_name("base", self.base.as_deref(), validate::git_branch_name)?
            .unwrap_or_else(|| "main".to_string());
        if name == base && !phase.unresolved(&self.name) {
            return Err(Error::invalid_field(
                "name",
                format!("{name:?} is its own base; a tenant branch must not be the base branch"),
            ));
        }
        Ok(BranchSpec { name, base })
    }
}

#[provisio::async_trait]
impl ResourceType for RepoBranch {
    fn name(&self) -> &str {
        "repo.branch"
    }

    fn capability(&self) -> Capability {
        Capability::Repo
    }

    fn validate(&self, params: &Value) -> Result<()> {
        BranchParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        BranchParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name", "head"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        // every commit to the branch moves it
        &["head"]
    }

    fn reports_existence(&self) -> bool {
        // `apply` reports it (below), so a create costs no read first
        true
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let spec = BranchParams::parse(params, Phase::Resolved)?;
        let repo = ctx.providers.repo(ctx.provider)?;
        repo.check_name(NameKind::Branch, "name", &spec.name)?;
        repo.check_name(NameKind::Branch, "base", &spec.base)
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "branch {}",
            BranchParams::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = BranchParams::parse(params, Phase::Resolved)?;
        let repo = ctx.providers.repo(ctx.provider)?;
        let branch = repo
            .get_branch(&spec.name)
            .await
            .map_err(in_resource(ctx))?;
        Ok(branch.map(|b| json!({ "name": b.name, "head": b.head })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = BranchParams::parse(params, Phase::Resolved)?;
        let repo = ctx.providers.repo(ctx.provider)?;
        let ensured = repo
            .ensure_branch(&spec.name, &spec.base)
            .await
            .map_err(in_resource(ctx))?;
        // For providers that do not report it themselves (the first report counts): a branch
        // the call did not create existed.
        provisio::existence::found(ensured.outcome != Outcome::Created);
        Ok(Applied {
            outputs: json!({ "name": ensured.value.name, "head": ensured.value.head }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = BranchParams::parse(params, Phase::Resolved)?;
        let repo = ctx.providers.repo(ctx.provider)?;
        repo.delete_branch(&spec.name)
            .await
            .map_err(in_resource(ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// repo.files
// ---------------------------------------------------------------------------------------------

/// `repo.files`: files committed to a branch as one commit (config.yml, nginx.conf,
/// docker-compose.yml rendered for the tenant). Files not named are left alone; nothing is
/// committed when every file already has its content.
///
/// Parameters:
/// - `branch` (required): the branch, usually `${dev_branch.name}`; it must exist.
/// - `files` (required): `{path: text}`, paths relative to the repository root.
/// - `message` (default `provisio: update <paths>`): the commit message.
/// - `author` (default `{name: provisio, email: provisio@localhost}`): `{name, email}`.
///
/// Outputs: `branch`, `head` (the commit after writing). `read` reports the resource missing
/// when a file no longer has its content, so that the plan writes it again.
/// Delete writes nothing: the files go with their branch.
///
/// ```yaml
/// dev_config:
///   type: repo.files
///   provider: config_repo
///   params:
///     branch: ${dev_branch.name}
///     message: "Configure ${tenant.name}"
///     author: { name: Automator, email: automator@example.com }
///     files:
///       config.yml: |
///         tenant: ${tenant.name}
///         host: ${web_dns.fqdn}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RepoFiles;

/// The parameters of `repo.files` (see [`RepoFiles`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesParams {
    branch: String,
    files: BTreeMap<String, String>,
    message: Option<String>,
    author: Option<AuthorParams>,
}

/// `repo.files`' `author`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorParams {
    name: String,
    email: String,
}

impl TypedParams for FilesParams {
    const TYPE: &'static str = "repo.files";
    const REPLACE: &'static [&'static str] = &["branch"];
    type Spec = CommitSpec;

    fn check(self, phase: Phase) -> Result<CommitSpec> {
        let branch = phase.name("branch", &self.branch, validate::git_branch_name)?;
        let files = self.files;
        if files.is_empty() {
            return Err(Error::invalid_field("files", "must name at least one file"));
        }
        for path in files.keys() {
            phase.name("files", path, |f, v| {
                validate::repo_file_path(&params::entry(f, v), v)
            })?;
        }
        let message = match self.message {
            Some(m) if m.trim().is_empty() => {
                return Err(Error::invalid_field("message", "must not be empty"));
            }
            Some(m) => m,
            None => format!(
                "provisio: update {}",
                files.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        let author = match self.author {
            None => Author {
                name: "provisio".into(),
                email: "provisio@localhost".into(),
            },
            Some(a) => {
                let bad = |s: &str| s.trim().is_empty() || s.contains(['<', '>', '\n']);
                if bad(&a.name) {
                    return Err(Error::invalid_field(
                        "author.name",
                        "must be non-empty, without '<', '>' or newlines",
                    ));
                }
                if (bad(&a.email) || !a.email.contains('@')) && !phase.unresolved(&a.email) {
                    return Err(Error::invalid_field(
                        "author.email",
                        format!("{:?} is not an e-mail address", a.email),
                    ));
                }
                Author {
                    name: a.name,
                    email: a.email,
                }
            }
        };
        Ok(CommitSpec {
            branch,
            files: files
                .into_iter()
                .map(|(k, v)| (k, Bytes::from(v)))
                .collect::<BTreeMap<_, _>>(),
            message,
            author,
        })
    }
}

#[provisio::async_trait]
impl ResourceType for RepoFiles {
    fn name(&self) -> &str {
        "repo.files"
    }

    fn capability(&self) -> Capability {
        Capability::Repo
    }

    fn validate(&self, params: &Value) -> Result<()> {
        FilesParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        FilesParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["branch", "head"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        // other commits to the branch move it; changed files make `read` report the
        // resource missing, which is drift
        &["head"]
    }

    fn reports_existence(&self) -> bool {
        // `apply` reports it (below), so a write costs no read first
        true
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let spec = FilesParams::parse(params, Phase::Resolved)?;
        ctx.providers
            .repo(ctx.provider)?
            .check_name(NameKind::Branch, "branch", &spec.branch)
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let spec = FilesParams::parse(params, Phase::Resolved)?;
        let paths: Vec<&str> = spec.files.keys().map(String::as_str).collect();
        Ok(format!("files {}:{}", spec.branch, paths.join(",")))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = FilesParams::parse(params, Phase::Resolved)?;
        let repo = ctx.providers.repo(ctx.provider)?;
        // every file at one head, in one request where the provider can
        let paths: Vec<String> = spec.files.keys().cloned().collect();
        let Some(read) = repo
            .read_files(&spec.branch, &paths)
            .await
            .map_err(in_resource(ctx))?
        else {
            return Ok(None);
        };
        for (path, want) in &spec.files {
            if read.files.get(path).and_then(Option::as_ref) != Some(want) {
                return Ok(None);
            }
        }
        Ok(Some(
            json!({ "branch": read.branch.name, "head": read.branch.head }),
        ))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = FilesParams::parse(params, Phase::Resolved)?;
        let repo = ctx.providers.repo(ctx.provider)?;
        // write_files compares contents and commits only what differs: a retry after a crash
        // finds the files written and makes no second commit.
        let ensured = repo.write_files(&spec).await.map_err(in_resource(ctx))?;
        // For providers that do not report it themselves (the first report counts): files the
        // call did not have to write were there.
        provisio::existence::found(ensured.outcome == Outcome::Unchanged);
        Ok(Applied {
            outputs: json!({ "branch": ensured.value.name, "head": ensured.value.head }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        _ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        FilesParams::parse(params, Phase::Resolved)?;
        // Nothing to write: the files go with their branch (`repo.branch`'s delete), and a
        // commit removing them from a branch that is about to be deleted would be noise.
        Ok(Deleted::AlreadyGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, check_outputs, lifecycle, rejects};
    use provisio::Repository;

    #[test]
    fn validates_params() {
        RepoBranch.validate(&json!({"name": "dev-acme"})).unwrap();
        RepoBranch
            .validate(&json!({"name": "dev-${tenant.name}", "base": "main"}))
            .unwrap();
        rejects(RepoBranch.validate(&json!({"name": "a..b"})), "name");
        rejects(RepoBranch.validate(&json!({"name": "main"})), "name");
        rejects(
            RepoBranch.validate(&json!({"name": "x", "base": "a b"})),
            "base",
        );
        RepoFiles
            .validate(&json!({"branch": "acme", "files": {"config.yml": "a: ${tenant.name}"}}))
            .unwrap();
        rejects(RepoFiles.validate(&json!({"branch": "acme"})), "files");
        rejects(
            RepoFiles.validate(&json!({"branch": "acme", "files": {"../x": "a"}})),
            "files",
        );
        rejects(
            RepoFiles.validate(&json!({"branch": "acme", "files": {".git/config": "a"}})),
            "files",
        );
        rejects(
            RepoFiles
                .validate(&json!({"branch": "acme", "files": {"a": "b"}, "author": {"name": "x"}})),
            "author.email",
        );
        rejects(
            RepoFiles.validate(&json!({"branch": "acme", "files": {"a": "b"}, "author": {"name": "x", "email": "nope"}})),
            "author.email",
        );
    }

    #[tokio::test]
    async fn branch_lifecycle() {
        let h = Harness::new();
        let ctx = h.ctx("dev_branch", "tok");
        let out = lifecycle(&RepoBranch, &ctx, &json!({"name": "dev-acme"})).await;
        assert_eq!(out["name"], "dev-acme");
        let main = h.cloud.repo.get_branch("main").await.unwrap().unwrap();
        assert_eq!(out["head"], main.head.as_str());
    }

    /// Both types report whether what they ensure existed (the engine then reads nothing
    /// before a create), whatever the provider reports itself.
    #[tokio::test]
    async fn apply_reports_existence() {
        use provisio::existence::{Existence, watched};
        use std::sync::Arc;
        let h = Harness::new();
        let ctx = h.ctx("dev_branch", "tok");
        assert!(RepoBranch.reports_existence() && RepoFiles.reports_existence());
        let files = json!({"branch": "dev-acme", "files": {"config.yml": "tenant: acme\n"}});
        for expected in [false, true] {
            let seen = Arc::new(Existence::default());
            watched(
                seen.clone(),
                RepoBranch.apply(&ctx, &json!({"name": "dev-acme"}), None),
            )
            .await
            .unwrap();
            assert_eq!(seen.get(), Some(expected), "repo.branch");
            let seen = Arc::new(Existence::default());
            watched(seen.clone(), RepoFiles.apply(&ctx, &files, None))
                .await
                .unwrap();
            assert_eq!(seen.get(), Some(expected), "repo.files");
        }
    }

    #[tokio::test]
    async fn files_lifecycle() {
        let h = Harness::new();
        let ctx = h.ctx("dev_config", "tok");
        RepoBranch
            .apply(&ctx, &json!({"name": "dev-acme"}), None)
            .await
            .unwrap();
        let params = json!({"branch": "dev-acme", "message": "Configure acme",
            "files": {"config.yml": "tenant: acme\n", "nginx/nginx.conf": "server {}\n"}});
        let t = RepoFiles;
        t.validate(&params).unwrap();
        assert_eq!(t.read(&ctx, &params, None).await.unwrap(), None);
        let a = t.apply(&ctx, &params, None).await.unwrap();
        assert!(a.outcome.changed());
        check_outputs(&t, &a.outputs);
        let again = t.apply(&ctx, &params, Some(&a.outputs)).await.unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(again.outputs, a.outputs);
        assert_eq!(
            t.read(&ctx, &params, Some(&a.outputs)).await.unwrap(),
            Some(a.outputs.clone())
        );
        assert_eq!(
            h.cloud
                .repo
                .read_file("dev-acme", "config.yml")
                .await
                .unwrap()
                .unwrap()
                .as_ref(),
            b"tenant: acme\n"
        );
        assert_eq!(
            t.delete(&ctx, &params, &a.outputs).await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(
            t.delete(&ctx, &params, &a.outputs).await.unwrap(),
            Deleted::AlreadyGone
        );
        // Drift: someone changed a file; read says "missing" and apply restores it.
        let mut drifted = params.clone();
        drifted["files"]["config.yml"] = json!("tenant: other\n");
        t.apply(&ctx, &drifted, None).await.unwrap();
        assert_eq!(t.read(&ctx, &params, None).await.unwrap(), None);
        assert!(
            t.apply(&ctx, &params, None)
                .await
                .unwrap()
                .outcome
                .changed()
        );
    }
}
