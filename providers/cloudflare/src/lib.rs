//! The Cloudflare provider of provisio: the [`DnsProvider`](provisio::DnsProvider) capability
//! over Cloudflare's API v4 (zones and DNS records), as [`CloudflareDns`].
//!
//! # Design
//!
//! * **Auth**: an API token (`Authorization: Bearer`), from the environment variable
//!   [`CloudflareConfig::api_token_env`] names (`CLOUDFLARE_API_TOKEN` by default, read again
//!   before every request so a rotated token is picked up), or given directly by Rust callers
//!   ([`CloudflareConfig::api_token`], a [`SecretString`](provisio::SecretString)). The token
//!   needs *Zone: Read* and *DNS: Edit* on the zones provisio manages.
//! * **Records**: one record per name and type, as the trait says. `ensure_record` is
//!   `GET ?type=&name=`, then `POST` when there is none, `PATCH` of the differing fields when it
//!   differs, nothing when it matches. TTL (1 = automatic, or `min_ttl..=86400`) and proxying
//!   (A/AAAA/CNAME only, always with TTL 1) are checked before anything is sent. See
//!   [`CloudflareDns`].
//! * **Errors** are classified at this boundary from the HTTP status and Cloudflare's codes
//!   ([`classify`]): 81057/81058 → `AlreadyExists`, 81053/81054 → `Conflict`, 9005/1004 →
//!   `InvalidInput`, 401 → `Unauthenticated`, 403 → `PermissionDenied`, 429 →
//!   `RateLimited { retry_after }`, 5xx → `Transient`, timeouts → `Timeout`.
//! * **Rate limits**: Cloudflare allows 1200 requests per 5 minutes per user or token. Every
//!   HTTP request is paced and counted in [`provisio::requests::before_request`], in the
//!   process-wide bucket of the account (shared by every provider instance and engine of the
//!   process), at [`ProviderInfo::quota`](provisio::ProviderInfo::quota): the configured
//!   [`CloudflareConfig::rate_limit`] less one request per window of headroom. A 429 pauses
//!   that bucket for `retry-after`.
//! * **Ownership**: the trait's [`RecordSpec`](provisio::dns::RecordSpec) carries no tags, so
//!   records get the fixed comment [`CloudflareConfig::record_comment`] ("managed by provisio")
//!   when they are created; updates leave comments and tags alone.
//!
//! # Getting an `Arc<dyn DnsProvider>`
//!
//! ```no_run
//! # async fn demo() -> provisio::Result<()> {
//! use provisio::DnsProvider;
//! use provisio::dns::{RecordSpec, RecordType};
//! use provisio_cloudflare::{CloudflareConfig, CloudflareDns};
//! use std::sync::Arc;
//!
//! // Token from CLOUDFLARE_API_TOKEN, the real API, 1200 requests per 5 minutes.
//! let dns: Arc<dyn DnsProvider> = Arc::new(CloudflareDns::new(CloudflareConfig::new())?);
//! // Or from a provider file: `serde` fills in the defaults, the token stays in the environment.
//! let config: CloudflareConfig = serde_json::from_str(r#"{"api_token_env": "CF_TOKEN"}"#)?;
//! let _other: Arc<dyn DnsProvider> = Arc::new(CloudflareDns::new(config)?);
//!
//! let zone = dns.find_zone("example.com").await?.expect("the zone exists");
//! let spec = RecordSpec::new("acme.example.com", RecordType::A, "192.0.2.10", 300);
//! let ensured = dns.ensure_record(&zone, &spec).await?;
//! println!("{} is {:?}", ensured.value.name, ensured.outcome);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod client;
mod config;
mod dns;
mod error;

pub use config::{
    CloudflareConfig, DEFAULT_BASE_URL, DEFAULT_RECORD_COMMENT, DEFAULT_REQUESTS_PER_WINDOW,
    DEFAULT_TOKEN_ENV, DEFAULT_WINDOW_SECS,
};
pub use dns::{
    CloudflareDns, DEFAULT_PAGE_SIZE, MAX_COMMENT, MAX_PAGE_SIZE, MAX_TXT_CONTENT, PROVIDER,
    check_spec,
};
pub use error::{ApiError, RECORD_DOES_NOT_EXIST, classify};
