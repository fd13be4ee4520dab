//! `ci.folder`, `ci.job` and `ci.downstream`: Jenkins folders, jobs created from XML, and the
//! references from umbrella jobs to a tenant's jobs.

use super::params::{Phase, TypedParams};
use super::{ci_xml, in_resource};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::{CiServer, Deleted, Error, Outcome, Result, validate};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

// ---------------------------------------------------------------------------------------------
// ci.folder
// ---------------------------------------------------------------------------------------------

/// `ci.folder`: a folder (and its parents).
///
/// Parameters:
/// - `path` (required): the folder path, e.g. `tenants/acme`.
///
/// Outputs: `path`. Changing `path` replaces the folder. Deleting a folder deletes everything
/// in it on the CI server, so delete the jobs in it first (make them depend on the folder).
///
/// ```yaml
/// ci_folder:
///   type: ci.folder
///   provider: jenkins
///   params:
///     path: tenants/${tenant.name}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CiFolder;

/// The parameters of `ci.folder` (see [`CiFolder`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderParams {
    path: String,
}

impl TypedParams for FolderParams {
    const TYPE: &'static str = "ci.folder";
    const REPLACE: &'static [&'static str] = &["path"];
    /// The folder's path.
    type Spec = String;

    fn check(self, phase: Phase) -> Result<String> {
        phase.name("path", &self.path, validate::jenkins_job_path)
    }
}

#[provisio::async_trait]
impl ResourceType for CiFolder {
    fn name(&self) -> &str {
        "ci.folder"
    }

