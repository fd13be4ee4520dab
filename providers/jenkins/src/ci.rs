//! [`JenkinsCi`]: the [`CiServer`] capability over Jenkins' REST API.

use crate::client::{Answer, Body, Client, create_item_path, item_path};
use crate::config::JenkinsConfig;
use crate::downstream::Edit;
use crate::error::{is_already_exists, is_login_redirect};
use crate::xml;
use provisio::ci::{BuildRef, BuildResult, CiCapabilities, CiServer, Job, Linked};
use provisio::{
    Deleted, Ensured, Error, ErrorKind, Provider, ProviderInfo, Result, async_trait, validate,
};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The provider's name in errors and [`ProviderInfo`].
pub const PROVIDER: &str = "jenkins";
/// The item type of folders (the cloudbees-folder plugin).
pub const FOLDER_CLASS: &str = "com.cloudbees.hudson.plugins.folder.Folder";
/// How many of a job's latest builds are searched for a queue item that expired.
const BUILDS_SEARCHED: usize = 100;

/// A Jenkins server as a [`CiServer`].
///
/// * Paths are `folder/sub/job`; each segment is checked with
///   [`validate::jenkins_item_name`] before anything is sent, and becomes
///   `/job/folder/job/sub/job/job/` on the server.
/// * `ensure_folder` creates each missing level with
///   `createItem?mode=com.cloudbees.hudson.plugins.folder.Folder` (the cloudbees-folder
///   plugin); an existing job in the way is a `Conflict`.
/// * `ensure_job` reads `config.xml`; a missing job is created with `createItem` (its folder
///   must exist: `NotFound` otherwise); an existing one is rewritten only when its
///   configuration is not equivalent (see below). When `createItem` answers 400 with
///   `X-Error: A job already exists ...` (another writer created it since the read), the
///   call reconciles into an update of that job.
/// * Equivalence: equal bytes, or the same XML after the normalizations Jenkins' own saving
///   applies (declaration, indentation, attribute order and quoting, `plugin="..."`
///   attributes, comments, CDATA); so a job Jenkins re-serialized is `Unchanged`. A change of
///   the root element (a freestyle job into a pipeline, a folder into a job) is a
///   `Conflict`: Jenkins cannot change an item's type in place.
/// * `get_job_config` returns the stored config.xml exactly as the server sends it.
/// * Downstream jobs are the `childProjects` of the job's `hudson.tasks.BuildTrigger`
///   publisher ("build other projects"). `add_downstream` and `remove_downstream` read
///   config.xml, splice the change into it (the rest of the document stays byte-for-byte as
///   it was; the publisher, with a SUCCESS threshold, is created when missing; removing the
///   last job keeps the publisher with an empty list), post it only when it changed, and read
///   it again to check that a concurrent writer did not drop the change (redoing the edit, up
///   to 5 writes, then `Conflict`). Edits of one job are serialized within the process. A
///   folder is a `Conflict`; adding to a pipeline job (`flow-definition`, which has no
///   publishers) is `Unsupported`. Requests: one read when nothing changes, else read, write,
///   read.
/// * `delete_job` posts `doDelete` (folders too, with everything in them); 404 is
///   [`Deleted::AlreadyGone`].
/// * `trigger_build` posts `buildWithParameters` (or `build` for a job without parameters
///   when none are given), reads the queue item from the `Location` header and polls it until
///   it has a build number. When the queue item is gone (Jenkins forgets left items after 5
///   minutes), the build is found by its `queueId` among the job's latest builds.
/// * `wait_for_build` polls the build until it is no longer building; `Timeout` after the
///   given time. Transient failures and rate limits while polling are waited out.
///
/// ```no_run
/// # async fn demo() -> provisio::Result<()> {
/// use provisio::CiServer;
/// let ci = provisio_jenkins::JenkinsCi::new(
///     provisio_jenkins::JenkinsConfig::new("https://ci.example.com/").with_user("provisio-bot"),
/// )?; // the API token comes from JENKINS_API_TOKEN
/// ci.ensure_folder("tenants/acme").await?;
/// ci.ensure_job("tenants/acme/build", "<project><builders/></project>").await?;
/// # Ok(()) }
/// ```
pub struct JenkinsCi {
    client: Client,
    config: JenkinsConfig,
}

impl std::fmt::Debug for JenkinsCi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JenkinsCi")
            .field("url", &self.client.base())
            .field("user", &self.client.user())
            .finish()
    }
}

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Folder,
    Job,
}

