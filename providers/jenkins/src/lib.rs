//! The Jenkins provider of provisio: the [`CiServer`](provisio::CiServer) capability over
//! Jenkins' REST API (folders, jobs from config.xml, their downstream jobs, parameterized
//! builds).
//!
//! # Design
//!
//! * **One HTTP client per server** (reqwest with rustls), with HTTP Basic authentication:
//!   the user and an **API token** (from `JENKINS_API_TOKEN` by default), which Jenkins
//!   exempts from CSRF crumbs. With a **password** instead, every POST carries the crumb of
//!   the client's web session (`crumbIssuer/api/json`, whose `JSESSIONID` cookie the client
//!   keeps); a POST refused for a stale crumb fetches a fresh one and is sent once more.
//! * **Redirects are never followed**: `doDelete` and folder creation answer 302, builds
//!   answer 201 with the queue item in `Location`, and a redirect to a login page (a
//!   single-sign-on proxy) is reported as `Unauthenticated` instead of becoming a GET of an
//!   HTML page.
//! * **Names are validated first** with [`provisio::validate::jenkins_job_path`]; each path
//!   segment is percent-encoded into `/job/<a>/job/<b>/`.
//! * **Idempotent**: see [`JenkinsCi`] for how `ensure_job` compares configurations and
//!   reconciles the `400 X-Error: A job already exists` of a concurrent creator into an update.
//! * **Errors are classified at this boundary** (status + headers + Jenkins' messages → kind;
//!   the table is in the `error` module's source): 401 and anonymous 403s are
//!   `Unauthenticated`, other 403s (crumb failures included) `PermissionDenied`, 404
//!   `NotFound`, 409 `Conflict`, 429 `RateLimited` with `Retry-After`, 5xx `Transient`,
//!   request timeouts `Timeout`. Messages hold statuses, item names and Jenkins' error text,
//!   never a credential.
//!
//! # Getting the capability
//!
//! ```no_run
//! # fn demo() -> provisio::Result<()> {
//! use std::sync::Arc;
//! use provisio::CiServer;
//! use provisio_jenkins::{JenkinsCi, JenkinsConfig};
//!
//! // From a provider file: url and user; the token is read from JENKINS_API_TOKEN.
//! let config: JenkinsConfig = serde_json::from_str(
//!     r#"{ "url": "https://ci.example.com/", "user": "provisio-bot" }"#,
//! ).expect("valid config");
//! let ci: Arc<dyn CiServer> = Arc::new(JenkinsCi::new(config)?);
//!
//! // Or everything from the environment (JENKINS_URL, JENKINS_USER, JENKINS_API_TOKEN).
//! let ci_from_env: Arc<dyn CiServer> = Arc::new(JenkinsCi::from_env()?);
//! # let _ = (ci, ci_from_env); Ok(()) }
//! ```
#![deny(missing_docs)]

mod ci;
mod client;
mod config;
mod downstream;
mod error;
mod xml;

pub use ci::{FOLDER_CLASS, JenkinsCi, PROVIDER};
pub use config::{
    DEFAULT_API_TOKEN_ENV, DEFAULT_PASSWORD_ENV, DEFAULT_URL_ENV, DEFAULT_USER_ENV, JenkinsConfig,
};