    fn capability(&self) -> Capability {
        Capability::Ci
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        FolderParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        FolderParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["path"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "folder {}",
            FolderParams::parse(params, Phase::Resolved)?
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let path = FolderParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        let config = ci.get_job_config(&path).await.map_err(in_resource(ctx))?;
        Ok(config.map(|_| json!({ "path": path })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let path = FolderParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        let ensured = ci.ensure_folder(&path).await.map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: json!({ "path": ensured.value }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let path = FolderParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        ci.delete_job(&path).await.map_err(in_resource(ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// ci.job
// ---------------------------------------------------------------------------------------------

/// `ci.job`: a job created from a config.xml (rendered from a template by the caller or by
/// interpolation).
///
/// Parameters:
/// - `path` (required): the job path, e.g. `tenants/acme/build`; its folder must exist.
/// - `config_xml` (required): the job's config.xml; must be well-formed XML.
///
/// Outputs: `path`, `url` (`null` where the server reports none). Changing `path` replaces the
/// job; changing `config_xml` updates it in place.
///
/// ```yaml
/// build_job:
///   type: ci.job
///   provider: jenkins
///   params:
///     path: ${ci_folder.path}/build
///     config_xml: |
///       <project>
///         <description>Builds ${tenant.name}</description>
///         <builders/>
///       </project>
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CiJob;

struct JobSpec {
    path: String,
    config_xml: String,
}

/// The parameters of `ci.job` (see [`CiJob`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JobParams {
    path: String,
    config_xml: String,
}

impl TypedParams for JobParams {
    const TYPE: &'static str = "ci.job";
    const REPLACE: &'static [&'static str] = &["path"];
    type Spec = JobSpec;

    fn check(self, phase: Phase) -> Result<JobSpec> {
        let path = phase.name("path", &self.path, validate::jenkins_job_path)?;
        let config_xml = self.config_xml;
        // A reference may be spliced into the XML later; check what can be checked now.
        // Jenkins configs often hold `${BUILD_NUMBER}`-style text, which is well-formed either
        // way.
        if let Err(e) = ci_xml::child_projects(&config_xml)
            && !phase.unresolved(&config_xml)
        {
            return Err(Error::invalid_field("config_xml", e.message()));
        }
        Ok(JobSpec { path, config_xml })
    }
}

#[provisio::async_trait]
impl ResourceType for CiJob {
    fn name(&self) -> &str {
        "ci.job"
    }

    fn capability(&self) -> Capability {
        Capability::Ci
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        JobParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        JobParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["path", "url"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "job {}",
            JobParams::parse(params, Phase::Resolved)?.path
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = JobParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        let config = ci
            .get_job_config(&spec.path)
            .await
            .map_err(in_resource(ctx))?;
        // Reading a config does not return the URL; keep the one recorded at apply.
        let url = prior
            .and_then(|p| p.get("url"))
            .cloned()
            .unwrap_or(Value::Null);
        Ok(config.map(|_| json!({ "path": spec.path, "url": url })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = JobParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        let ensured = ci
            .ensure_job(&spec.path, &spec.config_xml)
            .await
            .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: json!({ "path": ensured.value.path, "url": ensured.value.url }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = JobParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        ci.delete_job(&spec.path).await.map_err(in_resource(ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// ci.downstream
// ---------------------------------------------------------------------------------------------

/// `ci.downstream`: a reference from an umbrella job (which builds every tenant) to one of
/// this tenant's jobs, in the umbrella job's "build other projects" publisher
/// (`hudson.tasks.BuildTrigger`'s `childProjects`).
///
/// Parameters:
/// - `job` (required): the umbrella job's path, e.g. `umbrella/build-all`.
/// - `downstream` (required): the job path to add to its list, e.g. `${build_job.path}`.
///
/// Outputs: `job`, `downstream`. Changing either replaces the reference.
///
/// `apply` reads the umbrella job's config.xml, adds the reference (see [`ci_xml`]: the rest
/// of the document is kept byte-for-byte) and writes it back only when it changed; `delete`
/// removes the reference and nothing else. Many tenants edit the same umbrella job, so the
/// read-modify-write is serialized per job within this process, and after writing the job is
/// read again to check that a concurrent writer elsewhere did not drop the change (if it did,
/// the edit is redone).
///
/// ```yaml
/// umbrella_ref:
///   type: ci.downstream
///   provider: jenkins
///   params:
///     job: umbrella/build-all
///     downstream: ${build_job.path}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CiDownstream;

/// How often an edit lost to a concurrent writer is redone before giving up.
const EDIT_ATTEMPTS: usize = 5;

struct DownstreamSpec {
    job: String,
    downstream: String,
}

/// The parameters of `ci.downstream` (see [`CiDownstream`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DownstreamParams {
    job: String,
    downstream: String,
}

impl TypedParams for DownstreamParams {
    const TYPE: &'static str = "ci.downstream";
    const REPLACE: &'static [&'static str] = &["job", "downstream"];
    type Spec = DownstreamSpec;

    fn check(self, phase: Phase) -> Result<DownstreamSpec> {
        Ok(DownstreamSpec {
            job: phase.name("job", &self.job, validate::jenkins_job_path)?,
            downstream: phase.name("downstream", &self.downstream, validate::jenkins_job_path)?,
        })
    }
}

/// One lock per (CI account, umbrella job) for this process.
fn job_lock(key: String) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(key).or_default().clone()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Edit {
    Add,
    Remove,
}

/// Applies `edit` to the umbrella job. Returns `None` when the job does not exist, else
/// whether anything was written.
async fn edit_umbrella(
    ci: &dyn CiServer,
    ctx: &StepContext<'_>,
    spec: &DownstreamSpec,
    edit: Edit,
) -> Result<Option<bool>> {
    let account = ctx
        .providers
        .info(Capability::Ci, ctx.provider)
        .map(|i| i.account)
        .unwrap_or_default();
    let lock = job_lock(format!("{}\u{0}{account}\u{0}{}", ctx.provider, spec.job));
    let _guard = lock.lock().await;
    let mut wrote = false;
    let add = edit == Edit::Add;
    for attempt in 0..EDIT_ATTEMPTS {
        // The edit runs inside the provider's read-modify-write (atomic where the provider
        // can make it so); it reports whether the reference was there before the first write.
        let listed_before = std::sync::atomic::AtomicBool::new(false);
        let changed = ci
            .edit_job_config(&spec.job, &|config: &str| {
                let listed = ci_xml::child_projects(config)?
                    .iter()
                    .any(|p| p == &spec.downstream);
                listed_before.store(listed, std::sync::atomic::Ordering::SeqCst);
                if listed == add {
                    return Ok(None);
                }
                Ok(Some(if add {
                    ci_xml::add_child_project(config, &spec.downstream)?
                } else {
                    ci_xml::remove_child_project(config, &spec.downstream)?
                }))
            })
            .await?;
        let Some(changed) = changed else {
            return Ok(None);
        };
        if attempt == 0 && add {
            // the reference is this resource: it existed when it was listed
            provisio::existence::found(listed_before.load(std::sync::atomic::Ordering::SeqCst));
        }
        if !changed {
            return Ok(Some(wrote));
        }
        wrote = true;
        // Loop: read again through the same edit, which changes nothing when the write stuck
        // (a provider without an atomic edit may have let another writer in between).
    }
    Err(Error::conflict(format!(
        "the configuration of {:?} kept changing under us; {} of {:?} did not stick after {EDIT_ATTEMPTS} attempts",
        spec.job,
        if edit == Edit::Add { "the addition" } else { "the removal" },
        spec.downstream
    ))
    .with_resource(ctx.resource))
}

#[provisio::async_trait]
impl ResourceType for CiDownstream {
    fn name(&self) -> &str {
        "ci.downstream"
    }

    fn capability(&self) -> Capability {
        Capability::Ci
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        DownstreamParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        DownstreamParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["job", "downstream"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let s = DownstreamParams::parse(params, Phase::Resolved)?;
        Ok(format!("downstream {} -> {}", s.job, s.downstream))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let s = DownstreamParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        let Some(config) = ci.get_job_config(&s.job).await.map_err(in_resource(ctx))? else {
            return Ok(None);
        };
        let listed = ci_xml::child_projects(&config)
            .map_err(in_resource(ctx))?
            .contains(&s.downstream);
        Ok(listed.then(|| json!({ "job": s.job, "downstream": s.downstream })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let s = DownstreamParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        let wrote = edit_umbrella(ci.as_ref(), ctx, &s, Edit::Add)
            .await
            .map_err(in_resource(ctx))?
            .ok_or_else(|| {
                Error::not_found(format!("the umbrella job {:?} does not exist", s.job))
                    .with_resource(ctx.resource)
            })?;
        Ok(Applied {
            outputs: json!({ "job": s.job, "downstream": s.downstream }),
            outcome: if wrote {
                Outcome::Created
            } else {
                Outcome::Unchanged
            },
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let s = DownstreamParams::parse(params, Phase::Resolved)?;
        let ci = ctx.providers.ci(ctx.provider)?;
        let wrote = edit_umbrella(ci.as_ref(), ctx, &s, Edit::Remove)
            .await
            .map_err(in_resource(ctx))?;
        // A missing umbrella job references nothing.
        Ok(match wrote {
            Some(true) => Deleted::Deleted,
            Some(false) | None => Deleted::AlreadyGone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, lifecycle, rejects};

    const JOB_XML: &str =
        "<project>\n  <description>acme build</description>\n  <builders/>\n</project>";

    #[test]
    fn validates_params() {
        CiFolder.validate(&json!({"path": "tenants/acme"})).unwrap();
        CiFolder
            .validate(&json!({"path": "tenants/${tenant.name}"}))
            .unwrap();
        rejects(CiFolder.validate(&json!({"path": "tenants//acme"})), "path");
        rejects(CiFolder.validate(&json!({})), "path");
        CiJob
            .validate(&json!({"path": "tenants/acme/build", "config_xml": JOB_XML}))
            .unwrap();
        CiJob
            .validate(
                &json!({"path": "t/b", "config_xml": "<project><d>${tenant.name}</d></project>"}),
            )
            .unwrap();
        rejects(
            CiJob.validate(&json!({"path": "t/b", "config_xml": "<project>"})),
            "config_xml",
        );
        rejects(
            CiJob.validate(&json!({"path": "t/b?", "config_xml": JOB_XML})),
            "path",
        );
        CiDownstream
            .validate(&json!({"job": "umbrella/all", "downstream": "${build_job.path}"}))
            .unwrap();
        rejects(
            CiDownstream.validate(&json!({"job": "umbrella/all"})),
            "downstream",
        );
        rejects(
            CiDownstream.validate(&json!({"job": "umbrella/all", "downstream": "a<b"})),
            "downstream",
        );
    }

    #[tokio::test]
    async fn folder_and_job_lifecycles() {
        let h = Harness::new();
        let ctx = h.ctx("ci_folder", "tok");
        let out = lifecycle(&CiFolder, &ctx, &json!({"path": "tenants/acme"})).await;
        assert_eq!(out, json!({"path": "tenants/acme"}));

        CiFolder
            .apply(&ctx, &json!({"path": "tenants/acme"}), None)
            .await
            .unwrap();
        let ctx = h.ctx("build_job", "tok");
        let params = json!({"path": "tenants/acme/build", "config_xml": JOB_XML});
        let out = lifecycle(&CiJob, &ctx, &params).await;
        assert_eq!(out["path"], "tenants/acme/build");
    }

    #[tokio::test]
    async fn job_config_change_is_an_update() {
        let h = Harness::new();
        let ctx = h.ctx("build_job", "tok");
        CiFolder
            .apply(&ctx, &json!({"path": "tenants/acme"}), None)
            .await
            .unwrap();
        let p1 = json!({"path": "tenants/acme/build", "config_xml": JOB_XML});
        let p2 = json!({"path": "tenants/acme/build", "config_xml": JOB_XML.replace("acme build", "acme build v2")});
        CiJob.apply(&ctx, &p1, None).await.unwrap();
        assert_eq!(
            CiJob.apply(&ctx, &p2, None).await.unwrap().outcome,
            Outcome::Updated
        );
        let cfg = h
            .cloud
            .ci
            .get_job_config("tenants/acme/build")
            .await
            .unwrap()
            .unwrap();
        assert!(cfg.contains("acme build v2"));
    }

    #[tokio::test]
    async fn downstream_lifecycle_edits_only_the_reference() {
        let h = Harness::new();
        let ctx = h.ctx("umbrella_ref", "tok");
        let umbrella = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <builders/>\n  <publishers>\n    <hudson.tasks.BuildTrigger>\n      <childProjects>tenants/globex/build</childProjects>\n      <threshold>\n        <name>SUCCESS</name>\n        <ordinal>0</ordinal>\n        <color>BLUE</color>\n        <completeBuild>true</completeBuild>\n      </threshold>\n    </hudson.tasks.BuildTrigger>\n  </publishers>\n</project>";
        h.cloud.ci.ensure_folder("umbrella").await.unwrap();
        h.cloud
            .ci
            .ensure_job("umbrella/build-all", umbrella)
            .await
            .unwrap();
        let params = json!({"job": "umbrella/build-all", "downstream": "tenants/acme/build"});
        let out = lifecycle(&CiDownstream, &ctx, &params).await;
        assert_eq!(
            out,
            json!({"job": "umbrella/build-all", "downstream": "tenants/acme/build"})
        );
        // After add + remove the umbrella job is exactly as it was.
        let cfg = h
            .cloud
            .ci
            .get_job_config("umbrella/build-all")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cfg, umbrella);
    }

    #[tokio::test]
    async fn downstream_creates_the_publisher_and_many_tenants_share_it() {
        let h = Harness::new();
        h.cloud.ci.ensure_folder("umbrella").await.unwrap();
        h.cloud
            .ci
            .ensure_job(
                "umbrella/build-all",
                "<project>\n  <publishers/>\n</project>",
            )
            .await
            .unwrap();
        let ctx = h.ctx("umbrella_ref", "tok");
        // Tenants added concurrently must all end up in the list.
        let tenants: Vec<String> = (0..8).map(|i| format!("tenants/t{i}/build")).collect();
        let results = futures::future::join_all(tenants.iter().map(|t| {
            let params = json!({"job": "umbrella/build-all", "downstream": t});
            let ctx = &ctx;
            async move { CiDownstream.apply(ctx, &params, None).await }
        }))
        .await;
        for r in results {
            assert_eq!(r.unwrap().outcome, Outcome::Created);
        }
        let cfg = h
            .cloud
            .ci
            .get_job_config("umbrella/build-all")
            .await
            .unwrap()
            .unwrap();
        let mut listed = ci_xml::child_projects(&cfg).unwrap();
        listed.sort();
        assert_eq!(listed, tenants);
    }

    #[tokio::test]
    async fn downstream_against_missing_umbrella() {
        let h = Harness::new();
        let ctx = h.ctx("umbrella_ref", "tok");
        let params = json!({"job": "umbrella/none", "downstream": "tenants/acme/build"});
        let e = CiDownstream.apply(&ctx, &params, None).await.unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::NotFound);
        assert_eq!(
            CiDownstream
                .delete(&ctx, &params, &Value::Null)
                .await
                .unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(CiDownstream.read(&ctx, &params, None).await.unwrap(), None);
    }
}
