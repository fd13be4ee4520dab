//! Classification of AWS failures into provisio's [`ErrorKind`]s.
//!
//! The AWS services report failures as an HTTP status plus an error code (`ThrottlingException`,
//! `NoSuchBucket`, `InvalidInstanceID.NotFound`, ...). The code decides the kind where it is
//! known; the status decides otherwise (429 → rate limited, 5xx → transient, 403 → permission
//! denied, ...). Failures before a response (connection refused, a timeout) are classified by
//! provisio's AWS client (`src/wire`). Every error carries the provider (`aws`), the operation
//! (`dns.ensure_record`) and the resource (a name or id).

use provisio::{Error, ErrorKind};
use std::time::Duration;

/// The provider name every error carries.
pub(crate) const PROVIDER: &str = "aws";

/// Error codes AWS services use for throttling.
pub(crate) const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "EC2ThrottledException",
    "PriorRequestNotComplete",
];

/// How long the account pauses after a throttling answer without `Retry-After` (AWS sends
/// none): long enough for a token bucket such as EC2's or Route 53's to refill a little.
pub(crate) const THROTTLE_PAUSE: Duration = Duration::from_secs(1);

/// What an error says when no credentials could be had.
pub(crate) const NO_CREDENTIALS: &str =
    "no usable AWS credentials (check the credential chain, profile or role)";

/// The delay a `Retry-After` header value gives, in whole seconds as AWS sends it.
pub(crate) fn retry_after_secs(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Codes of temporary server-side failures.
const TRANSIENT: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "DependencyTimeoutException",
];

const TIMEOUT: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "RequestExpired",
];

const UNAUTHENTICATED: &[&str] = &[
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidSignatureException",
    "InvalidToken",
    "TokenRefreshRequired",
];

const PERMISSION_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Forbidden",
    "AllAccessDisabled",
    "AuthorizationError",
    "OptInRequired",
    "InvalidKMSKey.InvalidState",
];

const NOT_FOUND: &[&str] = &[
    "NotFound",
    "NotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchVersion",
    "NoSuchUpload",
    "NoSuchHostedZone",
    "NoSuchChange",
    "ResourceNotFoundException",
    "InvalidInstanceID.NotFound",
    "InvalidAMIID.NotFound",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBSnapshotNotFound",
    "DBSnapshotNotFoundFault",
    "DBSubnetGroupNotFoundFault",
    "DBParameterGroupNotFound",
    "NoSuchLifecycleConfiguration",
    "NoSuchTagSet",
    "NoSuchPublicAccessBlockConfiguration",
];

const ALREADY_EXISTS: &[&str] = &[
    "AlreadyExists",
    "AlreadyExistsException",
    "EntityAlreadyExists",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "ResourceExistsException",
    "HostedZoneAlreadyExists",
    "DBInstanceAlreadyExists",
    "DBInstanceAlreadyExistsFault",
    "DBSnapshotAlreadyExists",
    "DBSnapshotAlreadyExistsFault",
];

const CONFLICT: &[&str] = &[
    "BucketNotEmpty",
    "OperationAborted",
    "ConflictException",
    "ConcurrentModification",
    "ConcurrentModificationException",
    "IdempotentParameterMismatch",
    "InvalidChangeBatch",
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
    // a snapshot still being taken cannot be restored or deleted
    "InvalidDBSnapshotState",
    "InvalidDBSnapshotStateFault",
    "IncorrectState",
    "IncorrectInstanceState",
    "InvalidRequestException",
    // Quotas: the request is valid, the account's state refuses it; retrying will not help.
    "LimitExceededException",
    "InstanceLimitExceeded",
    "TooManyBuckets",
    "StorageQuotaExceeded",
    "InstanceQuotaExceeded",
    "DBInstanceQuotaExceeded",
    "SnapshotQuotaExceeded",
    "TooManyHostedZones",
];

const PROTECTED: &[&str] = &["OperationNotPermitted"];

const INVALID_INPUT: &[&str] = &[
    "ValidationError",
    "ValidationException",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidParameterException",
    "InvalidParameterCombination",
    "InvalidInput",
    "InvalidArgument",
    "InvalidBucketName",
    "InvalidDomainName",
    "MalformedXML",
    "MalformedPolicyDocumentException",
    "MissingParameter",
    "BadRequestException",
    "InvalidInstanceID.Malformed",
    "InvalidAMIID.Malformed",
    "InvalidTagKey.Malformed",
    "InvalidUserID.Malformed",
    "InvalidNextToken",
    "InvalidPaginationToken",
    "InvalidStorageClass",
    "Unsupported",
    "UnsupportedOperation",
];

