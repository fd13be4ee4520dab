//! In-memory providers for provisio: faithful mocks of every capability, with fault injection
//! and an inventory to assert on.
//!
//! | capability | provider | modelled on |
//! |---|---|---|
//! | [`provisio::DnsProvider`] | [`MemoryDns`] | Cloudflare |
//! | [`provisio::ObjectStorage`] | [`MemoryStorage`] | S3 |
//! | [`provisio::Compute`] | [`MemoryCompute`] | EC2 |
//! | [`provisio::CiServer`] | [`MemoryCi`] | Jenkins |
//! | [`provisio::SecretStore`] | [`MemorySecrets`] | Key Vault (names with paths, as AWS Secrets Manager) |
//! | [`provisio::Database`] | [`MemoryDatabase`] | RDS + PostgreSQL |
//! | [`provisio::Repository`] | [`MemoryRepo`] | git |
//! | [`provisio::Mail`] | [`MemoryMail`] | SES |
//! | [`provisio::Probe`] | [`MemoryProbe`] | a table of URL -> answer; every other URL answers `200 ok` |
//! | [`provisio::Host`] | [`MemoryHost`] | a Linux host over ssh (commands answer from a table) |
//!
//! [`MemoryCloud`] bundles one of each around a shared [`Faults`]; [`Faults`] injects errors,
//! latency and rate limits deterministically under a seed; [`Inventory`] is a comparable
//! snapshot of what the providers hold.
//!
//! A memory world can outlive its process: [`MemoryCloud::snapshot`] /
//! [`MemoryCloud::from_snapshot`] turn it into a [`MemorySnapshot`] and back, and
//! [`MemoryCloud::save`] / [`MemoryCloud::load`] keep it in a JSON file (see [`snapshot`]).
//! A world shared by several processes, durable at every call, is opened with
//! [`MemoryCloud::open`] (see [`persist`]): every provider call reloads what other processes
//! wrote and is on disk before it returns.
//!
//! What a world holds before provisioning (a DNS zone, a shared bucket, umbrella CI jobs) is
//! written as [`MemoryFixtures`] in YAML, JSON or TOML and ensured with
//! [`MemoryCloud::apply_fixtures`] (see [`fixtures`]).
#![deny(missing_docs)]

pub mod ci;
pub mod cloud;
pub mod compute;
pub mod content;
pub mod database;
pub mod dns;
pub mod faults;
pub mod fixtures;
pub mod host;
pub mod inventory;
pub mod mail;
pub mod names;
mod paging;
pub mod persist;
pub mod probe;
pub mod repo;
pub mod secrets;
pub mod snapshot;
pub mod storage;

pub use ci::MemoryCi;
pub use cloud::MemoryCloud;
pub use compute::MemoryCompute;
pub use content::Content;
pub use database::MemoryDatabase;
pub use dns::MemoryDns;
pub use faults::{CallOutcome, CallRecord, Faults};
pub use fixtures::MemoryFixtures;
pub use host::MemoryHost;
pub use inventory::Inventory;
pub use mail::MemoryMail;
pub use persist::PersistStats;
pub use probe::MemoryProbe;
pub use repo::MemoryRepo;
pub use secrets::MemorySecrets;
pub use snapshot::{MemorySnapshot, SNAPSHOT_VERSION};
pub use storage::MemoryStorage;
