//! Where every request of the SDK's service clients is paced and counted (provisio's own client
//! of EC2, RDS and Route 53 does the same before each send: [`crate::wire`]).
//!
//! [`PacedHttpClient`] wraps the SDK's HTTP client. Each service client of [`crate::Aws`] gets
//! its own wrapper carrying that service's [`ProviderInfo`] (`aws-s3`, `aws-sesv2`, ...), so
//! every HTTP request the SDK sends for it (operations, the SDK's own retries when
//! `max_attempts > 1`, and any request an operation makes internally) first waits in
//! [`provisio::requests::before_request`]: paced by the account's quota for that service in the
//! process-wide limiter, and counted in the running step's request tally. Pacing at the HTTP
//! layer rather than around provider methods is what makes rate limits count requests, not
//! steps.
//!
//! A throttling answer (HTTP 429, or a 400/503 whose error code is one of AWS's throttling
//! codes such as `Throttling`, `SlowDown` or `RequestLimitExceeded`) pauses the account's
//! bucket through [`provisio::requests::rate_limited`], so every caller in the process backs off.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::config_bag::ConfigBag;
use provisio::ProviderInfo;
use std::time::Duration;

use crate::error::THROTTLE_PAUSE as DEFAULT_PAUSE;

/// An [`HttpClient`] that paces and counts each request of one AWS service.
#[derive(Debug, Clone)]
pub(crate) struct PacedHttpClient {
    inner: SharedHttpClient,
    info: ProviderInfo,
}

impl PacedHttpClient {
    /// Wraps `inner` for the service `info` describes.
    pub(crate) fn shared(inner: SharedHttpClient, info: ProviderInfo) -> SharedHttpClient {
        SharedHttpClient::new(PacedHttpClient { inner, info })
    }
}

impl HttpClient for PacedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            info: self.info.clone(),
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    info: ProviderInfo,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let info = self.info.clone();
        HttpConnectorFuture::new(async move {
            provisio::requests::before_request(&info).await;
            let response = inner.call(request).await?;
            Ok(watch_for_throttling(response, &info).await)
        })
    }
}

/// Passes `response` on unchanged, after pausing the account when it is a throttling answer.
/// Error answers that may carry a throttling code (400, 503) are small: their body is read
/// here to look for the code and handed on as the same bytes.
async fn watch_for_throttling(mut response: HttpResponse, info: &ProviderInfo) -> HttpResponse {
    let status = response.status().as_u16();
    if status == 429 {
        let pause = retry_after(&response).unwrap_or(DEFAULT_PAUSE);
        provisio::requests::rate_limited(info, pause);
        return response;
    }
    if status != 400 && status != 503 {
        return response;
    }
    if let Some(code) = response.headers().get("x-amzn-errortype")
        && is_throttling_code(code.split(':').next().unwrap_or(code))
    {
        let pause = retry_after(&response).unwrap_or(DEFAULT_PAUSE);
        provisio::requests::rate_limited(info, pause);
        return response;
    }
    let pause = retry_after(&response).unwrap_or(DEFAULT_PAUSE);
    let body = response.take_body();
    let bytes = match ByteStream::new(body).collect().await {
        Ok(b) => b.into_bytes(),
        // The body broke off: hand on what the SDK will report as an unreadable answer.
        Err(_) => Default::default(),
    };
    if body_names_throttling(&bytes) {
        provisio::requests::rate_limited(info, pause);
    }
    *response.body_mut() = SdkBody::from(bytes);
    response
}

fn retry_after(response: &HttpResponse) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")
        .and_then(crate::error::retry_after_secs)
}

fn is_throttling_code(code: &str) -> bool {
    crate::error::THROTTLING.contains(&code.trim())
}

/// Whether an error body (XML `<Code>..</Code>` or JSON `"__type": "..#Code"`) names a
/// throttling code.
fn body_names_throttling(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    crate::error::THROTTLING.iter().any(|code| {
        text.contains(&format!("<Code>{code}</Code>"))
            || text.contains(&format!("#{code}\""))
            || text.contains(&format!("\"{code}\""))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_bodies_are_recognised() {
        assert!(body_names_throttling(
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
        ));
        assert!(body_names_throttling(
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>"
        ));
        assert!(body_names_throttling(
            br#"{"__type":"com.amazonaws.secretsmanager#ThrottlingException","message":"Rate exceeded"}"#
        ));
        assert!(body_names_throttling(
            b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        ));
        assert!(!body_names_throttling(
            b"<Error><Code>NoSuchBucket</Code><Message>Throttling is not the issue</Message></Error>"
        ));
        assert!(is_throttling_code("ThrottlingException"));
        assert!(!is_throttling_code("AccessDenied"));
    }

    #[tokio::test]
    async fn a_throttling_answer_pauses_the_account() {
        let info = ProviderInfo::new("aws-paced-test", "acct-throttled");
        let answer = HttpResponse::new(
            400u16.try_into().unwrap(),
            SdkBody::from("<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"),
        );
        let passed = watch_for_throttling(answer, &info).await;
        assert_eq!(passed.status().as_u16(), 400);
        assert_eq!(
            passed.body().bytes(),
            Some(&b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"[..])
        );
        let wait = provisio::requests::limiter().reserve(&info);
        assert!(
            wait > DEFAULT_PAUSE - Duration::from_millis(100) && wait <= DEFAULT_PAUSE,
            "paused for {wait:?}"
        );

        let other = ProviderInfo::new("aws-paced-test", "acct-fine");
        let answer = HttpResponse::new(
            400u16.try_into().unwrap(),
            SdkBody::from("<Error><Code>InvalidParameterValue</Code></Error>"),
        );
        watch_for_throttling(answer, &other).await;
        assert_eq!(
            provisio::requests::limiter().reserve(&other),
            Duration::ZERO
        );
    }
}
