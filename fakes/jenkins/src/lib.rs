//! A stateful fake of the Jenkins REST API, following `shared/contracts/jenkins/NOTES.md`,
//! for provisio's tests: in-process through [`FakeJenkins::start`], or as the
//! `provisio-fake-jenkins` binary that `scripts/services.sh` runs.
//!
//! What it serves (item paths are `job/<a>/job/<b>/...`, each segment percent-encoded):
//!
//! | request | answer |
//! |---|---|
//! | `GET crumbIssuer/api/json` | the crumb of the caller's session, `Set-Cookie` of a new session when it has none; 404 when CSRF protection is off |
//! | `GET <item>/api/json` | job or folder JSON (`_class`, `name`, `fullName`, `color`, `buildable`, `inQueue`, `nextBuildNumber`, `lastBuild`, `builds` with `queueId`, folder `jobs`); 404 when missing |
//! | `POST [<folder>/]createItem?name=X` | with an XML body (`Content-Type` containing `xml`): a job, or a folder when the root is `com.cloudbees.hudson.plugins.folder.Folder`; 200. `mode=copy&from=Y` and `mode=com.cloudbees.hudson.plugins.folder.Folder`: 302 to `<item>/configure`. 400 with `X-Error` on duplicates (`A job already exists with the name ‘X’`), unsafe names, a missing `name`, a missing `Content-Type`; 500 on malformed XML (nothing created); 404 when the folder is missing |
//! | `GET/POST <item>/config.xml` | the stored bytes exactly / replace them (200); 400 on malformed XML or a change of the root element |
//! | `POST <item>/doDelete` | 302 to the parent; `GET` is 405; `DELETE <item>/` is 204 |
//! | `POST <job>/build`, `POST <job>/buildWithParameters` | 201 + `Location: <root>/queue/item/<id>/`; 303 to the waiting identical item; 400 `X is not parameterized`; 409 when disabled |
//! | `GET queue/item/<id>/api/json` | `Queue$WaitingItem` until the queue delay passed, then `Queue$LeftItem` with `executable.number`; 404 once the left item is older than the left-item time to live (Jenkins: 5 minutes) |
//! | `POST queue/cancelItem?id=N` | 204, 422 for an unknown id |
//! | `GET <job>/<n>/api/json`, `<job>/<n>/consoleText` | the build; `result` is `null` while it runs |
//! | `GET whoAmI/api/json`, `GET api/json`, `GET login` | who is calling, the top-level jobs, a login page |
//!
//! Authentication: HTTP Basic with a user's API token (exempt from CSRF crumbs, as
//! `ApiCrumbExclusion` makes Jenkins) or password (every POST needs the `Jenkins-Crumb` header,
//! or form field, issued for the caller's session cookie); wrong credentials are 401; anonymous
//! callers are refused with 403 (`X-You-Are-Authenticated-As: anonymous`), redirected to the
//! login page, or let in, per [`AnonymousAccess`]. A user lacking a [`Permission`] gets 403
//! with `X-Required-Permission`.
//!
//! Builds end with the result set by [`FakeJenkins::set_build_result`] (default `SUCCESS`),
//! or the one given in the build parameter [`FAKE_RESULT_PARAM`]; they run for the build
//! duration or [`FAKE_DURATION_PARAM`] milliseconds.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let fake = provisio_fake_jenkins::FakeJenkins::start().await.unwrap();
//! fake.add_user("admin", None, Some("api-token"));
//! fake.seed_job("core_build-stg", &provisio_fake_jenkins::umbrella_config(&[])).unwrap();
//! assert!(fake.url().starts_with("http://127.0.0.1:"));
//! assert!(fake.config("core_build-stg").unwrap().contains("hudson.tasks.BuildTrigger"));
//! # });
//! ```
#![deny(missing_docs)]

mod server;
mod state;
mod xml;