/// The kind of a service error from its code and HTTP status. Unknown codes fall back on the
/// status; a missing status (no response) is `Transient`.
///
/// ```
/// use provisio::ErrorKind;
/// use provisio_aws::error::kind_for;
/// assert_eq!(kind_for(Some("SlowDown"), Some(503)), ErrorKind::RateLimited { retry_after: None });
/// assert_eq!(kind_for(Some("NoSuchBucket"), Some(404)), ErrorKind::NotFound);
/// assert_eq!(kind_for(Some("SomethingNew"), Some(502)), ErrorKind::Transient);
/// assert_eq!(kind_for(None, Some(403)), ErrorKind::PermissionDenied);
/// ```
pub fn kind_for(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    if let Some(code) = code {
        let is = |list: &[&str]| list.contains(&code);
        if is(THROTTLING) {
            return ErrorKind::RateLimited { retry_after: None };
        }
        if is(TIMEOUT) {
            return ErrorKind::Timeout;
        }
        if is(TRANSIENT) {
            return ErrorKind::Transient;
        }
        if is(UNAUTHENTICATED) {
            return ErrorKind::Unauthenticated;
        }
        if is(PERMISSION_DENIED) {
            return ErrorKind::PermissionDenied;
        }
        if is(NOT_FOUND) || code.ends_with(".NotFound") {
            return ErrorKind::NotFound;
        }
        if is(ALREADY_EXISTS) || code.ends_with(".Duplicate") {
            return ErrorKind::AlreadyExists;
        }
        if is(PROTECTED) {
            return ErrorKind::Protected;
        }
        if is(CONFLICT) {
            return ErrorKind::Conflict;
        }
        if is(INVALID_INPUT) || code.ends_with(".Malformed") {
            return ErrorKind::InvalidInput;
        }
    }
    match status {
        Some(429) => ErrorKind::RateLimited { retry_after: None },
        Some(408) => ErrorKind::Timeout,
        Some(401) => ErrorKind::Unauthenticated,
        Some(403) => ErrorKind::PermissionDenied,
        Some(404) => ErrorKind::NotFound,
        Some(409 | 412) => ErrorKind::Conflict,
        Some(400 | 413 | 414 | 422) => ErrorKind::InvalidInput,
        Some(s) if s >= 500 => ErrorKind::Transient,
        Some(_) => ErrorKind::Unexpected,
        None => ErrorKind::Transient,
    }
}

/// The message of an error answer: its code, status and message, as far as the service gave
/// them.
pub(crate) fn service_message(code: Option<&str>, message: Option<&str>, status: u16) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!("{c} (HTTP {status}): {m}"),
        (Some(c), None) => format!("{c} (HTTP {status})"),
        (None, Some(m)) => format!("HTTP {status}: {m}"),
        (None, None) => format!("HTTP {status}"),
    }
}

/// An error of this crate's own making, with the location filled in.
pub(crate) fn located(err: Error, operation: &str, resource: &str) -> Error {
    let err = err.in_context(PROVIDER, operation);
    if err.resource().is_none() {
        err.with_resource(resource)
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_before_status() {
        let rl = ErrorKind::RateLimited { retry_after: None };
        for c in [
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "SlowDown",
            "TooManyRequestsException",
        ] {
            assert_eq!(kind_for(Some(c), Some(400)), rl, "{c}");
        }
        assert_eq!(
            kind_for(Some("AccessDenied"), Some(403)),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind_for(Some("UnauthorizedOperation"), Some(403)),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind_for(Some("InvalidClientTokenId"), Some(403)),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind_for(Some("ExpiredToken"), Some(400)),
            ErrorKind::Unauthenticated
        );
        for c in [
            "NoSuchBucket",
            "ResourceNotFoundException",
            "NoSuchHostedZone",
            "InvalidInstanceID.NotFound",
            "DBInstanceNotFound",
            "InvalidVpcID.NotFound",
        ] {
            assert_eq!(kind_for(Some(c), Some(400)), ErrorKind::NotFound, "{c}");
        }
        for c in [
            "AlreadyExists",
            "BucketAlreadyOwnedByYou",
            "ResourceExistsException",
        ] {
            assert_eq!(
                kind_for(Some(c), Some(409)),
                ErrorKind::AlreadyExists,
                "{c}"
            );
        }
        assert_eq!(
            kind_for(Some("BucketNotEmpty"), Some(409)),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind_for(Some("InvalidParameterValue"), Some(400)),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn status_decides_unknown_codes() {
        assert_eq!(kind_for(Some("Brand.New"), Some(503)), ErrorKind::Transient);
        assert_eq!(
            kind_for(None, Some(429)),
            ErrorKind::RateLimited { retry_after: None }
        );
        assert_eq!(kind_for(None, Some(401)), ErrorKind::Unauthenticated);
        assert_eq!(kind_for(None, Some(404)), ErrorKind::NotFound);
        assert_eq!(kind_for(None, Some(418)), ErrorKind::Unexpected);
        assert_eq!(kind_for(None, None), ErrorKind::Transient);
        assert!(kind_for(None, Some(500)).is_retryable());
    }
}
