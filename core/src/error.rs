//! The one error type of provisio.
//!
//! Every provider classifies failures at its boundary (HTTP status plus the provider's own error
//! code) into an [`ErrorKind`]; the engine decides what to retry from the kind alone, through
//! [`Error::retryable`].

use std::fmt;
use std::time::Duration;

/// The boxed source of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is provisio's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of which provider reported it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource does not exist.
    NotFound,
    /// A resource with this identity exists with other settings, or cannot be created twice.
    AlreadyExists,
    /// The request conflicts with the resource's current state (e.g. a soft-deleted secret).
    Conflict,
    /// The request is malformed: a name, a parameter or a document failed validation.
    InvalidInput,
    /// The caller is authenticated but not allowed to do this.
    PermissionDenied,
    /// The credentials are missing, wrong or expired.
    Unauthenticated,
    /// The provider throttled the caller; `retry_after` is the provider's hint, if any.
    RateLimited {
        /// How long the provider asked the caller to wait.
        #[serde(with = "duration_millis_opt", default)]
        retry_after: Option<Duration>,
    },
    /// A temporary failure (5xx, connection reset) that may succeed when retried.
    Transient,
    /// The operation did not finish in time.
    Timeout,
    /// The resource is protected and the caller did not name it in an override.
    Protected,
    /// The provider does not support this operation.
    Unsupported,
    /// The run or step was cancelled by the caller.
    Cancelled,
    /// Anything else: a bug, or a response that could not be understood.
    Unexpected,
}

impl ErrorKind {
    /// Whether an operation that failed with this kind may succeed when simply retried.
    ///
    /// ```
    /// use provisio::ErrorKind;
    /// assert!(ErrorKind::Transient.is_retryable());
    /// assert!(!ErrorKind::NotFound.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited { .. } | ErrorKind::Transient | ErrorKind::Timeout
        )
    }

    /// A stable snake_case name for the kind (`not_found`, `rate_limited`, ...), used by the
    /// bindings to pick an exception class and by the CLI's JSON output.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Transient => "transient",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protected => "protected",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::RateLimited {
                retry_after: Some(d),
            } => write!(f, "rate_limited (retry after {} ms)", d.as_millis()),
            other => f.write_str(other.as_str()),
        }
    }
}

/// provisio's error: a kind, a message, and where it happened.
///
/// The message must never contain a secret value; providers build it from names and codes only.
///
/// ```
/// use provisio::{Error, ErrorKind};
/// let err = Error::not_found("zone example.com does not exist")
///     .with_provider("memory")
///     .with_operation("dns.find_zone")
///     .with_resource("example.com");
/// assert_eq!(err.kind(), &ErrorKind::NotFound);
/// assert!(!err.retryable());
/// assert!(err.to_string().contains("dns.find_zone"));
/// ```
#[derive(thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<Inner>);

/// Boxed so that `Result<T, Error>` stays one pointer wide on the error path.
#[derive(thiserror::Error)]
struct Inner {
    kind: ErrorKind,
    message: String,
    provider: Option<String>,
    operation: Option<String>,
    resource: Option<String>,
    #[source]
    source: Option<BoxError>,
}

