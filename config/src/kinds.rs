//! Provider kinds: turning a [`ProviderEntry`] into trait objects.

use crate::ProviderEntry;
use provisio::providers::{Capability, Providers};
use provisio::{Error, Result};
use provisio_memory::MemoryCloud;
use serde_json::Value;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// Builds a kind that serves one capability from its config type and constructor.
#[cfg(any(
    feature = "git",
    feature = "ssh",
    feature = "jenkins",
    feature = "postgres",
    feature = "cloudflare",
    feature = "http"
))]
macro_rules! single {
    ($self:ident, $providers:ident, $cap:ident, $name:ident, $entry:ident, $serves:expr, $config:ty, $new:path, $with:ident) => {{
        if $cap != $serves {
            return Err(unsupported($cap, &$entry.kind));
        }
        let config: $config = settings($entry)?;
        let built = $self.shared($entry, || async { $new(config) }).await?;
        Ok($providers.$with($name, built))
    }};
}

/// The provider kinds this build can construct.
pub const KINDS: &[&str] = &[
    "memory",
    #[cfg(feature = "git")]
    "git",
    #[cfg(feature = "ssh")]
    "ssh",
    #[cfg(feature = "jenkins")]
    "jenkins",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "cloudflare")]
    "cloudflare",
    #[cfg(feature = "azure")]
    "azure",
    #[cfg(feature = "http")]
    "http",
    #[cfg(any(
        feature = "aws-route53",
        feature = "aws-s3",
        feature = "aws-ec2",
        feature = "aws-secretsmanager",
        feature = "aws-rds",
        feature = "aws-sesv2"
    ))]
    "aws",
];

/// What the `aws` kind needs to know about the AWS services a build has.
#[cfg(any(
    feature = "aws-route53",
    feature = "aws-s3",
    feature = "aws-ec2",
    feature = "aws-secretsmanager",
    feature = "aws-rds",
    feature = "aws-sesv2"
))]
mod aws {
    use provisio::Error;
    use provisio::providers::Capability;

    /// The AWS service behind a capability of the `aws` kind, the cargo feature of this crate that
    /// builds it in, and whether this build has it; `None` for a capability AWS does not serve.
    pub(super) fn aws_service(cap: Capability) -> Option<(&'static str, &'static str, bool)> {
        Some(match cap {
            Capability::Dns => ("Route 53", "aws-route53", cfg!(feature = "aws-route53")),
            Capability::Storage => ("S3", "aws-s3", cfg!(feature = "aws-s3")),
            Capability::Compute => ("EC2", "aws-ec2", cfg!(feature = "aws-ec2")),
            Capability::Secrets => (
                "Secrets Manager",
                "aws-secretsmanager",
                cfg!(feature = "aws-secretsmanager"),
            ),
            Capability::Database => ("RDS", "aws-rds", cfg!(feature = "aws-rds")),
            Capability::Mail => ("SES v2", "aws-sesv2", cfg!(feature = "aws-sesv2")),
            Capability::Ci
            | Capability::Repo
            | Capability::Probe
            | Capability::Host
            | Capability::None => {
                return None;
            }
        })
    }

    /// The error for an `aws` entry whose capability's service this build leaves out.
    pub(super) fn aws_service_missing(cap: Capability, service: &str, feature: &str) -> Error {
        Error::invalid_field(
            "kind",
            format!(
                "the aws kind serves the {} capability with {service}, which this build of provisio \
                 leaves out: rebuild with the cargo feature `{feature}` of provisio-config (or \
                 `aws` for every AWS service)",
                cap.as_str()
            ),
        )
    }
}

/// The cargo feature of this crate that builds in each provider kind other than `memory`.
const KIND_FEATURES: &[(&str, &str)] = &[
    ("git", "git"),
    ("ssh", "ssh"),
    ("jenkins", "jenkins"),
    ("postgres", "postgres"),
    ("cloudflare", "cloudflare"),
    ("azure", "azure"),
    ("aws", "aws"),
    ("http", "http"),
];

/// Builds providers, sharing one instance among entries of the same kind and settings.
pub(crate) struct Builder {
    memory: Option<MemoryCloud>,
    /// (kind, settings as JSON) -> the built client, type-erased.
    built: HashMap<(String, String), Arc<dyn Any + Send + Sync>>,
}

fn unsupported(cap: Capability, kind: &str) -> Error {
    Error::invalid_field(
        "kind",
        format!(
            "provider kind {kind:?} does not serve the {} capability",
            cap.as_str()
        ),
    )
}

