//! `ci.folder`, `ci.job` and `ci.downstream`: Jenkins folders, jobs created from XML, and the
//! references from umbrella jobs to a tenant's jobs.

use super::in_resource;
use super::params::{Phase, TypedParams};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::{Deleted, Error, Outcome, Result, validate};
use serde_json::{Value, json};

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
        if let Err(e) = validate::xml_document("config_xml", &config_xml)
            && !phase.unresolved(&config_xml)
        {
            return Err(e);
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
/// this tenant's jobs: one entry of the jobs the umbrella job triggers when it finishes (on
/// Jenkins, its "build other projects" publisher).
///
/// Parameters:
/// - `job` (required): the umbrella job's path, e.g. `umbrella/build-all`.
/// - `downstream` (required): the job path to add to its list, e.g. `${build_job.path}`.
///
/// Outputs: `job`, `downstream`. Changing either replaces the reference.
///
/// `apply` adds the reference with the CI capability's `add_downstream` and `delete` removes
/// it with `remove_downstream`; both leave the rest of the umbrella job as it is, and `read`
/// lists the job's downstream jobs. The provider makes the edit safe against the other
/// tenants' runs editing the same umbrella job (the Jenkins provider serializes its edits per
/// job and checks after writing that a writer elsewhere did not drop them). `apply` is
/// `Created` exactly when the reference was not listed; a missing umbrella job is `NotFound`
/// for `apply` and "already gone" for `delete`. The provider must support downstream jobs
/// (`CiCapabilities::downstream`).
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
        let listed = ci
            .downstream_jobs(&s.job)
            .await
            .map_err(in_resource(ctx))?
            .is_some_and(|jobs| jobs.contains(&s.downstream));
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
        let linked = ci
            .add_downstream(&s.job, &s.downstream)
            .await
            .map_err(in_resource(ctx))?
            .ok_or_else(|| {
                Error::not_found(format!("the umbrella job {:?} does not exist", s.job))
                    .with_resource(ctx.resource)
            })?;
        // The provider reports it before it writes (so that a lost answer does not hide it);
        // this is for a provider that does not (only the first report counts).
        provisio::existence::found(linked.was_listed);
        Ok(Applied {
            outputs: json!({ "job": s.job, "downstream": s.downstream }),
            outcome: if linked.was_listed {
                Outcome::Unchanged
            } else {
                Outcome::Created
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
        let linked = ci
            .remove_downstream(&s.job, &s.downstream)
            .await
            .map_err(in_resource(ctx))?;
        // A missing umbrella job references nothing.
        Ok(match linked {
            Some(l) if l.was_listed => Deleted::Deleted,
            Some(_) | None => Deleted::AlreadyGone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, lifecycle, rejects};
    use provisio::CiServer;

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
        let umbrella = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <builders/>\n  <publishers/>\n</project>";
        h.cloud.ci.ensure_folder("umbrella").await.unwrap();
        h.cloud
            .ci
            .ensure_job("umbrella/build-all", umbrella)
            .await
            .unwrap();
        h.cloud
            .ci
            .add_downstream("umbrella/build-all", "tenants/globex/build")
            .await
            .unwrap();
        let params = json!({"job": "umbrella/build-all", "downstream": "tenants/acme/build"});
        let out = lifecycle(&CiDownstream, &ctx, &params).await;
        assert_eq!(
            out,
            json!({"job": "umbrella/build-all", "downstream": "tenants/acme/build"})
        );
        // After add + remove the umbrella job is as it was: the other tenant stays listed.
        let listed = h
            .cloud
            .ci
            .downstream_jobs("umbrella/build-all")
            .await
            .unwrap();
        assert_eq!(listed, Some(vec!["tenants/globex/build".to_string()]));
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
        let mut listed = h
            .cloud
            .ci
            .downstream_jobs("umbrella/build-all")
            .await
            .unwrap()
            .unwrap();
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
