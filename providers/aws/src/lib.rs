//! The AWS provider of provisio: six services on a small signed client of provisio's own
//! (`wire`), with credentials, region and endpoint from the official AWS SDK's configuration
//! and requests signed by the SDK's `aws-sigv4`.
//!
//! | capability | service | type |
//! |---|---|---|
//! | [`DnsProvider`](provisio::DnsProvider) | Route 53 | [`Route53Dns`] |
//! | [`ObjectStorage`](provisio::ObjectStorage) | S3 | [`S3Storage`] |
//! | [`Compute`](provisio::Compute) | EC2 | [`Ec2Compute`] |
//! | [`SecretStore`](provisio::SecretStore) | Secrets Manager | [`SecretsManagerStore`] |
//! | [`Database`](provisio::Database) (servers and their snapshots only) | RDS | [`RdsDatabase`] |
//! | [`Mail`](provisio::Mail) | SES v2 | [`SesMail`] |
//!
//! # Design
//!
//! * **One SDK configuration, one client per service.** [`Aws::connect`] loads the region,
//!   endpoint and credentials once ([`AwsConfig`]: the standard chain of environment, profile,
//!   web identity and instance metadata, optionally a role to assume; never credentials from a
//!   file) and hands out one provider per capability. The services are spoken to by provisio's
//!   own client (`wire`: the Query, REST-XML, REST-JSON and JSON 1.1 protocols), not by the
//!   SDK's generated service crates, which are about two million lines for the 43 operations
//!   provisio calls (see `docs/providers/aws.md`).
//! * **No retries inside the client** (by default): provisio's engine retries what the error
//!   kind says is retryable, with backoff, jitter and the per-account rate limit, so the client
//!   makes one attempt per call ([`AwsConfig::max_attempts`]). Otherwise a throttled call would
//!   be retried three times inside each of the engine's attempts.
//! * **Errors are classified here**: service error codes and HTTP statuses become provisio's
//!   kinds ([`error::kind_for`]), with the provider (`aws`), the operation and the resource.
//! * **Names are validated before any call** with [`provisio::validate`].
//! * **Every request is paced and counted at the HTTP layer**: provisio's client makes every
//!   request first wait for the account's quota of that service and is counted in the step's
//!   tally ([`provisio::requests`]); the quotas default to each service's documented limit and
//!   are set per service with [`AwsConfig::rate_limits`].
//! * **Few requests per operation**: writes are optimistic where AWS answers "already there"
//!   itself (a Route 53 `CREATE`, a `CreateSecret`, a `CreateBucket` outside us-east-1), reads
//!   happen once, and a provider instance remembers what it learnt (hosted zone ids, record
//!   sets it wrote or read). The count of each operation is in `docs/providers/aws.md`.
//! * **Idempotency does not depend on the service alone**: EC2 launches are adopted by their
//!   ownership tags before any `RunInstances` (and carry a `ClientToken`); a secret whose
//!   create answer was lost is found by the next `CreateSecret` (`ResourceExistsException`).
//! * **TLS is rustls with *ring***: reqwest with rustls, and every AWS crate built without its
//!   default features, so neither OpenSSL nor aws-lc is compiled.
//!
//! # Getting the capabilities
//!
//! ```no_run
//! # #[cfg(all(feature = "route53", feature = "s3", feature = "ec2", feature = "secretsmanager",
//! #     feature = "rds", feature = "sesv2"))]
//! # async fn demo() -> provisio::Result<()> {
//! use std::sync::Arc;
//! use provisio::{Compute, Database, DnsProvider, Mail, ObjectStorage, SecretStore};
//! use provisio_aws::{Aws, AwsConfig};
//!
//! // eu-west-1 with the standard credential chain, as the role provisio runs under.
//! let aws = Aws::connect(
//!     AwsConfig::new("eu-west-1").with_assume_role("arn:aws:iam::123456789012:role/provisio"),
//! )
//! .await?;
//! let dns: Arc<dyn DnsProvider> = aws.dns();
//! let storage: Arc<dyn ObjectStorage> = aws.storage();
//! let compute: Arc<dyn Compute> = aws.compute();
//! let secrets: Arc<dyn SecretStore> = aws.secrets();
//! let database: Arc<dyn Database> = aws.database();
//! let mail: Arc<dyn Mail> = aws.mail();
//!
//! let zone = dns.find_zone("example.com").await?.expect("the zone exists");
//! println!("zone {} is {}", zone.name, zone.id);
//! # let _ = (storage, compute, secrets, database, mail);
//! # Ok(()) }
//! ```
//!
//! Against moto (or another emulator), [`AwsConfig::for_emulator`] sets the endpoint and fake
//! credentials in code.
//!
//! # Cargo features: one per service
//!
//! Each service is behind a feature of its own; the default is all six. A DNS-only build is
//! `provisio-aws = { version = "0.1", default-features = false, features = ["route53"] }`.
//!
//! | feature | protocol | gives |
//! |---|---|---|
//! | `route53` | REST-XML | [`Aws::dns`], `Route53Dns` |
//! | `s3` | REST-XML | [`Aws::storage`], `S3Storage`, `ARCHIVE_RULE_ID` |
//! | `ec2` | Query | [`Aws::compute`], `Ec2Compute` |
//! | `secretsmanager` | JSON 1.1 | [`Aws::secrets`], `SecretsManagerStore` |
//! | `rds` | Query | [`Aws::database`], `RdsDatabase`, `rds_identifier` |
//! | `sesv2` | REST-JSON | [`Aws::mail`], `SesMail`, `dkim_records` |
//!
//! [`AwsConfig`] is the same in every build (a provider file that sets `rate_limits.s3` reads
//! the same in a DNS-only build); what a build leaves out is the capability itself.
#![deny(missing_docs)]
// Without any service feature the crate is configuration and error classification only.
#![cfg_attr(not(feature = "wire"), allow(dead_code, unused_imports))]

