//! The `http` provider of provisio: the [`Probe`](provisio::Probe) capability over HTTP(S), as
//! [`HttpProbe`]. The `http.check` resource type drives it to wait until a tenant's service
//! answers.
//!
//! # Design
//!
//! * **One probe, one request**: a `GET` or `HEAD` on a fresh connection (HTTP/1.1), no
//!   redirects followed (a 301 is the answer), no proxies, at most
//!   [`MAX_BODY_BYTES`](provisio::probe::MAX_BODY_BYTES) of the body read. Each is counted
//!   and paced as one request under the provider name `http`
//!   ([`provisio::requests::before_request`]). Polling, deadlines and backoff are not the
//!   provider's: the engine retries an `http.check` step.
//! * **TLS**: rustls (the same client stack as `provisio-cloudflare`, no OpenSSL), trusting the
//!   Mozilla root set of `webpki-roots` plus the request's `ca_file`. Not the system's trust
//!   store: an internal CA is named per check with `ca_file`. Verification is on unless the
//!   request itself says `tls_verify: false`; [`HttpConfig`] has no such setting and refuses
//!   one.
//! * **Errors** ([`error`](self#errors)): an HTTP status is an answer, never an error. A
//!   refused or reset connection is `Transient`, no answer in time `Timeout` (both retryable);
//!   a certificate that did not verify is `PermissionDenied` ("the server's certificate did
//!   not verify (UnknownIssuer) for https://...: set ca_file ... or tls_verify: false"), which
//!   is not retried.
//!
//! # Errors
//!
//! | failure | kind |
//! |---|---|
//! | a URL, timeout or Host header that breaks a rule, an unreadable or empty `ca_file` | `InvalidInput` naming the field |
//! | the server's certificate did not verify | `PermissionDenied` |
//! | no answer within the request's timeout | `Timeout` |
//! | connection refused or reset, DNS lookup failed, another TLS failure | `Transient` |
//!
//! # From a provider file
//!
//! ```toml
//! [providers.probe.default]
//! kind = "http"
//! # account = "http"        # the name requests are paced under
//! # rate_limit = { requests = 10, per_secs = 1 }
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod probe;

pub use config::HttpConfig;
pub use probe::{HttpProbe, PROVIDER};
