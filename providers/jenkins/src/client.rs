//! The HTTP client: authentication, CSRF crumbs, no redirects, and Jenkins' item URLs.

use crate::config::{Credentials, JenkinsConfig};
use crate::error::{self, from_transport, is_crumb_failure};
use provisio::{Error, Result};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::time::Duration;

/// The content type of config.xml uploads (what python-jenkins sends).
const XML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Percent-encodes a URL path segment or query value: everything but ASCII letters, digits
/// and `-_.~`.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL path of an item: `a/b/c` → `/job/a/job/b/job/c/`; the empty path is the root `/`.
pub(crate) fn item_path(path: &str) -> String {
    let mut url = String::from("/");
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        url.push_str("job/");
        url.push_str(&encode(seg));
        url.push('/');
    }
    url
}

/// The folder path and the name of an item: `a/b/c` → (`a/b`, `c`).
pub(crate) fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// The `createItem` URL path that creates `path` in its folder:
/// `a/b/c` → `/job/a/job/b/createItem?name=c`.
pub(crate) fn create_item_path(path: &str) -> String {
    let (parent, name) = split_parent(path);
    format!("{}createItem?name={}", item_path(parent), encode(name))
}

/// A request body.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// A config.xml.
    Xml(String),
    /// An `application/x-www-form-urlencoded` form.
    Form(Vec<(String, String)>),
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (lossy; for messages and JSON).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The error this answer stands for.
    pub(crate) fn error(&self) -> Error {
        error::from_response(self.status, &self.headers, &self.text())
    }
    /// The body as JSON.
    pub(crate) fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::unexpected(format!(
                "Jenkins answered HTTP {} with invalid JSON",
                self.status
            ))
            .with_source(e)
        })
    }
}

#[derive(Clone)]
enum Crumb {
    /// Not asked yet.
    Unknown,
    /// The server has CSRF protection off (the crumb issuer is 404).
    Disabled,
    /// The crumb of our session, and the header to send it in.
    Known(HeaderName, HeaderValue),
}

/// The client of one Jenkins server.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    crumb: tokio::sync::Mutex<Crumb>,
    /// The server as a provider: the key of its bucket in [`provisio::requests::limiter`] and
    /// the name its requests are counted under.
    info: provisio::ProviderInfo,
}

