//! Conformance cases for [`CiServer`].
//!
//! Every case works in a fresh folder `<CiContext::folder>/<unique>` (or, on a server without
//! folders, with fresh top-level job names) and deletes it at the end.

use crate::{Tracker, expect_invalid, expect_kind, expect_unsupported, first_error, guarded};
use provisio::ci::Linked;
use provisio::{CiServer, Deleted, ErrorKind, Outcome, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// What the CI cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiContext {
    /// The folder the cases work in, e.g. `provisio-tests`; created when missing. Empty: work at
    /// the top level (required when the server has no folders).
    pub folder: String,
    /// How long to wait for a build to finish.
    pub build_timeout: Duration,
}

impl CiContext {
    /// Work under `folder`, waiting up to two minutes for builds.
    pub fn new(folder: impl Into<String>) -> Self {
        CiContext {
            folder: folder.into(),
            build_timeout: Duration::from_secs(120),
        }
    }
    /// The same with another build timeout.
    pub fn with_build_timeout(mut self, build_timeout: Duration) -> Self {
        self.build_timeout = build_timeout;
        self
    }
}

/// Every CI case by name.
pub const CASES: &[crate::Case<dyn CiServer, CiContext>] = crate::ci_conformance!(@table);

/// Generates one `#[test]` per CI case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::ci_conformance! {
///     provider: my_jenkins(),
///     context: provisio_testkit::ci::CiContext::new("provisio-tests"),
/// }
/// ```
#[macro_export]
macro_rules! ci_conformance {
    (@table) => { $crate::ci_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* ci [
            folder_and_job_happy_path,
            ensure_job_is_idempotent,
            update_job_config,
            delete_is_idempotent,
            job_in_missing_folder,
            not_found,
            build,
            invalid_names,
            capability_honesty,
            downstream_add_remove,
            downstream_concurrent_adds,
            downstream_replaced_with_the_job,
            downstream_missing_and_invalid,
        ] }
    };
    ($($setup:tt)*) => { $crate::ci_conformance!(@cases @tests { $($setup)* }); };
}