mod client;
#[cfg(feature = "ec2")]
mod compute;
mod config;
#[cfg(feature = "rds")]
mod database;
#[cfg(feature = "route53")]
mod dns;
#[cfg(feature = "route53")]
mod dns_batch;
#[cfg(feature = "route53")]
mod dns_known;
#[cfg(feature = "route53")]
mod dns_sets;
pub mod error;
#[cfg(feature = "sesv2")]
mod mail;
mod names;
#[cfg(feature = "secretsmanager")]
mod secrets;
#[cfg(feature = "s3")]
mod storage;
#[cfg(feature = "s3")]
mod storage_classes;
#[cfg(feature = "s3")]
mod storage_settings;
#[cfg(feature = "s3")]
mod storage_stream;
// Shared by the services: a build with only some of them leaves the others' parts unused.
#[cfg(feature = "wire")]
#[cfg_attr(
    not(all(
        feature = "route53",
        feature = "s3",
        feature = "ec2",
        feature = "secretsmanager",
        feature = "rds",
        feature = "sesv2"
    )),
    allow(dead_code, unused_imports)
)]
mod wire;

#[cfg(all(test, feature = "rds"))]
mod database_tests;
#[cfg(all(test, feature = "route53"))]
mod dns_tests;
#[cfg(all(test, feature = "sesv2"))]
mod mail_tests;
#[cfg(all(test, feature = "secretsmanager"))]
mod secrets_tests;
#[cfg(all(test, feature = "s3"))]
mod storage_tests;

#[cfg(feature = "ec2")]
pub use compute::Ec2Compute;
pub use config::{AwsConfig, AwsRateLimits, StaticCredentials};
#[cfg(feature = "rds")]
pub use database::{RdsDatabase, rds_identifier};
#[cfg(feature = "route53")]
pub use dns::Route53Dns;
#[cfg(feature = "sesv2")]
pub use mail::{SesMail, dkim_records};
#[cfg(feature = "secretsmanager")]
pub use secrets::SecretsManagerStore;
#[cfg(feature = "s3")]
pub use storage::{ARCHIVE_RULE_ID, S3Storage};