impl Client {
    pub(crate) fn new(config: &JenkinsConfig) -> Result<Self> {
        let base = config.base_url()?;
        let credentials = config.credentials()?;
        let http = reqwest::Client::builder()
            // Never follow: a POST answered with 302 must stay a 302 (doDelete, a redirect to
            // the login page), and build's Location header must be read.
            .redirect(reqwest::redirect::Policy::none())
            // The crumb of a password session is bound to the session cookie.
            .cookie_store(true)
            .timeout(Duration::from_secs(config.request_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(
                config.request_timeout_secs.clamp(1, 10),
            ))
            .user_agent(concat!("provisio-jenkins/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::unexpected("cannot build the HTTP client").with_source(e))?;
        let quota = provisio::ratelimit::RateLimit::effective(
            config.rate_limit.as_ref(),
            None,
            "rate_limit",
        )?;
        let mut info = provisio::ProviderInfo::new(crate::ci::PROVIDER, &base);
        info.quota = quota;
        Ok(Client {
            http,
            base,
            credentials,
            crumb: tokio::sync::Mutex::new(Crumb::Unknown),
            info,
        })
    }

    /// The server's identity and request quota.
    pub(crate) fn info(&self) -> &provisio::ProviderInfo {
        &self.info
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The user requests authenticate as, if any.
    pub(crate) fn user(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Anonymous => None,
            Credentials::ApiToken { user, .. } | Credentials::Password { user, .. } => Some(user),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: &Body,
        crumb: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        req = match &self.credentials {
            Credentials::Anonymous => req,
            Credentials::ApiToken { user, token } => req.basic_auth(user, Some(token.expose())),
            Credentials::Password { user, password } => {
                req.basic_auth(user, Some(password.expose()))
            }
        };
        if let Some((name, value)) = crumb {
            req = req.header(name, value);
        }
        req = match body {
            Body::Empty => req,
            Body::Xml(xml) => req.header(CONTENT_TYPE, XML_CONTENT_TYPE).body(xml.clone()),
            Body::Form(fields) => {
                let encoded: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect();
                req.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(encoded.join("&"))
            }
        };
        provisio::requests::before_request(&self.info).await;
        let resp = req.send().await.map_err(from_transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.as_u16() == 429 {
            // A proxy in front of Jenkins may limit it; honour its hint for every caller.
            let pause = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            provisio::requests::rate_limited(&self.info, pause);
        }
        let body = resp.bytes().await.map_err(from_transport)?.to_vec();
        tracing::debug!(%method, path, status = status.as_u16(), "jenkins request");
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// A GET.
    pub(crate) async fn get(&self, path: &str) -> Result<Answer> {
        self.send(Method::GET, path, &Body::Empty, None).await
    }

    /// A POST, with the crumb when the session needs one. A password session always sends
    /// it; an API-token request is exempt (ApiCrumbExclusion) and learns a crumb only if the
    /// server refuses it anyway. A refusal for a missing or stale crumb fetches a new one
    /// (and with it a new session) and tries once more: the CSRF filter rejects before
    /// anything is done, so the retry cannot repeat an effect.
    pub(crate) async fn post(&self, path: &str, body: Body) -> Result<Answer> {
        let crumb = match self.credentials {
            Credentials::Password { .. } => self.crumb(false).await?,
            _ => self.cached_crumb().await,
        };
        let answer = self.send(Method::POST, path, &body, crumb).await?;
        if !is_crumb_failure(answer.status, &answer.text()) {
            return Ok(answer);
        }
        match self.crumb(true).await? {
            Some(fresh) => self.send(Method::POST, path, &body, Some(fresh)).await,
            None => Ok(answer),
        }
    }

    async fn cached_crumb(&self) -> Option<(HeaderName, HeaderValue)> {
        match &*self.crumb.lock().await {
            Crumb::Known(n, v) => Some((n.clone(), v.clone())),
            _ => None,
        }
    }

    /// The session's crumb, fetched from `crumbIssuer/api/json` when unknown or `refresh`;
    /// `None` when CSRF protection is off.
    async fn crumb(&self, refresh: bool) -> Result<Option<(HeaderName, HeaderValue)>> {
        let mut state = self.crumb.lock().await;
        if !refresh {
            match &*state {
                Crumb::Known(n, v) => return Ok(Some((n.clone(), v.clone()))),
                Crumb::Disabled => return Ok(None),
                Crumb::Unknown => {}
            }
        }
        let answer = self.get("/crumbIssuer/api/json").await?;
        if answer.status == StatusCode::NOT_FOUND {
            *state = Crumb::Disabled;
            return Ok(None);
        }
        if answer.status != StatusCode::OK {
            return Err(answer.error().with_operation("ci.crumb"));
        }
        let json = answer.json()?;
        let field = json["crumbRequestField"]
            .as_str()
            .unwrap_or("Jenkins-Crumb");
        let crumb = json["crumb"]
            .as_str()
            .ok_or_else(|| Error::unexpected("the crumb issuer answered without a crumb"))?;
        let name = HeaderName::from_bytes(field.as_bytes()).map_err(|_| {
            Error::unexpected(format!(
                "the crumb request field {field:?} is not a header name"
            ))
        })?;
        let mut value = HeaderValue::from_str(crumb)
            .map_err(|_| Error::unexpected("the crumb is not a valid header value"))?;
        value.set_sensitive(true);
        *state = Crumb::Known(name.clone(), value.clone());
        Ok(Some((name, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_urls_nest_folders() {
        assert_eq!(item_path(""), "/");
        assert_eq!(item_path("x"), "/job/x/");
        assert_eq!(item_path("a/b/x"), "/job/a/job/b/job/x/");
        assert_eq!(
            item_path("tenants/web build ü"),
            "/job/tenants/job/web%20build%20%C3%BC/"
        );
        assert_eq!(item_path("a+b/c,d"), "/job/a%2Bb/job/c%2Cd/");
        assert_eq!(create_item_path("x"), "/createItem?name=x");
        assert_eq!(
            create_item_path("a/b/web_build-acme"),
            "/job/a/job/b/createItem?name=web_build-acme"
        );
        assert_eq!(create_item_path("a/x y"), "/job/a/createItem?name=x%20y");
        assert_eq!(split_parent("a/b/c"), ("a/b", "c"));
        assert_eq!(split_parent("c"), ("", "c"));
    }
}