use state::{State, Timing, User};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The header (and form field) carrying the CSRF crumb.
pub const CRUMB_FIELD: &str = "Jenkins-Crumb";
/// The name of the session cookie (Jenkins appends a hash of its URL to `JSESSIONID.`).
pub const SESSION_COOKIE: &str = "JSESSIONID.fake";
/// A build parameter that sets the build's result (`SUCCESS`, `UNSTABLE`, `FAILURE`,
/// `NOT_BUILT`, `ABORTED`); accepted even when the job does not define it.
pub const FAKE_RESULT_PARAM: &str = "PROVISIO_FAKE_RESULT";
/// A build parameter that sets how long the build runs, in milliseconds.
pub const FAKE_DURATION_PARAM: &str = "PROVISIO_FAKE_DURATION_MS";
/// The config.xml of a folder created with `mode=com.cloudbees.hudson.plugins.folder.Folder`.
pub const FOLDER_CONFIG: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<com.cloudbees.hudson.plugins.folder.Folder plugin=\"cloudbees-folder@6.1012\">\n  <description></description>\n  <properties/>\n  <folderViews/>\n  <healthMetrics/>\n</com.cloudbees.hudson.plugins.folder.Folder>\n";
/// The umbrella jobs of the launch blueprint, which `--seed-umbrellas` creates.
pub const UMBRELLA_JOBS: [&str; 2] = ["core_build-stg", "web_build-stg"];

/// How long a triggered build waits in the queue by default.
pub const DEFAULT_QUEUE_DELAY: Duration = Duration::from_millis(300);
/// How long a build runs by default.
pub const DEFAULT_BUILD_DURATION: Duration = Duration::from_millis(300);
/// How long a left queue item stays readable by default (Jenkins: 5 minutes).
pub const DEFAULT_LEFT_ITEM_TTL: Duration = Duration::from_secs(300);

/// A freestyle umbrella job whose "build other projects" publisher
/// (`hudson.tasks.BuildTrigger`) lists `children`, as Jenkins writes it.
///
/// ```
/// let xml = provisio_fake_jenkins::umbrella_config(&["core_release-stg-example"]);
/// assert!(xml.contains("<childProjects>core_release-stg-example</childProjects>"));
/// ```
pub fn umbrella_config(children: &[&str]) -> String {
    format!(
        "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>Builds every tenant</description>\n  <keepDependencies>false</keepDependencies>\n  <properties/>\n  <scm class=\"hudson.scm.NullSCM\"/>\n  <canRoam>true</canRoam>\n  <disabled>false</disabled>\n  <blockBuildWhenDownstreamBuilding>false</blockBuildWhenDownstreamBuilding>\n  <blockBuildWhenUpstreamBuilding>false</blockBuildWhenUpstreamBuilding>\n  <triggers/>\n  <concurrentBuild>false</concurrentBuild>\n  <builders/>\n  <publishers>\n    <hudson.tasks.BuildTrigger>\n      <childProjects>{}</childProjects>\n      <threshold>\n        <name>SUCCESS</name>\n        <ordinal>0</ordinal>\n        <color>BLUE</color>\n        <completeBuild>true</completeBuild>\n      </threshold>\n    </hudson.tasks.BuildTrigger>\n  </publishers>\n  <buildWrappers/>\n</project>\n",
        children.join(", ")
    )
}

/// A plain freestyle job with a description, as a seed.
pub fn freestyle_config(description: &str) -> String {
    format!(
        "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>{description}</description>\n  <keepDependencies>false</keepDependencies>\n  <properties/>\n  <builders/>\n  <publishers/>\n  <buildWrappers/>\n</project>\n"
    )
}

/// A permission of the fake's simple authorization model (every user has all of them unless
/// [`FakeJenkins::set_permissions`] says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Overall/Read (and Job/Read): see anything at all.
    Read,
    /// Job/Create.
    Create,
    /// Job/Configure.
    Configure,
    /// Job/Delete.
    Delete,
    /// Job/Build.
    Build,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Create,
        Permission::Configure,
        Permission::Delete,
        Permission::Build,
    ];
    fn title(self) -> &'static str {
        match self {
            Permission::Read => "Overall/Read",
            Permission::Create => "Job/Create",
            Permission::Configure => "Job/Configure",
            Permission::Delete => "Job/Delete",
            Permission::Build => "Job/Build",
        }
    }
    fn class_name(self) -> &'static str {
        match self {
            Permission::Read => "hudson.model.Hudson.Read",
            Permission::Create => "hudson.model.Item.Create",
            Permission::Configure => "hudson.model.Item.Configure",
            Permission::Delete => "hudson.model.Item.Delete",
            Permission::Build => "hudson.model.Item.Build",
        }
    }
}