/// Deserializes an entry's settings into a kind's config type; unknown keys are errors.
#[allow(dead_code)]
pub(crate) fn settings<T: serde::de::DeserializeOwned>(entry: &ProviderEntry) -> Result<T> {
    serde_json::from_value(Value::Object(entry.settings.clone()))
        .map_err(|e| Error::invalid_field("settings", e.to_string()))
}

impl Builder {
    pub(crate) fn new(memory: Option<MemoryCloud>) -> Self {
        Builder {
            memory,
            built: HashMap::new(),
        }
    }

    /// The shared instance for `entry`, built by `make` on first use.
    #[allow(dead_code)]
    async fn shared<T, F, Fut>(&mut self, entry: &ProviderEntry, make: F) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let key = (
            entry.kind.clone(),
            Value::Object(entry.settings.clone()).to_string(),
        );
        if let Some(existing) = self.built.get(&key)
            && let Ok(t) = existing.clone().downcast::<T>()
        {
            return Ok(t);
        }
        let made = Arc::new(make().await?);
        self.built.insert(key, made.clone());
        Ok(made)
    }

    /// Registers `entry` as the provider `name` of `cap`.
    pub(crate) async fn register(
        &mut self,
        providers: Providers,
        cap: Capability,
        name: &str,
        entry: &ProviderEntry,
    ) -> Result<Providers> {
        match entry.kind.as_str() {
            "memory" => self.memory(providers, cap, name, entry),
            #[cfg(feature = "git")]
            "git" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Repo,
                provisio_git::GitConfig,
                provisio_git::GitRepository::new,
                with_repo
            ),
            #[cfg(feature = "ssh")]
            "ssh" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Host,
                provisio_ssh::SshConfig,
                provisio_ssh::SshHost::new,
                with_host
            ),
            #[cfg(feature = "jenkins")]
            "jenkins" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Ci,
                provisio_jenkins::JenkinsConfig,
                provisio_jenkins::JenkinsCi::new,
                with_ci
            ),
            #[cfg(feature = "postgres")]
            "postgres" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Database,
                provisio_postgres::PostgresConfig,
                provisio_postgres::PostgresDatabase::new,
                with_database
            ),
            #[cfg(feature = "cloudflare")]
            "cloudflare" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Dns,
                provisio_cloudflare::CloudflareConfig,
                provisio_cloudflare::CloudflareDns::new,
                with_dns
            ),
            #[cfg(feature = "http")]
            "http" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Probe,
                provisio_http::HttpConfig,
                provisio_http::HttpProbe::new,
                with_probe
            ),
            #[cfg(feature = "azure")]
            "azure" => {
                let config: provisio_azure::AzureConfig = settings(entry)?;
                let azure = self
                    .shared(entry, || async { provisio_azure::Azure::new(config) })
                    .await?;
                Ok(match cap {
                    Capability::Dns => providers.with_dns(name, azure.dns()?),
                    Capability::Storage => providers.with_storage(name, azure.blob()?),
                    Capability::Secrets => providers.with_secrets(name, azure.key_vault()?),
                    Capability::Compute => providers.with_compute(name, azure.compute()?),
                    other => return Err(unsupported(other, "azure")),
                })
            }
            #[cfg(any(
                feature = "aws-route53",
                feature = "aws-s3",
                feature = "aws-ec2",
                feature = "aws-secretsmanager",
                feature = "aws-rds",
                feature = "aws-sesv2"
            ))]
            "aws" => {
                match aws::aws_service(cap) {
                    None => return Err(unsupported(cap, "aws")),
                    Some((service, feature, false)) => {
                        return Err(aws::aws_service_missing(cap, service, feature));
                    }
                    Some(_) => {}
                }
                let config: provisio_aws::AwsConfig = settings(entry)?;
                let aws = self
                    .shared(entry, || provisio_aws::Aws::connect(config))
                    .await?;
                Ok(match cap {
                    #[cfg(feature = "aws-route53")]
                    Capability::Dns => providers.with_dns(name, aws.dns()),
                    #[cfg(feature = "aws-s3")]
                    Capability::Storage => providers.with_storage(name, aws.storage()),
                    #[cfg(feature = "aws-ec2")]
                    Capability::Compute => providers.with_compute(name, aws.compute()),
                    #[cfg(feature = "aws-secretsmanager")]
                    Capability::Secrets => providers.with_secrets(name, aws.secrets()),
                    #[cfg(feature = "aws-rds")]
                    Capability::Database => providers.with_database(name, aws.database()),
                    #[cfg(feature = "aws-sesv2")]
                    Capability::Mail => providers.with_mail(name, aws.mail()),
                    // aws_service has answered for every other capability
                    other => return Err(unsupported(other, "aws")),
                })
            }
            other => match KIND_FEATURES.iter().find(|(kind, _)| *kind == other) {
                // a kind provisio has, left out of this build
                Some((kind, feature)) => Err(Error::invalid_field(
                    "kind",
                    format!(
                        "provider kind {kind:?} is not in this build of provisio: rebuild with \
                         the cargo feature `{feature}` of provisio-config (this build knows: {})",
                        KINDS.join(", ")
                    ),
                )),
                None => Err(Error::invalid_field(
                    "kind",
                    format!(
                        "unknown provider kind {other:?} (this build knows: {})",
                        KINDS.join(", ")
                    ),
                )),
            },
        }
    }

    fn memory(
        &mut self,
        providers: Providers,
        cap: Capability,
        name: &str,
        entry: &ProviderEntry,
    ) -> Result<Providers> {
        if let Some(key) = entry.settings.keys().next() {
            return Err(Error::invalid_field(
                &format!("settings.{key}"),
                "memory providers take no settings here (use the [memory] table)",
            ));
        }
        let cloud = self
            .memory
            .as_ref()
            .ok_or_else(|| Error::unexpected("the memory world was not opened"))?;
        Ok(match cap {
            Capability::Dns => providers.with_dns(name, cloud.dns.clone()),
            Capability::Storage => providers.with_storage(name, cloud.storage.clone()),
            Capability::Compute => providers.with_compute(name, cloud.compute.clone()),
            Capability::Ci => providers.with_ci(name, cloud.ci.clone()),
            Capability::Secrets => providers.with_secrets(name, cloud.secrets.clone()),
            Capability::Database => providers.with_database(name, cloud.database.clone()),
            Capability::Repo => providers.with_repo(name, cloud.repo.clone()),
            Capability::Mail => providers.with_mail(name, cloud.mail.clone()),
            Capability::Probe => providers.with_probe(name, cloud.probe.clone()),
            Capability::Host => providers.with_host(name, cloud.host.clone()),
            Capability::None => return Err(unsupported(cap, "memory")),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ProviderConfig;

    /// The message of the error `connect` gives for `text`.
    async fn connect_error(text: &str) -> String {
        ProviderConfig::from_toml(text)
            .expect("the file parses")
            .connect()
            .await
            .expect_err("the providers cannot be built")
            .message()
            .to_string()
    }

    #[tokio::test]
    async fn aws_serves_no_ci_or_repo() {
        let msg =
            connect_error("[providers.ci.default]\nkind = \"aws\"\nregion = \"eu-west-1\"\n").await;
        if cfg!(feature = "aws-route53") {
            assert!(msg.contains("does not serve the ci capability"), "{msg}");
        }
        assert!(msg.contains("providers.ci.default"), "{msg}");
    }

    /// The `http` kind serves the probe capability; a provider file cannot turn TLS
    /// verification off for every check.
    #[cfg(feature = "http")]
    #[tokio::test]
    async fn http_serves_probes_and_refuses_provider_wide_tls_settings() {
        let conn = ProviderConfig::from_toml("[providers.probe.default]\nkind = \"http\"\n")
            .unwrap()
            .connect()
            .await
            .unwrap();
        let probe = conn.providers.probe("default").unwrap();
        assert_eq!(probe.info().name, "http");
        for (setting, needle) in [
            ("tls_verify = false", "tls_verify: false on the http.check"),
            ("ca_file = \"/etc/ca.pem\"", "set ca_file on the http.check"),
        ] {
            let msg = connect_error(&format!(
                "[providers.probe.default]\nkind = \"http\"\n{setting}\n"
            ))
            .await;
            assert!(msg.contains("providers.probe.default"), "{msg}");
            assert!(msg.contains(needle), "{msg}");
        }
        let msg = connect_error("[providers.dns.default]\nkind = \"http\"\n").await;
        assert!(msg.contains("does not serve the dns capability"), "{msg}");
    }

    /// The `ssh` kind serves the host capability, always with a verified host key, and has no
    /// password setting.
    #[cfg(feature = "ssh")]
    #[tokio::test]
    async fn ssh_serves_hosts_with_verified_keys_only() {
        use provisio::providers::Capability;
        const KEY: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQaeh2/OpAPuasYHoELZxi2MeNO7VL6fx3k51OceChz";
        let conn = ProviderConfig::from_toml(&format!(
            "[providers.host.staging]\nkind = \"ssh\"\nhost = \"127.0.0.1\"\nuser = \"deploy\"\nhost_key = \"{KEY}\"\n"
        ))
        .unwrap()
        .connect()
        .await
        .unwrap();
        assert!(conn.providers.has(Capability::Host, "staging"));
        let host = conn.providers.host("staging").unwrap();
        assert_eq!(host.info().name, "ssh");
        assert_eq!(host.info().account, "deploy@127.0.0.1:22");
        for (text, needle) in [
            ("host = \"h\"\nuser = \"u\"\n", "known_hosts"),
            (
                "host = \"h\"\nuser = \"u\"\nknown_hosts = \"/k\"\npassword = \"x\"\n",
                "password",
            ),
            (
                "host = \"h\"\nuser = \"u\"\nhost_key = \"ssh-ed25519 nope\"\n",
                "host_key",
            ),
        ] {
            let msg =
                connect_error(&format!("[providers.host.default]\nkind = \"ssh\"\n{text}")).await;
            assert!(msg.contains(needle), "{needle}: {msg}");
            assert!(msg.contains("providers.host.default"), "{msg}");
        }
        let msg =
            connect_error("[providers.dns.default]\nkind = \"ssh\"\nhost = \"h\"\nuser = \"u\"\n")
                .await;
        assert!(msg.contains("does not serve the dns capability"), "{msg}");
    }

    /// A build with Route 53 but without S3 (`--no-default-features --features aws-route53`):
    /// an S3 entry fails when the providers are built, naming the service and the feature,
    /// before any setting is read or any AWS call made; DNS still builds.
    #[cfg(all(feature = "aws-route53", not(feature = "aws-s3")))]
    #[tokio::test]
    async fn an_aws_service_left_out_names_its_feature() {
        let msg = connect_error(
            "[providers.storage.default]\nkind = \"aws\"\nregion = \"eu-west-1\"\nno_such_setting = 1\n",
        )
        .await;
        assert!(msg.contains("providers.storage.default"), "{msg}");
        assert!(msg.contains("S3"), "{msg}");
        assert!(msg.contains("`aws-s3`"), "{msg}");
        let conn = ProviderConfig::from_toml(
            "[providers.dns.default]\nkind = \"aws\"\nregion = \"eu-west-1\"\n",
        )
        .unwrap()
        .connect()
        .await
        .expect("Route 53 is in this build");
        assert!(
            conn.providers
                .has(provisio::providers::Capability::Dns, "default")
        );
    }

    /// A build without any AWS service: the kind itself names the feature.
    #[cfg(not(any(
        feature = "aws-route53",
        feature = "aws-s3",
        feature = "aws-ec2",
        feature = "aws-secretsmanager",
        feature = "aws-rds",
        feature = "aws-sesv2"
    )))]
    #[tokio::test]
    async fn a_kind_left_out_names_its_feature() {
        let msg = connect_error("[providers.dns.default]\nkind = \"aws\"\n").await;
        assert!(msg.contains("not in this build"), "{msg}");
        assert!(msg.contains("`aws`"), "{msg}");
    }

    /// Every capability the aws kind serves names a feature this crate declares (`aws-...`,
    /// all part of `aws`), and a default build has them all.
    #[cfg(any(
        feature = "aws-route53",
        feature = "aws-s3",
        feature = "aws-ec2",
        feature = "aws-secretsmanager",
        feature = "aws-rds",
        feature = "aws-sesv2"
    ))]
    #[test]
    fn every_aws_capability_has_a_feature() {
        let manifest = include_str!("../Cargo.toml");
        for cap in crate::CAPABILITIES {
            if let Some((_, feature, built_in)) = super::aws::aws_service(cap) {
                assert!(
                    manifest.contains(&format!("\n{feature} = [\"dep:provisio-aws\"")),
                    "{feature}"
                );
                assert!(manifest.contains(&format!("\"{feature}\"")), "{feature}");
                if cfg!(feature = "aws") {
                    assert!(built_in, "{feature}");
                }
            }
        }
    }
}
