//! The Query protocol (EC2, RDS): a form-encoded `POST` of `Action`, `Version` and the
//! parameters; an XML answer.

use super::{Client, Element, Protocol, Request};
use provisio::layer::Safety;
use provisio::{Error, Result};

/// The parameters of one request, in the order they are sent.
#[derive(Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params::default()
    }

    /// Adds `key=value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Params {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Adds `key=value`, builder style.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Params {
        self.set(key, value);
        self
    }
}

// The parameters may hold a password: only their names are shown.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Client {
    /// Calls `action` with `params` for provisio's `operation` on `resource` and returns the
    /// answer's root element. `safety` says whether a failed attempt may be retried whatever
    /// the failure ([`Safety::Idempotent`]) or only when the service refused it.
    pub(crate) async fn query(
        &self,
        action: &str,
        params: &Params,
        safety: Safety,
        operation: &str,
        resource: &str,
    ) -> Result<Element> {
        let Protocol::Query(version) = self.inner.api.protocol else {
            return Err(Error::unexpected(format!(
                "{} does not speak the Query protocol",
                self.inner.api.service
            )));
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", version)
            .extend_pairs(params.0.iter())
            .finish();
        let request = Request::new(reqwest::Method::POST, "/")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body)
            .safety(safety);
        let answer = self.send(&request, operation, resource).await?;
        answer.xml().map_err(|e| {
            // A truncated or garbled answer: worth another try (the retry layer decides).
            e.context(format_args!("{action}"))
                .with_provider(crate::error::PROVIDER)
                .with_operation(operation)
                .with_resource(resource)
        })
    }
}
