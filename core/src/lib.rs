//! provisio: an embeddable provisioning library.
//!
//! This crate is the bottom of provisio's layers (see `docs/architecture.md`): the
//! [capability traits](#capabilities) every provider implements, the one [`Error`] type, the
//! [`SecretString`] that never shows its value, and [`validate`], the name checks every
//! boundary runs.
//!
//! # Capabilities
//!
//! | module | trait | operations |
//! |---|---|---|
//! | [`dns`] | [`DnsProvider`] | zones, records |
//! | [`storage`] | [`ObjectStorage`] | buckets, objects, prefix copy |
//! | [`compute`] | [`Compute`] | instances |
//! | [`ci`] | [`CiServer`] | folders, jobs, builds |
//! | [`secrets`] | [`SecretStore`] | versioned secrets with soft delete |
//! | [`database`] | [`Database`] | managed servers, roles, databases, seeds |
//! | [`repo`] | [`Repository`] | branches, commits |
//! | [`mail`] | [`Mail`] | sending identities |
//! | [`probe`] | [`Probe`] | one HTTP(S) request: does a URL answer? |
//! | [`host`] | [`Host`] | files and commands on a remote machine |
//!
//! Every trait is async, object-safe and `Send + Sync`; every "ensure" is idempotent and every
//! delete succeeds when the resource is already gone.
#![deny(missing_docs)]

pub mod archive;
pub mod ci;
pub mod compute;
pub mod database;
pub mod dns;
pub mod error;
pub mod existence;
pub mod host;
pub mod layer;
pub mod mail;
pub mod probe;
pub mod provider;
pub mod providers;
pub mod ratelimit;
pub mod repo;
pub mod requests;
pub mod secret;
pub mod secrets;
pub mod storage;
pub mod stream;
pub mod types;
pub mod validate;

pub use ci::CiServer;
pub use compute::Compute;
pub use database::Database;
pub use dns::DnsProvider;
pub use error::{Error, ErrorKind, Result};
pub use host::Host;
pub use mail::Mail;
pub use probe::Probe;
pub use provider::{Provider, ProviderInfo, Quota};
pub use repo::Repository;
pub use secret::SecretString;
pub use secrets::SecretStore;
pub use storage::ObjectStorage;
pub use stream::ByteStream;
pub use types::{Confirm, Deleted, Ensured, Outcome, Page, PageRequest, Tags};

/// Re-exported so providers and users implement the traits with the same macro version.
pub use async_trait::async_trait;
/// Re-exported for object bodies.
pub use bytes::Bytes;