use config::Service;
use std::sync::Arc;

/// A connected AWS account and region: the factory of every AWS capability.
#[derive(Debug, Clone)]
pub struct Aws {
    config: AwsConfig,
    sdk: aws_types::SdkConfig,
    account: String,
}

impl Aws {
    /// Loads the SDK configuration (region, endpoint, credential chain, optional role) from
    /// `config`. No AWS call is made: credentials are resolved at the first request.
    pub async fn connect(config: AwsConfig) -> provisio::Result<Aws> {
        let sdk = client::load(&config).await?;
        let account = client::account_label(&config, &sdk);
        Ok(Aws {
            config,
            sdk,
            account,
        })
    }

    /// Uses an SDK configuration built by the caller (its retry settings are kept).
    pub fn from_sdk_config(sdk: aws_types::SdkConfig, config: AwsConfig) -> Aws {
        let account = client::account_label(&config, &sdk);
        Aws {
            config,
            sdk,
            account,
        }
    }

    /// The configuration this account was connected with.
    pub fn config(&self) -> &AwsConfig {
        &self.config
    }

    /// The SDK configuration, for callers who need a client provisio does not wrap.
    pub fn sdk_config(&self) -> &aws_types::SdkConfig {
        &self.sdk
    }

    /// The account label used in [`provisio::ProviderInfo::account`].
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The identity and quota of `service` for this account.
    fn info(&self, service: Service) -> provisio::ProviderInfo {
        self.config.provider_info(service, &self.account)
    }

    /// Route 53 as a DNS provider (on provisio's own signed client: see
    /// `docs/providers/aws.md`).
    #[cfg(feature = "route53")]
    pub fn dns(&self) -> Arc<Route53Dns> {
        let client = wire::Client::new(
            wire::ROUTE53,
            &self.sdk,
            &self.config,
            self.info(Service::Route53),
        );
        Arc::new(Route53Dns::new(client, &self.config, &self.account))
    }

    /// S3 as object storage (on provisio's own signed client; path-style addressing with an
    /// endpoint override, for moto).
    #[cfg(feature = "s3")]
    pub fn storage(&self) -> Arc<S3Storage> {
        let client = wire::Client::new(wire::S3, &self.sdk, &self.config, self.info(Service::S3));
        Arc::new(S3Storage::new(client, &self.config, &self.account))
    }

    /// EC2 as compute (on provisio's own client: see `docs/providers/aws.md`).
    #[cfg(feature = "ec2")]
    pub fn compute(&self) -> Arc<Ec2Compute> {
        let client = wire::Client::new(wire::EC2, &self.sdk, &self.config, self.info(Service::Ec2));
        Arc::new(Ec2Compute::new(client, &self.config, &self.account))
    }

    /// Secrets Manager as a secret store.
    #[cfg(feature = "secretsmanager")]
    pub fn secrets(&self) -> Arc<SecretsManagerStore> {
        let client = wire::Client::new(
            wire::SECRETS_MANAGER,
            &self.sdk,
            &self.config,
            self.info(Service::SecretsManager),
        );
        Arc::new(SecretsManagerStore::new(
            client,
            &self.config,
            &self.account,
        ))
    }

    /// RDS as the server half of a database provider (on provisio's own client: see
    /// `docs/providers/aws.md`).
    #[cfg(feature = "rds")]
    pub fn database(&self) -> Arc<RdsDatabase> {
        let client = wire::Client::new(wire::RDS, &self.sdk, &self.config, self.info(Service::Rds));
        Arc::new(RdsDatabase::new(client, &self.config, &self.account))
    }

    /// SES v2 as a mail provider.
    #[cfg(feature = "sesv2")]
    pub fn mail(&self) -> Arc<SesMail> {
        let client = wire::Client::new(
            wire::SESV2,
            &self.sdk,
            &self.config,
            self.info(Service::SesV2),
        );
        Arc::new(SesMail::new(client, &self.config, &self.account))
    }
}