pub(crate) fn context<'a>(
    operation: &'static str,
    resource: &'a str,
) -> impl Fn(Error) -> Error + 'a {
    move |e: Error| {
        let e = e.in_context(PROVIDER, operation);
        if e.resource().is_none() {
            e.with_resource(resource)
        } else {
            e
        }
    }
}

fn result_of(s: &str) -> Option<BuildResult> {
    Some(match s {
        "SUCCESS" => BuildResult::Success,
        "UNSTABLE" => BuildResult::Unstable,
        "FAILURE" => BuildResult::Failure,
        "NOT_BUILT" => BuildResult::NotBuilt,
        "ABORTED" => BuildResult::Aborted,
        _ => return None,
    })
}

/// The queue item id in a `Location` header: `<root>/queue/item/<id>/`.
pub(crate) fn queue_id(location: &str) -> Option<u64> {
    let rest = &location[location.find("/queue/item/")? + "/queue/item/".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether an item's `_class` is a folder (or another item group that holds jobs).
pub(crate) fn is_folder_class(class: &str) -> bool {
    class == FOLDER_CLASS || class.ends_with(".Folder") || class.ends_with("OrganizationFolder")
}

impl JenkinsCi {
    /// A client of the server in `config`; credentials are read from the environment now.
    pub fn new(config: JenkinsConfig) -> Result<Self> {
        let client = Client::new(&config).map_err(|e| e.in_context(PROVIDER, "ci.connect"))?;
        Ok(JenkinsCi { client, config })
    }

    /// A client configured from the environment ([`JenkinsConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(JenkinsConfig::from_env()?)
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        self.client.base()
    }

    /// The account this client acts on (its base URL).
    pub(crate) fn url_account(&self) -> String {
        self.client.info().account.clone()
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.config.poll_interval_ms.max(1))
    }

    fn job_url(&self, path: &str) -> String {
        format!("{}{}", self.client.base(), item_path(path))
    }

    /// What is at `path`, if anything.
    async fn kind(&self, path: &str) -> Result<Option<Kind>> {
        let answer = self
            .client
            .get(&format!("{}api/json?tree=_class", item_path(path)))
            .await?;
        match answer.status {
            StatusCode::OK => {
                let class = answer.json()?["_class"].as_str().unwrap_or("").to_string();
                Ok(Some(if is_folder_class(&class) {
                    Kind::Folder
                } else {
                    Kind::Job
                }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(answer.error()),
        }
    }

    pub(crate) async fn read_config(&self, path: &str) -> Result<Option<String>> {
        let answer = self
            .client
            .get(&format!("{}config.xml", item_path(path)))
            .await?;
        match answer.status {
            StatusCode::OK => String::from_utf8(answer.body)
                .map(Some)
                .map_err(|_| Error::unexpected("the job's config.xml is not UTF-8")),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(answer.error()),
        }
    }

    /// Creates a folder; `Ok(false)` when something already exists with that name.
    async fn create_folder(&self, path: &str) -> Result<bool> {
        let url = format!("{}&mode={}", create_item_path(path), FOLDER_CLASS);
        let answer = self.client.post(&url, Body::Form(Vec::new())).await?;
        match answer.status {
            // The form mode redirects to the new folder's configure page.
            s if s.is_redirection() && !is_login_redirect(&answer.headers) => Ok(true),
            StatusCode::OK => Ok(true),
            s if is_already_exists(s, &answer.headers) => Ok(false),
            StatusCode::NOT_FOUND => Err(self.missing_folder(path)),
            _ => Err(answer.error()),
        }
    }

    fn missing_folder(&self, path: &str) -> Error {
        let (parent, _) = crate::client::split_parent(path);
        Error::not_found(format!(
            "folder {parent:?} does not exist (create it first with ensure_folder)"
        ))
        .with_resource(parent)
    }

    /// Creates a job (or any item) from XML; `Ok(false)` when it already exists.
    async fn create_from_xml(&self, path: &str, config_xml: &str) -> Result<bool> {
        let answer = self
            .client
            .post(&create_item_path(path), Body::Xml(config_xml.to_string()))
            .await?;
        match answer.status {
            StatusCode::OK | StatusCode::CREATED | StatusCode::NO_CONTENT => Ok(true),
            s if is_already_exists(s, &answer.headers) => Ok(false),
            StatusCode::NOT_FOUND => Err(self.missing_folder(path)),
            _ => Err(answer.error()),
        }
    }

    pub(crate) async fn post_config(&self, path: &str, config_xml: &str) -> Result<()> {
        let answer = self
            .client
            .post(
                &format!("{}config.xml", item_path(path)),
                Body::Xml(config_xml.to_string()),
            )
            .await?;
        match answer.status {
            StatusCode::OK | StatusCode::NO_CONTENT => Ok(()),
            _ => Err(answer.error()),
        }
    }

    /// Brings an existing job's configuration to `desired`.
    async fn reconcile(&self, path: &str, current: &str, desired: &str) -> Result<Ensured<Job>> {
        let job = Job {
            path: path.to_string(),
            url: Some(self.job_url(path)),
        };
        if xml::equivalent(current, desired) {
            return Ok(Ensured::unchanged(job));
        }
        let have = xml::root_element(current).unwrap_or_default();
        let want = xml::root_element(desired)?;
        if have != want {
            return Err(Error::conflict(format!(
                "{path} is a <{have}> item and cannot become a <{want}> in place; delete it first"
            )));
        }
        self.post_config(path, desired).await?;
        Ok(Ensured::updated(job))
    }

    /// Triggers a build and returns the queue item id.
    async fn queue_build(&self, path: &str, parameters: &BTreeMap<String, String>) -> Result<u64> {
        let delay = self
            .config
            .build_delay_secs
            .map(|d| format!("?delay={d}sec"))
            .unwrap_or_default();
        let form: Vec<(String, String)> = parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let url = format!("{}buildWithParameters{delay}", item_path(path));
        let mut answer = self.client.post(&url, Body::Form(form)).await?;
        if answer.status == StatusCode::BAD_REQUEST
            && parameters.is_empty()
            && answer.text().contains("is not parameterized")
        {
            let url = format!("{}build{delay}", item_path(path));
            answer = self.client.post(&url, Body::Empty).await?;
        }
        match answer.status {
            // 201: queued; 303: an identical item was already waiting, and is reused.
            StatusCode::CREATED | StatusCode::SEE_OTHER | StatusCode::OK
                if !is_login_redirect(&answer.headers) =>
            {
                let location = crate::error::header_text(&answer.headers, LOCATION.as_str())
                    .ok_or_else(|| {
                        Error::unexpected(format!(
                            "Jenkins answered HTTP {} without a queue item Location",
                            answer.status
                        ))
                    })?;
                queue_id(&location).ok_or_else(|| {
                    Error::unexpected(format!(
                        "the Location {location:?} does not name a queue item"
                    ))
                })
            }
            StatusCode::BAD_REQUEST if answer.text().contains("is not parameterized") => Err(
                Error::invalid_field("build parameters", format!("{path} takes no parameters")),
            ),
            _ => Err(answer.error()),
        }
    }

    /// One look at a queue item: `Some(number)` once it left the queue with a build.
    async fn poll_queue(&self, path: &str, id: u64) -> Result<QueuePoll> {
        let answer = self
            .client
            .get(&format!("/queue/item/{id}/api/json"))
            .await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(QueuePoll::Gone),
            _ => return Err(answer.error()),
        }
        let json = answer.json()?;
        if let Some(n) = json["executable"]["number"].as_u64() {
            return Ok(QueuePoll::Started(n));
        }
        if json["cancelled"].as_bool() == Some(true) {
            return Err(Error::conflict(format!(
                "the queued build of {path} (queue item {id}) was cancelled"
            )));
        }
        Ok(QueuePoll::Waiting(
            json["why"].as_str().unwrap_or("waiting").to_string(),
        ))
    }

    /// The build of `path` that came from queue item `id`, among the latest builds.
    async fn build_from_queue_id(&self, path: &str, id: u64) -> Result<Option<u64>> {
        let answer = self
            .client
            .get(&format!(
                "{}api/json?tree=builds[number,queueId]{{0,{BUILDS_SEARCHED}}}",
                item_path(path)
            ))
            .await?;
        if answer.status != StatusCode::OK {
            return Err(answer.error());
        }
        let json = answer.json()?;
        Ok(json["builds"].as_array().and_then(|builds| {
            builds
                .iter()
                .find(|b| b["queueId"].as_u64() == Some(id))
                .and_then(|b| b["number"].as_u64())
        }))
    }

    /// Sleeps before the next poll: the provider's hint for rate limits, else the interval,
    /// never past the deadline.
    async fn pause(&self, err: Option<&Error>, deadline: Instant) {
        let wait = err
            .and_then(Error::retry_after)
            .unwrap_or_else(|| self.poll_interval());
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(wait.min(left)).await;
    }
}

enum QueuePoll {
    Waiting(String),
    Started(u64),
    Gone,
}

impl Provider for JenkinsCi {
    fn info(&self) -> ProviderInfo {
        self.client.info().clone()
    }

    /// Jenkins's item rules for job and folder paths; the portable rule for the rest.
    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        match kind {
            provisio::validate::NameKind::JobPath => validate::jenkins_job_path(field, value),
            other => validate::portable(other, field, value),
        }
        .map(|_| ())
    }
}

#[async_trait]
impl CiServer for JenkinsCi {
    fn capabilities(&self) -> CiCapabilities {
        CiCapabilities {
            folders: true,
            parameters: true,
            downstream: true,
        }
    }

    async fn ensure_folder(&self, path: &str) -> Result<Ensured<String>> {
        let ctx = context("ci.ensure_folder", path);
        let path = validate::jenkins_job_path("folder path", path).map_err(&ctx)?;
        let mut prefix = String::new();
        let mut created = false;
        for seg in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(seg);
            // Below a folder made just now nothing can exist yet.
            let kind = if created {
                None
            } else {
                self.kind(&prefix).await.map_err(&ctx)?
            };
            let kind = match kind {
                Some(k) => k,
                None if self.create_folder(&prefix).await.map_err(&ctx)? => {
                    created = true;
                    continue;
                }
                // Another writer created it between our look and our create.
                None => self
                    .kind(&prefix)
                    .await
                    .map_err(&ctx)?
                    .unwrap_or(Kind::Folder),
            };
            if kind == Kind::Job {
                return Err(ctx(Error::conflict(format!(
                    "{prefix} is a job, not a folder"
                ))
                .with_resource(prefix)));
            }
        }
        Ok(if created {
            Ensured::created(path)
        } else {
            Ensured::unchanged(path)
        })
    }

    async fn ensure_job(&self, path: &str, config_xml: &str) -> Result<Ensured<Job>> {
        let ctx = context("ci.ensure_job", path);
        let path = validate::jenkins_job_path("job path", path).map_err(&ctx)?;
        xml::root_element(config_xml).map_err(&ctx)?;
        if let Some(current) = self.read_config(&path).await.map_err(&ctx)? {
            return self
                .reconcile(&path, &current, config_xml)
                .await
                .map_err(&ctx);
        }
        if self
            .create_from_xml(&path, config_xml)
            .await
            .map_err(&ctx)?
        {
            return Ok(Ensured::created(Job {
                url: Some(self.job_url(&path)),
                path,
            }));
        }
        // 400 "already exists": another creator won the race; make its job ours.
        let current = self.read_config(&path).await.map_err(&ctx)?.ok_or_else(|| {
            ctx(Error::conflict(format!(
                "{path} was reported to exist but cannot be read (is it invisible to this user?)"
            )))
        })?;
        self.reconcile(&path, &current, config_xml)
            .await
            .map_err(&ctx)
    }

    async fn get_job_config(&self, path: &str) -> Result<Option<String>> {
        let ctx = context("ci.get_job_config", path);
        let path = validate::jenkins_job_path("job path", path).map_err(&ctx)?;
        self.read_config(&path).await.map_err(&ctx)
    }

    async fn downstream_jobs(&self, job: &str) -> Result<Option<Vec<String>>> {
        self.read_downstream(job).await
    }

    async fn add_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        self.edit_downstream(job, downstream, Edit::Add).await
    }

    async fn remove_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        self.edit_downstream(job, downstream, Edit::Remove).await
    }

    async fn delete_job(&self, path: &str) -> Result<Deleted> {
        let ctx = context("ci.delete_job", path);
        let path = validate::jenkins_job_path("job path", path).map_err(&ctx)?;
        let answer: Answer = self
            .client
            .post(&format!("{}doDelete", item_path(&path)), Body::Empty)
            .await
            .map_err(&ctx)?;
        match answer.status {
            // doDelete redirects to the parent; 200/204 from proxies or the REST DELETE.
            s if s.is_redirection() && !is_login_redirect(&answer.headers) => Ok(Deleted::Deleted),
            StatusCode::OK | StatusCode::NO_CONTENT => Ok(Deleted::Deleted),
            StatusCode::NOT_FOUND => Ok(Deleted::AlreadyGone),
            _ => Err(ctx(answer.error())),
        }
    }

    async fn trigger_build(
        &self,
        path: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<BuildRef> {
        let ctx = context("ci.trigger_build", path);
        let path = validate::jenkins_job_path("job path", path).map_err(&ctx)?;
        if parameters.keys().any(|k| k.trim().is_empty()) {
            return Err(ctx(Error::invalid_field(
                "build parameters",
                "parameter names must not be empty",
            )));
        }
        let id = self.queue_build(&path, parameters).await.map_err(&ctx)?;
        let timeout = Duration::from_secs(self.config.queue_timeout_secs.max(1));
        let deadline = Instant::now() + timeout;
        loop {
            let polled = self.poll_queue(&path, id).await;
            let why = match polled {
                Ok(QueuePoll::Started(number)) => {
                    return Ok(BuildRef { job: path, number });
                }
                Ok(QueuePoll::Gone) => {
                    // Left items expire; the build remembers the queue item it came from.
                    return match self.build_from_queue_id(&path, id).await.map_err(&ctx)? {
                        Some(number) => Ok(BuildRef { job: path, number }),
                        None => Err(ctx(Error::not_found(format!(
                            "queue item {id} of {path} is gone and no recent build came from it \
                             (cancelled, or it expired before it was seen)"
                        )))),
                    };
                }
                Ok(QueuePoll::Waiting(why)) => why,
                Err(e) if e.retryable() && Instant::now() < deadline => {
                    self.pause(Some(&e), deadline).await;
                    continue;
                }
                Err(e) => return Err(ctx(e)),
            };
            if Instant::now() >= deadline {
                return Err(ctx(Error::timeout(format!(
                    "the build of {path} (queue item {id}) did not start within {timeout:?}: {why}"
                ))));
            }
            self.pause(None, deadline).await;
        }
    }

    async fn wait_for_build(&self, build: &BuildRef, timeout: Duration) -> Result<BuildResult> {
        let resource = format!("{}#{}", build.job, build.number);
        let ctx = context("ci.wait_for_build", &resource);
        let path = validate::jenkins_job_path("job path", &build.job).map_err(&ctx)?;
        let deadline = Instant::now() + timeout;
        let url = format!(
            "{}{}/api/json?tree=building,result,number",
            item_path(&path),
            build.number
        );
        loop {
            let polled: Result<Value> = async {
                let answer = self.client.get(&url).await?;
                match answer.status {
                    StatusCode::OK => answer.json(),
                    StatusCode::NOT_FOUND => Err(Error::not_found(format!(
                        "build {path} #{} does not exist",
                        build.number
                    ))),
                    _ => Err(answer.error()),
                }
            }
            .await;
            match polled {
                Ok(json) => {
                    let building = json["building"].as_bool().unwrap_or(false);
                    if let (false, Some(r)) = (building, json["result"].as_str()) {
                        return result_of(r).ok_or_else(|| {
                            ctx(Error::unexpected(format!("unknown build result {r:?}")))
                        });
                    }
                }
                Err(e) if e.retryable() && Instant::now() < deadline => {
                    self.pause(Some(&e), deadline).await;
                    continue;
                }
                Err(e) if matches!(e.kind(), ErrorKind::RateLimited { .. }) => {
                    return Err(ctx(Error::timeout(format!(
                        "build {path} #{} still unknown after {timeout:?} (rate limited)",
                        build.number
                    ))));
                }
                Err(e) => return Err(ctx(e)),
            }
            if Instant::now() >= deadline {
                return Err(ctx(Error::timeout(format!(
                    "build {path} #{} still running after {timeout:?}",
                    build.number
                ))));
            }
            self.pause(None, deadline).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_from_locations() {
        assert_eq!(queue_id("http://ci/queue/item/42/"), Some(42));
        assert_eq!(
            queue_id("https://ci.example.com/jenkins/queue/item/7"),
            Some(7)
        );
        assert_eq!(queue_id("http://ci/job/x/"), None);
        assert_eq!(queue_id("http://ci/queue/item/abc/"), None);
    }

    #[test]
    fn folder_classes() {
        assert!(is_folder_class(FOLDER_CLASS));
        assert!(is_folder_class("jenkins.branch.OrganizationFolder"));
        assert!(!is_folder_class("hudson.model.FreeStyleProject"));
        assert!(!is_folder_class(""));
    }

    #[test]
    fn results() {
        assert_eq!(result_of("SUCCESS"), Some(BuildResult::Success));
        assert_eq!(result_of("ABORTED"), Some(BuildResult::Aborted));
        assert_eq!(result_of("WEIRD"), None);
    }
}
