//! JSON bodies: the JSON 1.1 protocol (Secrets Manager) and the errors of JSON services.

use super::{Client, Protocol, Request};
use provisio::layer::Safety;
use provisio::{Error, Result};
use serde_json::Value;

/// The code and message of a JSON error answer: the code from the `x-amzn-errortype` header or
/// the body's `__type` / `code` (without a namespace prefix or a `:` suffix), the message from
/// `message` / `Message`.
pub(crate) fn error_of(
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> (Option<String>, Option<String>) {
    let doc: Option<Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| {
        doc.as_ref().and_then(|d| {
            names
                .iter()
                .find_map(|n| d.get(*n).and_then(Value::as_str).map(str::to_string))
        })
    };
    let code = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| field(&["__type", "code", "Code"]))
        .map(|c| clean_code(&c).to_string())
        .filter(|c| !c.is_empty());
    (code, field(&["message", "Message"]))
}

/// `aws.protocoltests#FooError:http://...` → `FooError`.
fn clean_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code).trim()
}

/// The `Tags` list (`[{"Key": .., "Value": ..}]`) of a JSON answer, as provisio's tags.
pub(crate) fn tags_of(out: &Value) -> provisio::Tags {
    out.get("Tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| {
                    Some((
                        t.get("Key")?.as_str()?.to_string(),
                        t.get("Value")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// provisio's tags as the JSON services take them: `[{"Key": .., "Value": ..}]`.
pub(crate) fn tag_list(tags: &provisio::Tags) -> Value {
    tags.iter()
        .map(|(k, v)| serde_json::json!({ "Key": k, "Value": v }))
        .collect()
}

/// What an expected error answer of [`Client::json`] is.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// The operation's output.
    Done(Value),
    /// An error answer with a code the caller expected.
    Refused(String),
}

impl Client {
    /// Calls `operation_name` (`CreateSecret`) of a JSON 1.1 service with `input`, for
    /// provisio's `operation` on `resource`. Error answers whose code is in `expected` come back
    /// as [`Reply::Refused`].
    pub(crate) async fn json(
        &self,
        operation_name: &str,
        input: &Value,
        safety: Safety,
        expected: &[&'static str],
        operation: &str,
        resource: &str,
    ) -> Result<Reply> {
        let Protocol::Json(prefix) = self.inner.api.protocol else {
            return Err(Error::unexpected(format!(
                "{} does not speak JSON 1.1",
                self.inner.api.service
            )));
        };
        let mut request = Request::new(reqwest::Method::POST, "/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{prefix}.{operation_name}"))
            .body(serde_json::to_vec(input).map_err(|e| {
                Error::unexpected("the request could not be encoded").with_source(e)
            })?)
            .safety(safety);
        for code in expected {
            request = request.expect_code(code);
        }
        let answer = self.send(&request, operation, resource).await?;
        if let Some(code) = answer.code.clone() {
            return Ok(Reply::Refused(code));
        }
        answer.json().map(Reply::Done).map_err(|e| {
            e.with_provider(crate::error::PROVIDER)
                .with_operation(operation)
                .with_resource(resource)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_lose_namespace_and_suffix() {
        assert_eq!(
            clean_code("com.amazonaws.secretsmanager#ResourceNotFoundException"),
            "ResourceNotFoundException"
        );
        assert_eq!(
            clean_code("NotFoundException:http://internal.amazon.com/coral/"),
            "NotFoundException"
        );
        let mut headers = reqwest::header::HeaderMap::new();
        let (code, message) = error_of(&headers, br#"{"__type":"a#B","Message":"m"}"#);
        assert_eq!(
            (code.as_deref(), message.as_deref()),
            (Some("B"), Some("m"))
        );
        headers.insert(
            "x-amzn-errortype",
            "TooManyRequestsException:".parse().unwrap(),
        );
        let (code, message) = error_of(&headers, b"not json");
        assert_eq!(
            (code.as_deref(), message),
            (Some("TooManyRequestsException"), None)
        );
    }
}
