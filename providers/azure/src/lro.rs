//! Resource Manager long-running operations (VM create and delete).
//!
//! A PUT or DELETE that starts an operation answers 200/201/202 with `Azure-AsyncOperation`
//! (poll it: `{"status":"InProgress|Succeeded|Failed|Canceled","error"?}`) or only `Location`
//! (poll it: 202 while running, 200/204 when done), and a `Retry-After` between polls. Polling
//! is bounded by the configured LRO timeout.

use crate::client::{Arm, Response};
use crate::error::{PROVIDER, ServiceError, http_error, parse_json_error, retry_after};
use provisio::{Error, Result};
use reqwest::Method;
use std::time::Duration;

/// How an operation is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lro {
    /// Poll the `Azure-AsyncOperation` status URL.
    AsyncOperation(String),
    /// Poll the `Location` URL.
    Location(String),
}

/// What one poll found.
#[derive(Debug)]
pub(crate) enum Poll {
    /// The operation finished successfully.
    Done,
    /// Still running; wait this long (the service's `Retry-After`) before the next poll.
    Wait(Option<Duration>),
    /// The operation failed.
    Failed(Error),
}

/// The operation a response started, if any.
pub(crate) fn started(resp: &Response) -> Option<Lro> {
    if let Some(u) = resp.header("azure-asyncoperation") {
        return Some(Lro::AsyncOperation(u.to_string()));
    }
    if let Some(u) = resp.header("location")
        && (resp.status == 202 || resp.status == 201)
    {
        return Some(Lro::Location(u.to_string()));
    }
    None
}

/// Reads one poll of an `Azure-AsyncOperation` URL.
pub(crate) fn poll_async_operation(resp: &Response) -> Poll {
    if !resp.ok() {
        return Poll::Failed(resp.json_error());
    }
    #[derive(serde::Deserialize)]
    struct Status {
        status: String,
        #[serde(default)]
        error: Option<serde_json::Value>,
    }
    let Ok(s) = serde_json::from_slice::<Status>(&resp.body) else {
        return Poll::Failed(
            Error::unexpected("unreadable operation status").with_provider(PROVIDER),
        );
    };
    match s.status.as_str() {
        "Succeeded" => Poll::Done,
        "Failed" | "Canceled" | "Cancelled" => {
            let e = s
                .error
                .map(|e| parse_json_error(serde_json::json!({ "error": e }).to_string().as_bytes()))
                .unwrap_or(ServiceError {
                    code: Some(s.status.clone()),
                    ..Default::default()
                });
            // A failed operation is reported as the service's own error (400 class) unless the
            // code says otherwise; never retryable by itself except for throttling codes.
            let status = match e.code.as_deref() {
                Some("TooManyRequests") => 429,
                Some("InternalServerError" | "InternalExecutionError") => 500,
                Some("Canceled") => 409,
                _ => 400,
            };
            Poll::Failed(
                http_error(status, &resp.headers, &e)
                    .with_operation(format!("long-running operation {}", s.status)),
            )
        }
        _ => Poll::Wait(retry_after(&resp.headers)),
    }
}

/// Reads one poll of a `Location` URL.
pub(crate) fn poll_location(resp: &Response) -> Poll {
    match resp.status {
        202 => Poll::Wait(retry_after(&resp.headers)),
        200..=299 => Poll::Done,
        _ => Poll::Failed(resp.json_error()),
    }
}

/// Polls `lro` until it finishes, sleeping the service's `Retry-After` (else the configured
/// interval) between polls, for at most the configured LRO timeout.
pub(crate) async fn wait(arm: &Arm, lro: &Lro, first_wait: Option<Duration>) -> Result<()> {
    let cfg = &arm.core.config;
    let deadline = tokio::time::Instant::now() + cfg.lro_timeout();
    let mut delay = first_wait;
    loop {
        let pause = delay
            .unwrap_or(cfg.poll_interval())
            .max(Duration::from_millis(10));
        if tokio::time::Instant::now() + pause > deadline {
            return Err(Error::timeout(format!(
                "the long-running operation did not finish within {} s",
                cfg.lro_timeout().as_secs()
            ))
            .with_provider(PROVIDER));
        }
        tokio::time::sleep(pause).await;
        let (url, is_async) = match lro {
            Lro::AsyncOperation(u) => (u, true),
            Lro::Location(u) => (u, false),
        };
        let url = arm.check_link(url)?;
        let resp = arm.call(Method::GET, &url, None, &[]).await?;
        if resp.status == 429 || resp.status >= 500 {
            // Throttled or a hiccup while polling: keep polling, honouring the hint.
            delay = retry_after(&resp.headers);
            continue;
        }
        let poll = if is_async {
            poll_async_operation(&resp)
        } else {
            poll_location(&resp)
        };
        match poll {
            Poll::Done => return Ok(()),
            Poll::Wait(d) => delay = d,
            Poll::Failed(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::ErrorKind;
    use reqwest::header::HeaderMap;

    fn resp(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        Response {
            status,
            headers: h,
            body: provisio::Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn start_prefers_azure_async_operation() {
        let r = resp(
            201,
            &[
                ("azure-asyncoperation", "https://m/op/1"),
                ("location", "https://m/loc/1"),
            ],
            "{}",
        );
        assert_eq!(
            started(&r),
            Some(Lro::AsyncOperation("https://m/op/1".into()))
        );
        let r = resp(202, &[("location", "https://m/loc/1")], "");
        assert_eq!(started(&r), Some(Lro::Location("https://m/loc/1".into())));
        // A synchronous 200 with a Location header (a normal GET-able resource) is no LRO.
        let r = resp(200, &[("location", "https://m/loc/1")], "");
        assert_eq!(started(&r), None);
    }

    #[test]
    fn async_operation_states() {
        let r = resp(200, &[("retry-after", "3")], r#"{"status":"InProgress"}"#);
        assert!(
            matches!(poll_async_operation(&r), Poll::Wait(Some(d)) if d == Duration::from_secs(3))
        );
        let r = resp(200, &[], r#"{"status":"Succeeded"}"#);
        assert!(matches!(poll_async_operation(&r), Poll::Done));
        let r = resp(
            200,
            &[],
            r#"{"status":"Failed","error":{"code":"QuotaExceeded","message":"cores"}}"#,
        );
        match poll_async_operation(&r) {
            Poll::Failed(e) => {
                assert_eq!(e.kind(), &ErrorKind::InvalidInput);
                assert!(e.message().contains("QuotaExceeded"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let r = resp(200, &[], r#"{"status":"Canceled"}"#);
        assert!(
            matches!(poll_async_operation(&r), Poll::Failed(e) if e.kind() == &ErrorKind::Conflict)
        );
    }

    #[test]
    fn location_states() {
        assert!(matches!(
            poll_location(&resp(202, &[], "")),
            Poll::Wait(None)
        ));
        assert!(matches!(poll_location(&resp(200, &[], "{}")), Poll::Done));
        assert!(matches!(poll_location(&resp(204, &[], "")), Poll::Done));
        assert!(matches!(
            poll_location(&resp(404, &[], r#"{"error":{"code":"NotFound","message":"x"}}"#)),
            Poll::Failed(e) if e.kind() == &ErrorKind::NotFound
        ));
    }
}