/// What happens to requests without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnonymousAccess {
    /// 403 with `X-You-Are-Authenticated-As: anonymous` (the default).
    #[default]
    Denied,
    /// 302 to `<root>/login?from=...`, as a single-sign-on proxy in front of Jenkins does.
    RedirectToLogin,
    /// Anonymous has every permission (and needs crumbs, like a session).
    Allowed,
}

/// How a logged request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No credentials.
    Anonymous,
    /// Basic auth with an API token.
    ApiToken,
    /// Basic auth with a password.
    Password,
    /// Credentials that matched no user.
    Invalid,
}

/// One request the fake answered. Holds no credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The raw (percent-encoded) path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The authenticated user.
    pub user: Option<String>,
    /// How the request authenticated.
    pub auth: AuthKind,
    /// Whether a `Jenkins-Crumb` header was sent.
    pub crumb: bool,
    /// Whether the session cookie was sent.
    pub session: bool,
    /// The response status.
    pub status: u16,
}

/// An injected failure: the next `times` requests matching the method and path answer with
/// `status` (after `delay`), instead of being processed; a fault without a status only delays.
///
/// ```
/// use provisio_fake_jenkins::Fault;
/// let f = Fault::rate_limited(2).on("POST", "/createItem").times(3);
/// assert_eq!(f.status, Some(429));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Only requests with this method (any when `None`).
    pub method: Option<String>,
    /// Only requests whose raw path contains this (any when `None`).
    pub path_contains: Option<String>,
    /// The status to answer; `None` processes the request normally after the delay.
    pub status: Option<u16>,
    /// The `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// The body to answer (a generic message when `None`).
    pub body: Option<String>,
    /// How long to wait before answering.
    pub delay: Duration,
    /// How many more requests this fault applies to.
    pub remaining: u32,
}

impl Fault {
    /// Answers `status` once.
    pub fn status(status: u16) -> Self {
        Fault {
            method: None,
            path_contains: None,
            status: Some(status),
            retry_after: None,
            body: None,
            delay: Duration::ZERO,
            remaining: 1,
        }
    }
    /// Answers 403 `No valid crumb was included in the request` once, as the CSRF filter
    /// does for a stale crumb.
    pub fn crumb_rejected() -> Self {
        Fault {
            body: Some("No valid crumb was included in the request".into()),
            ..Fault::status(403)
        }
    }
    /// Answers 429 with `Retry-After: <secs>` once.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Fault {
            retry_after: Some(retry_after_secs),
            ..Fault::status(429)
        }
    }
    /// Delays the answer once (then processes the request).
    pub fn delay(delay: Duration) -> Self {
        Fault {
            status: None,
            delay,
            ..Fault::status(0)
        }
    }
    /// Only for `method` requests whose path contains `path`.
    pub fn on(mut self, method: &str, path: &str) -> Self {
        self.method = Some(method.to_string());
        self.path_contains = Some(path.to_string());
        self
    }
    /// Applies to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = n;
        self
    }
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake Jenkins on `127.0.0.1`. Dropping it stops the server.
pub struct FakeJenkins {
    shared: Arc<Shared>,
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for FakeJenkins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeJenkins")
            .field("url", &self.url)
            .finish()
    }
}