/// A freestyle job with one string parameter; `marker` goes into the description so the
/// configuration can be recognised when read back (servers may reformat the XML).
pub fn job_xml(marker: &str) -> String {
    format!(
        "<?xml version='1.1' encoding='UTF-8'?>\n\
<project>\n\
  <description>{marker}</description>\n\
  <keepDependencies>false</keepDependencies>\n\
  <properties>\n\
    <hudson.model.ParametersDefinitionProperty>\n\
      <parameterDefinitions>\n\
        <hudson.model.StringParameterDefinition>\n\
          <name>TENANT</name>\n\
          <defaultValue>none</defaultValue>\n\
        </hudson.model.StringParameterDefinition>\n\
      </parameterDefinitions>\n\
    </hudson.model.ParametersDefinitionProperty>\n\
  </properties>\n\
  <scm class=\"hudson.scm.NullSCM\"/>\n\
  <canRoam>true</canRoam>\n\
  <disabled>false</disabled>\n\
  <blockBuildWhenDownstreamBuilding>false</blockBuildWhenDownstreamBuilding>\n\
  <blockBuildWhenUpstreamBuilding>false</blockBuildWhenUpstreamBuilding>\n\
  <triggers/>\n\
  <concurrentBuild>false</concurrentBuild>\n\
  <builders/>\n\
  <publishers/>\n\
  <buildWrappers/>\n\
</project>\n"
    )
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// The case's own folder (created), or the top level when the server has no folders.
async fn workspace(ci: &dyn CiServer, ctx: &CiContext, made: &Tracker) -> Result<String> {
    if !ci.capabilities().folders {
        assert!(
            ctx.folder.is_empty(),
            "the server has no folders, so CiContext::folder must be empty (is {:?})",
            ctx.folder
        );
        return Ok(String::new());
    }
    if !ctx.folder.is_empty() {
        ci.ensure_folder(&ctx.folder).await?;
    }
    let folder = join(&ctx.folder, &crate::unique("ci"));
    made.add(folder.clone());
    let ensured = ci.ensure_folder(&folder).await?;
    assert_eq!(
        ensured.outcome,
        Outcome::Created,
        "ensure_folder of a new folder"
    );
    assert_eq!(
        ensured.value, folder,
        "ensure_folder returns the folder's path"
    );
    Ok(folder)
}

/// Deletes what a case made, the newest first (jobs before their folders).
async fn remove_all(ci: &dyn CiServer, made: &Tracker) -> Result<()> {
    let mut results = Vec::new();
    for path in made.all().iter().rev() {
        results.push(ci.delete_job(path).await.map(|_| ()));
    }
    first_error(results)
}

fn assert_config_has(config: &Option<String>, marker: &str, what: &str) {
    let config = config
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: get_job_config returned None"));
    assert!(
        config.contains(&format!("<description>{marker}</description>")),
        "{what}: the configuration read back lacks the description {marker:?}:\n{config}"
    );
}

/// Creates a folder (twice: `Created`, then `Unchanged`) and a job in it, and reads the job's
/// configuration back.
pub async fn folder_and_job_happy_path(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            if !folder.is_empty() {
                let again = ci.ensure_folder(&folder).await?;
                assert_eq!(again.outcome, Outcome::Unchanged, "second ensure_folder");
                assert_eq!(again.value, folder, "second ensure_folder's path");
            }
            let path = join(&folder, "deploy");
            let marker = crate::unique("marker");
            made.add(path.clone());
            let job = ci.ensure_job(&path, &job_xml(&marker)).await?;
            assert_eq!(job.outcome, Outcome::Created, "ensure_job of a new job");
            assert_eq!(job.value.path, path, "ensure_job's job path");
            let config = ci.get_job_config(&path).await?;
            assert_config_has(&config, &marker, "the new job");
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// The same job configuration twice: the second ensure is `Unchanged`.
pub async fn ensure_job_is_idempotent(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let path = join(&folder, &crate::unique("job"));
            made.add(path.clone());
            let marker = crate::unique("marker");
            let xml = job_xml(&marker);
            let first = ci.ensure_job(&path, &xml).await?;
            assert_eq!(first.outcome, Outcome::Created, "first ensure_job");
            let second = ci.ensure_job(&path, &xml).await?;
            assert_eq!(
                second.outcome,
                Outcome::Unchanged,
                "second ensure_job with the same XML"
            );
            assert_eq!(
                second.value, first.value,
                "the unchanged job differs from the created one"
            );
            assert_config_has(
                &ci.get_job_config(&path).await?,
                &marker,
                "after two ensures",
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// A changed configuration is `Updated` and reads back.
pub async fn update_job_config(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let path = join(&folder, &crate::unique("job"));
            made.add(path.clone());
            let before = crate::unique("before");
            let after = crate::unique("after");
            ci.ensure_job(&path, &job_xml(&before)).await?;
            let updated = ci.ensure_job(&path, &job_xml(&after)).await?;
            assert_eq!(
                updated.outcome,
                Outcome::Updated,
                "ensure_job with a changed configuration"
            );
            assert_eq!(updated.value.path, path, "the updated job's path");
            let config = ci.get_job_config(&path).await?;
            assert_config_has(&config, &after, "the updated job");
            assert!(
                !config.unwrap_or_default().contains(&before),
                "the updated configuration still holds the old description"
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// Deleting a job twice: `Deleted`, then `AlreadyGone`; the job's configuration is gone. The
/// folder deletes the same way.
pub async fn delete_is_idempotent(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let path = join(&folder, &crate::unique("job"));
            made.add(path.clone());
            ci.ensure_job(&path, &job_xml("to be deleted")).await?;
            assert_eq!(
                ci.delete_job(&path).await?,
                Deleted::Deleted,
                "first delete_job"
            );
            assert_eq!(
                ci.delete_job(&path).await?,
                Deleted::AlreadyGone,
                "second delete_job"
            );
            let config = ci.get_job_config(&path).await?;
            assert!(
                config.is_none(),
                "get_job_config of a deleted job returned {config:?}"
            );
            if !folder.is_empty() {
                assert_eq!(
                    ci.delete_job(&folder).await?,
                    Deleted::Deleted,
                    "delete_job of the folder"
                );
                assert_eq!(
                    ci.delete_job(&folder).await?,
                    Deleted::AlreadyGone,
                    "second delete_job of the folder"
                );
            }
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// A job in a folder that does not exist is `NotFound` (folders are not created implicitly by
/// `ensure_job`), and nothing is created.
pub async fn job_in_missing_folder(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    if !ci.capabilities().folders {
        let err = ci.ensure_folder(&crate::unique("ci")).await;
        expect_unsupported(err, "ensure_folder");
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let missing = join(&folder, &crate::unique("missing"));
            let path = join(&missing, "job");
            made.add(missing.clone());
            let err = ci.ensure_job(&path, &job_xml("orphan")).await;
            expect_kind(
                err,
                ErrorKind::NotFound,
                "ensure_job in a folder that does not exist",
            );
            let config = ci.get_job_config(&path).await?;
            assert!(config.is_none(), "a refused ensure_job created {path}");
            assert_eq!(
                ci.delete_job(&missing).await?,
                Deleted::AlreadyGone,
                "the refused ensure_job created the missing folder"
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// Reads and builds of missing jobs: `get_job_config` is `None`, `trigger_build` is `NotFound`,
/// `delete_job` is `AlreadyGone`.
pub async fn not_found(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let path = join(&ctx.folder, &crate::unique("nojob"));
    let config = ci.get_job_config(&path).await?;
    assert!(
        config.is_none(),
        "get_job_config of a missing job returned {config:?}"
    );
    let err = ci.trigger_build(&path, &BTreeMap::new()).await;
    expect_kind(err, ErrorKind::NotFound, "trigger_build of a missing job");
    assert_eq!(
        ci.delete_job(&path).await?,
        Deleted::AlreadyGone,
        "delete_job of a missing job"
    );
    Ok(())
}

/// Two builds of one job get increasing numbers, and each finishes with a result.
pub async fn build(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let path = join(&folder, &crate::unique("build"));
            made.add(path.clone());
            ci.ensure_job(&path, &job_xml("conformance build")).await?;
            let mut params = BTreeMap::new();
            if ci.capabilities().parameters {
                params.insert("TENANT".to_string(), "acme".to_string());
            }
            let first = ci.trigger_build(&path, &params).await?;
            assert_eq!(first.job, path, "trigger_build's job path");
            assert!(
                first.number >= 1,
                "build numbers start at 1, got {}",
                first.number
            );
            let result = ci.wait_for_build(&first, ctx.build_timeout).await?;
            assert_eq!(
                result,
                provisio::ci::BuildResult::Success,
                "an empty freestyle job should build successfully"
            );
            let second = ci.trigger_build(&path, &params).await?;
            assert!(
                second.number > first.number,
                "the second build's number {} is not above the first's {}",
                second.number,
                first.number
            );
            ci.wait_for_build(&second, ctx.build_timeout).await?;
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// Unsafe job and folder names are `InvalidInput` naming the field, and create nothing.
pub async fn invalid_names(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            for bad in ["bad?name", "semi;colon", "trailing.", ".."] {
                let path = join(&folder, bad);
                let err = ci.ensure_job(&path, &job_xml("bad")).await;
                expect_invalid(err, "job", &format!("ensure_job({path:?})"));
            }
            let err = ci.ensure_job("", &job_xml("bad")).await;
            expect_invalid(err, "job", "ensure_job with an empty path");
            if ci.capabilities().folders {
                let path = join(&folder, "a//b");
                let err = ci.ensure_folder(&path).await;
                expect_invalid(err, "folder", &format!("ensure_folder({path:?})"));
            }
            let probe = join(&folder, "bad");
            let config = ci.get_job_config(&probe).await?;
            assert!(
                config.is_none(),
                "a refused call created {probe}: {config:?}"
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// What the capabilities deny is `Unsupported`: folders on a server without them, and
/// downstream lists on a server without them.
pub async fn capability_honesty(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    let caps = ci.capabilities();
    if !caps.downstream {
        let job = join(&ctx.folder, &crate::unique("job"));
        expect_unsupported(ci.downstream_jobs(&job).await, "downstream_jobs");
        expect_unsupported(ci.add_downstream(&job, "x").await, "add_downstream");
        expect_unsupported(ci.remove_downstream(&job, "x").await, "remove_downstream");
    }
    if !caps.folders {
        let err = ci.ensure_folder(&crate::unique("ci")).await;
        expect_unsupported(err, "ensure_folder");
        return Ok(());
    }
    // Folders are supported: nested folders are created with their parents.
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let nested = join(&join(&folder, "outer"), "inner");
            made.add(join(&folder, "outer"));
            made.add(nested.clone());
            let ensured = ci.ensure_folder(&nested).await?;
            assert_eq!(
                ensured.outcome,
                Outcome::Created,
                "ensure_folder of nested folders"
            );
            let job = join(&nested, "job");
            made.add(job.clone());
            let made_job = ci.ensure_job(&job, &job_xml("nested")).await?;
            assert_eq!(
                made_job.outcome,
                Outcome::Created,
                "ensure_job in a nested folder"
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// Whether the server keeps downstream lists; when it does not, checks that the operations
/// say so and the case has nothing more to do.
async fn skip_without_downstream(ci: &dyn CiServer, ctx: &CiContext) -> bool {
    if ci.capabilities().downstream {
        return false;
    }
    let job = join(&ctx.folder, &crate::unique("job"));
    expect_unsupported(ci.add_downstream(&job, "x").await, "add_downstream");
    true
}

/// The downstream list of `job`, which must exist.
async fn listed(ci: &dyn CiServer, job: &str, what: &str) -> Result<Vec<String>> {
    let jobs = ci.downstream_jobs(job).await?;
    Ok(jobs.unwrap_or_else(|| panic!("{what}: downstream_jobs({job:?}) returned None")))
}

fn linked(was_listed: bool, changed: bool) -> Option<Linked> {
    Some(Linked {
        was_listed,
        changed,
    })
}

/// Adding to and removing from a job's downstream list: idempotent both ways, order kept, the
/// other entries and the rest of the configuration untouched; the downstream jobs need not
/// exist.
pub async fn downstream_add_remove(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    if skip_without_downstream(ci, ctx).await {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let umbrella = join(&folder, &crate::unique("umbrella"));
            made.add(umbrella.clone());
            let marker = crate::unique("umbrella");
            ci.ensure_job(&umbrella, &job_xml(&marker)).await?;
            assert_eq!(
                listed(ci, &umbrella, "a new job").await?,
                Vec::<String>::new(),
                "a new job from job_xml triggers nothing"
            );
            let a = join(&folder, "tenant-a/build");
            let b = join(&folder, "tenant-b/build");
            assert_eq!(
                ci.add_downstream(&umbrella, &a).await?,
                linked(false, true),
                "add_downstream of a new entry"
            );
            assert_eq!(
                ci.add_downstream(&umbrella, &b).await?,
                linked(false, true),
                "add_downstream of a second entry"
            );
            assert_eq!(
                ci.add_downstream(&umbrella, &a).await?,
                linked(true, false),
                "add_downstream of a listed entry"
            );
            assert_eq!(
                listed(ci, &umbrella, "after two adds").await?,
                [a.as_str(), b.as_str()],
                "the list after adding a, b, a"
            );
            assert_config_has(
                &ci.get_job_config(&umbrella).await?,
                &marker,
                "the job after adding downstream jobs",
            );
            assert_eq!(
                ci.remove_downstream(&umbrella, &a).await?,
                linked(true, true),
                "remove_downstream of a listed entry"
            );
            assert_eq!(
                ci.remove_downstream(&umbrella, &a).await?,
                linked(false, false),
                "remove_downstream of an entry already gone"
            );
            assert_eq!(
                listed(ci, &umbrella, "after the removal").await?,
                std::slice::from_ref(&b),
                "removing a keeps b"
            );
            assert_eq!(
                ci.remove_downstream(&umbrella, &b).await?,
                linked(true, true),
                "remove_downstream of the last entry"
            );
            assert_eq!(
                listed(ci, &umbrella, "after removing everything").await?,
                Vec::<String>::new(),
                "the list after removing every entry"
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// Many adds to one job at once (tenants launched in parallel): every one sticks.
pub async fn downstream_concurrent_adds(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    if skip_without_downstream(ci, ctx).await {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let umbrella = join(&folder, &crate::unique("umbrella"));
            made.add(umbrella.clone());
            ci.ensure_job(&umbrella, &job_xml("concurrent umbrella"))
                .await?;
            let tenants: Vec<String> = (0..6)
                .map(|i| join(&folder, &format!("t{i}-build")))
                .collect();
            let results =
                futures::future::join_all(tenants.iter().map(|t| ci.add_downstream(&umbrella, t)))
                    .await;
            for (t, r) in tenants.iter().zip(results) {
                assert_eq!(r?, linked(false, true), "the concurrent add of {t}");
            }
            let mut got = listed(ci, &umbrella, "after concurrent adds").await?;
            got.sort();
            assert_eq!(got, tenants, "every concurrent add is listed");
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// `ensure_job` with a configuration that lists no downstream jobs replaces the job's list
/// (the configuration holds it), and is then `Updated`.
pub async fn downstream_replaced_with_the_job(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    if skip_without_downstream(ci, ctx).await {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let umbrella = join(&folder, &crate::unique("umbrella"));
            made.add(umbrella.clone());
            let xml = job_xml("replaced umbrella");
            ci.ensure_job(&umbrella, &xml).await?;
            ci.add_downstream(&umbrella, &join(&folder, "t-build"))
                .await?;
            let again = ci.ensure_job(&umbrella, &xml).await?;
            assert_eq!(
                again.outcome,
                Outcome::Updated,
                "ensure_job of the original configuration of a job with a downstream job"
            );
            assert_eq!(
                listed(ci, &umbrella, "after ensure_job").await?,
                Vec::<String>::new(),
                "ensure_job replaces the downstream list with the configuration's (none)"
            );
            assert_eq!(
                ci.ensure_job(&umbrella, &xml).await?.outcome,
                Outcome::Unchanged,
                "ensure_job once more"
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}

/// A missing job is `None` for all three operations (nothing is created); a folder is
/// `Conflict`; unsafe names are `InvalidInput` naming the field, and so is a downstream job
/// with a `,` (Jenkins keeps the list as comma-separated text).
pub async fn downstream_missing_and_invalid(ci: &dyn CiServer, ctx: &CiContext) -> Result<()> {
    if skip_without_downstream(ci, ctx).await {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let folder = workspace(ci, ctx, &made).await?;
            let missing = join(&folder, &crate::unique("nojob"));
            let target = join(&folder, "t-build");
            assert_eq!(
                ci.downstream_jobs(&missing).await?,
                None,
                "downstream_jobs of a missing job"
            );
            assert_eq!(
                ci.add_downstream(&missing, &target).await?,
                None,
                "add_downstream to a missing job"
            );
            assert_eq!(
                ci.remove_downstream(&missing, &target).await?,
                None,
                "remove_downstream from a missing job"
            );
            assert!(
                ci.get_job_config(&missing).await?.is_none(),
                "add_downstream created {missing}"
            );
            if !folder.is_empty() {
                let err = ci.add_downstream(&folder, &target).await;
                expect_kind(err, ErrorKind::Conflict, "add_downstream to a folder");
                let err = ci.downstream_jobs(&folder).await;
                expect_kind(err, ErrorKind::Conflict, "downstream_jobs of a folder");
            }
            let umbrella = join(&folder, &crate::unique("umbrella"));
            made.add(umbrella.clone());
            ci.ensure_job(&umbrella, &job_xml("invalid names")).await?;
            for bad in ["bad?name", "a,b", ""] {
                let err = ci.add_downstream(&umbrella, bad).await;
                expect_invalid(err, "downstream", &format!("add_downstream(_, {bad:?})"));
            }
            let err = ci.add_downstream("bad?job", &target).await;
            expect_invalid(err, "job", "add_downstream to an unsafe job path");
            assert_eq!(
                listed(ci, &umbrella, "after refused adds").await?,
                Vec::<String>::new(),
                "a refused add_downstream changed the list"
            );
            Ok(())
        },
        remove_all(ci, &made),
    )
    .await
}