impl Error {
    /// A new error of the given kind with a human-readable message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            provider: None,
            operation: None,
            resource: None,
            source: None,
        }))
    }

    /// `NotFound` with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// `AlreadyExists` with a message.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }
    /// `Conflict` with a message.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// `InvalidInput` with a message.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    /// `InvalidInput` naming the offending field and the rule it broke.
    ///
    /// ```
    /// let e = provisio::Error::invalid_field("bucket", "must be 3 to 63 characters long");
    /// assert_eq!(e.message(), "invalid bucket: must be 3 to 63 characters long");
    /// ```
    pub fn invalid_field(field: &str, rule: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidInput, format!("invalid {field}: {rule}"))
    }
    /// `Unsupported` naming the operation.
    pub fn unsupported(operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("{operation} is not supported by this provider"),
        )
        .with_operation(operation)
    }
    /// `Protected` with a message.
    pub fn protected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protected, message)
    }
    /// `Transient` with a message.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }
    /// `Timeout` with a message.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    /// `RateLimited` with the provider's hint.
    pub fn rate_limited(retry_after: Option<std::time::Duration>) -> Self {
        Self::new(ErrorKind::RateLimited { retry_after }, "rate limited")
    }
    /// `Unexpected` with a message.
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unexpected, message)
    }
    /// `Cancelled` with a message.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    /// Sets the provider that reported the error (e.g. `cloudflare`).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.0.provider = Some(provider.into());
        self
    }
    /// Sets the operation that failed (e.g. `dns.ensure_record`).
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        self.0.operation = Some(operation.into());
        self
    }
    /// Sets the resource the operation was about (a name or id, never a secret value).
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.0.resource = Some(resource.into());
        self
    }
    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }
    /// The same error with `prefix` put before its message (`"resource \"db\": "` + message),
    /// keeping kind, provider, operation, resource and source: context added on the way up
    /// without repeating the message as a source.
    ///
    /// ```
    /// let e = provisio::Error::invalid_field("name", "contains '/'").context("resource \"db\"");
    /// assert_eq!(e.message(), "resource \"db\": invalid name: contains '/'");
    /// assert_eq!(e.to_string(), "invalid_input: resource \"db\": invalid name: contains '/'");
    /// ```
    pub fn context(mut self, prefix: impl fmt::Display) -> Self {
        self.0.message = format!("{prefix}: {}", self.0.message);
        self
    }
    /// Fills in provider and operation only where they are not set yet; providers call this at
    /// their boundary so inner helpers need not repeat it.
    pub fn in_context(mut self, provider: &str, operation: &str) -> Self {
        if self.0.provider.is_none() {
            self.0.provider = Some(provider.to_string());
        }
        if self.0.operation.is_none() {
            self.0.operation = Some(operation.to_string());
        }
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
    /// Whether retrying the same call may succeed.
    pub fn retryable(&self) -> bool {
        self.0.kind.is_retryable()
    }
    /// The provider's wait hint for `RateLimited` errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.0.kind {
            ErrorKind::RateLimited { retry_after } => retry_after,
            _ => None,
        }
    }
    /// The message, without provider/operation/resource decoration.
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// The provider that reported the error.
    pub fn provider(&self) -> Option<&str> {
        self.0.provider.as_deref()
    }
    /// The operation that failed.
    pub fn operation(&self) -> Option<&str> {
        self.0.operation.as_deref()
    }
    /// The resource concerned.
    pub fn resource(&self) -> Option<&str> {
        self.0.resource.as_deref()
    }
}

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        match (&self.provider, &self.operation) {
            (Some(p), Some(o)) => write!(f, " in {p} {o}")?,
            (Some(p), None) => write!(f, " in {p}")?,
            (None, Some(o)) => write!(f, " in {o}")?,
            (None, None) => {}
        }
        if let Some(r) = &self.resource {
            write!(f, " [{r}]")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("provider", &self.provider)
            .field("operation", &self.operation)
            .field("resource", &self.resource)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Clone for Error {
    /// Clones the error; the source is kept as its rendered text.
    fn clone(&self) -> Self {
        Error(Box::new(Inner {
            kind: self.0.kind.clone(),
            message: self.0.message.clone(),
            provider: self.0.provider.clone(),
            operation: self.0.operation.clone(),
            resource: self.0.resource.clone(),
            source: self
                .0
                .source
                .as_ref()
                .map(|s| Box::new(SourceText(s.to_string())) as BoxError),
        }))
    }
}

#[derive(Debug)]
struct SourceText(String);
impl fmt::Display for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SourceText {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid_input("malformed JSON").with_source(e)
    }
}

mod duration_millis_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// `err` and its sources, each once, joined by `": "`: a library error whose `Display` leaves
/// out the cause (tokio-postgres: "error connecting to server") becomes one readable line.
/// Only for errors that hold no secret (connection failures, TLS, I/O).
pub fn describe_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(Error::rate_limited(None).retryable());
        assert!(Error::transient("x").retryable());
        assert!(Error::timeout("x").retryable());
        for k in [
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::Conflict,
            ErrorKind::InvalidInput,
            ErrorKind::PermissionDenied,
            ErrorKind::Unauthenticated,
            ErrorKind::Protected,
            ErrorKind::Unsupported,
            ErrorKind::Cancelled,
            ErrorKind::Unexpected,
        ] {
            assert!(
                !Error::new(k.clone(), "x").retryable(),
                "{k} must not retry"
            );
        }
    }

    #[test]
    fn display_has_context_and_source() {
        let e = Error::transient("upstream 503")
            .in_context("cloudflare", "dns.ensure_record")
            .with_resource("acme.example.com")
            .with_source(std::io::Error::other("reset"));
        let s = e.to_string();
        assert_eq!(
            s,
            "transient in cloudflare dns.ensure_record [acme.example.com]: upstream 503: reset"
        );
        // in_context never overwrites what an inner layer set
        let e = e.in_context("other", "other.op");
        assert_eq!(e.provider(), Some("cloudflare"));
        assert_eq!(e.clone().to_string(), s);
    }

    #[test]
    fn rate_limit_hint_roundtrips_through_serde() {
        let k = ErrorKind::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        };
        let j = serde_json::to_string(&k).unwrap();
        assert_eq!(j, r#"{"kind":"rate_limited","retry_after":1500}"#);
        let back: ErrorKind = serde_json::from_str(&j).unwrap();
        assert_eq!(back, k);
        assert_eq!(
            Error::new(k, "slow down").retry_after(),
            Some(Duration::from_millis(1500))
        );
    }
}