impl FakeJenkins {
    /// Starts on a free port of 127.0.0.1, within the current tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(0).await
    }

    /// Starts on `port` of 127.0.0.1 (0: a free port).
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let mut state = State::new(Timing {
            queue_delay: DEFAULT_QUEUE_DELAY,
            build_duration: DEFAULT_BUILD_DURATION,
            left_item_ttl: DEFAULT_LEFT_ITEM_TTL,
        });
        state.base_url = url.clone();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakeJenkins {
            shared,
            url,
            shutdown: Some(tx),
        })
    }

    /// The base URL, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// Adds (or replaces) a user with every permission, a password and/or an API token.
    pub fn add_user(&self, user: &str, password: Option<&str>, token: Option<&str>) {
        self.lock().users.insert(
            user.to_string(),
            User {
                password: password.map(str::to_string),
                tokens: token.map(str::to_string).into_iter().collect(),
                permissions: Permission::ALL.into_iter().collect(),
            },
        );
    }

    /// Adds another API token to an existing user.
    pub fn add_token(&self, user: &str, token: &str) {
        if let Some(u) = self.lock().users.get_mut(user) {
            u.tokens.push(token.to_string());
        }
    }

    /// Sets the permissions of an existing user.
    pub fn set_permissions(&self, user: &str, permissions: &[Permission]) {
        if let Some(u) = self.lock().users.get_mut(user) {
            u.permissions = permissions.iter().copied().collect::<BTreeSet<_>>();
        }
    }

    /// Sets what happens to requests without credentials.
    pub fn set_anonymous(&self, access: AnonymousAccess) {
        self.lock().anonymous = access;
    }

    /// Turns CSRF protection (crumbs) on (the default) or off.
    pub fn set_csrf(&self, enabled: bool) {
        self.lock().csrf = enabled;
    }

    /// Forgets every web session, so crumbs issued so far stop being valid.
    pub fn expire_sessions(&self) {
        self.lock().sessions.clear();
    }

    /// Creates a job or folder (by the root element of `config`) at `path`, creating missing
    /// parent folders; replaces what is there.
    pub fn seed_job(&self, path: &str, config: &str) -> Result<(), String> {
        let mut s = self.lock();
        let mut prefix = String::new();
        let segments: Vec<&str> = path.split('/').collect();
        for seg in &segments[..segments.len() - 1] {
            prefix = state::join(&prefix, seg);
            if !s.items.contains_key(&prefix) {
                s.insert(&prefix, FOLDER_CONFIG)?;
            }
        }
        s.insert(path, config)
    }

    /// Creates a folder (and its parents).
    pub fn seed_folder(&self, path: &str) -> Result<(), String> {
        self.seed_job(path, FOLDER_CONFIG)
    }

    /// Seeds the launch blueprint's umbrella jobs ([`UMBRELLA_JOBS`]), each listing one
    /// existing example tenant job (`core_release-stg-example`, `web_release-stg-example`,
    /// also seeded) in its `BuildTrigger` publisher.
    pub fn seed_umbrellas(&self) -> Result<(), String> {
        for umbrella in UMBRELLA_JOBS {
            let prefix = umbrella.split('_').next().unwrap_or(umbrella);
            let child = format!("{prefix}_release-stg-example");
            self.seed_job(&child, &freestyle_config("staging release for example"))?;
            self.seed_job(umbrella, &umbrella_config(&[&child]))?;
        }
        Ok(())
    }

    /// The stored config.xml of an item, exactly as posted.
    pub fn config(&self, path: &str) -> Option<String> {
        self.lock().items.get(path).map(|i| i.config().to_string())
    }

    /// Every item path (folders and jobs), sorted.
    pub fn items(&self) -> Vec<String> {
        self.lock().items.keys().cloned().collect()
    }

    /// The numbers and parameters of a job's builds, oldest first.
    pub fn builds(&self, path: &str) -> Vec<(u64, Vec<(String, String)>)> {
        let mut s = self.lock();
        s.tick();
        match s.items.get(path) {
            Some(state::Item::Job { builds, .. }) => builds
                .iter()
                .map(|b| (b.number, b.parameters.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Sets the result of builds of `path` that leave the queue from now on.
    pub fn set_build_result(&self, path: &str, result: &str) {
        self.lock()
            .results
            .insert(path.to_string(), result.to_string());
    }

    /// Sets the result of builds of jobs without a result of their own (default `SUCCESS`).
    pub fn set_default_build_result(&self, result: &str) {
        self.lock().default_result = result.to_string();
    }

    /// Sets how long triggered builds wait in the queue.
    pub fn set_queue_delay(&self, delay: Duration) {
        self.lock().timing.queue_delay = delay;
    }

    /// Sets how long builds run.
    pub fn set_build_duration(&self, duration: Duration) {
        self.lock().timing.build_duration = duration;
    }

    /// Sets how long a queue item stays readable after it left the queue.
    pub fn set_left_item_ttl(&self, ttl: Duration) {
        self.lock().timing.left_item_ttl = ttl;
    }

    /// Adds an injected fault; faults are matched in the order they were added.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }
}

impl Drop for FakeJenkins {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
