//! A bucket's settings in S3: read each once, write only what differs.
//!
//! The settings are four S3 sub-resources: versioning, the lifecycle rule `provisio-archive`
//! (objects move to `GLACIER` after N days; other rules are kept as they are), the public
//! access block, and the tag set (tags not in the spec are kept). A new bucket is compared with
//! what S3 gives every new bucket (unversioned, no lifecycle rules, no tags, public access
//! blocked on AWS since April 2023 but not on moto: [`AwsConfig::s3_new_buckets_block_public_access`]),
//! so creating one sends only the settings that differ, and nothing is read back.
//!
//! [`AwsConfig::s3_new_buckets_block_public_access`]: crate::AwsConfig::s3_new_buckets_block_public_access

use crate::error::{PROVIDER, classify, code};
use crate::storage::{ARCHIVE_RULE_ID, S3Storage};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    PublicAccessBlockConfiguration, Tag, Tagging, Transition, TransitionStorageClass,
    VersioningConfiguration,
};
use provisio::storage::{Bucket, BucketSpec};
use provisio::{Error, ErrorKind, Result, Tags};

pub(crate) fn build_err(e: aws_sdk_s3::error::BuildError) -> Error {
    Error::unexpected("cannot build the S3 request").with_source(e)
}

/// What `CreateBucket` answered.
pub(crate) enum Created {
    /// A new bucket.
    New,
    /// The bucket was already ours (S3 said `BucketAlreadyOwnedByYou`).
    AlreadyOurs,
}

/// moto 5 answers `GetBucketVersioning` with the root element `<GetBucketVersioningResponse>`
/// instead of S3's `<VersioningConfiguration>`, which the SDK refuses to parse. For exactly that
/// answer (HTTP 200, that root) the status is read from the body; anything else unreadable
/// stays an error.
fn emulator_versioning_answer<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Option<bool> {
    let raw = e.raw_response()?;
    if raw.status().as_u16() != 200 {
        return None;
    }
    let text = String::from_utf8_lossy(raw.body().bytes()?);
    text.contains("<GetBucketVersioningResponse")
        .then(|| text.contains("<Status>Enabled</Status>"))
}

impl S3Storage {
    /// Reads a bucket's settings, one request each; `Ok(None)` when the bucket does not exist
    /// or is not visible to this account (another account's bucket answers 403).
    pub(crate) async fn read_bucket(&self, name: &str, op: &str) -> Result<Option<Bucket>> {
        let versioning = match self
            .client
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => out.status() == Some(&BucketVersioningStatus::Enabled),
            Err(e) => match emulator_versioning_answer(&e) {
                Some(on) => on,
                None => {
                    let err = classify(e, op, name);
                    return match err.kind() {
                        ErrorKind::NotFound | ErrorKind::PermissionDenied => Ok(None),
                        _ => Err(err),
                    };
                }
            },
        };
        // The bucket exists: the other three settings are independent reads.
        let (rules, block_public_access, tags) = tokio::try_join!(
            self.lifecycle_rules(name, op),
            self.public_access_blocked(name, op),
            self.tags(name, op),
        )?;
        let archive_after_days = rules
            .iter()
            .find(|r| r.id() == Some(ARCHIVE_RULE_ID) && r.status() == &ExpirationStatus::Enabled)
            .and_then(|r| r.transitions().iter().find_map(|t| t.days()))
            .and_then(|d| u32::try_from(d).ok());
        Ok(Some(Bucket {
            name: name.to_string(),
            versioning,
            archive_after_days,
            block_public_access,
            tags,
        }))
    }

    async fn lifecycle_rules(&self, name: &str, op: &str) -> Result<Vec<LifecycleRule>> {
        match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.rules().to_vec()),
            Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => Ok(Vec::new()),
            Err(e) => Err(classify(e, op, name)),
        }
    }

    async fn public_access_blocked(&self, name: &str, op: &str) -> Result<bool> {
        match self
            .client
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            })),
            Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => Ok(false),
            Err(e) => Err(classify(e, op, name)),
        }
    }

    async fn tags(&self, name: &str, op: &str) -> Result<Tags> {
        match self.client.get_bucket_tagging().bucket(name).send().await {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()),
            Err(e) if code(&e) == Some("NoSuchTagSet") => Ok(Tags::new()),
            Err(e) => Err(classify(e, op, name)),
        }
    }

    /// `CreateBucket` (with the region's location constraint outside us-east-1).
    pub(crate) async fn create_bucket(&self, name: &str, op: &str) -> Result<Created> {
        let mut req = self.client.create_bucket().bucket(name);
        if let Some(region) = self.region.as_deref().filter(|r| *r != "us-east-1") {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(Created::New),
            Err(e) if code(&e) == Some("BucketAlreadyOwnedByYou") => Ok(Created::AlreadyOurs),
            Err(e) => {
                let err = classify(e, op, name);
                if err.kind() == &ErrorKind::AlreadyExists {
                    Err(Error::already_exists(format!(
                        "bucket name {name:?} is taken by another account (bucket names are global)"
                    ))
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(name))
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn set_public_access_block(&self, name: &str, block: bool, op: &str) -> Result<()> {
        if block {
            self.client
                .put_public_access_block()
                .bucket(name)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        } else {
            self.client
                .delete_public_access_block()
                .bucket(name)
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        }
        Ok(())
    }

    async fn set_versioning(&self, name: &str, on: bool, op: &str) -> Result<()> {
        let status = if on {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        self.client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| classify(e, op, name))?;
        Ok(())
    }

    /// Puts provisio's archive rule (or removes it), keeping every other rule. `others` are
    /// the bucket's other rules when known (none on a new bucket); otherwise they are read.
    async fn set_archive_rule(
        &self,
        name: &str,
        days: Option<u32>,
        others: Option<Vec<LifecycleRule>>,
        op: &str,
    ) -> Result<()> {
        let mut rules: Vec<LifecycleRule> = match others {
            Some(rules) => rules,
            None => self.lifecycle_rules(name, op).await?,
        }
        .into_iter()
        .filter(|r| r.id() != Some(ARCHIVE_RULE_ID))
        .collect();
        if let Some(days) = days {
            rules.push(
                LifecycleRule::builder()
                    .id(ARCHIVE_RULE_ID)
                    .status(ExpirationStatus::Enabled)
                    .filter(LifecycleRuleFilter::builder().prefix("").build())
                    .transitions(
                        Transition::builder()
                            .days(i32::try_from(days).unwrap_or(i32::MAX))
                            .storage_class(TransitionStorageClass::Glacier)
                            .build(),
                    )
                    .build()
                    .map_err(build_err)?,
            );
        }
        if rules.is_empty() {
            self.client
                .delete_bucket_lifecycle()
                .bucket(name)
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        } else {
            self.client
                .put_bucket_lifecycle_configuration()
                .bucket(name)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .map_err(build_err)?,
                )
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        }
        Ok(())
    }

    async fn set_tags(&self, name: &str, tags: &Tags, op: &str) -> Result<()> {
        let mut set = Vec::new();
        for (k, v) in tags {
            set.push(Tag::builder().key(k).value(v).build().map_err(build_err)?);
        }
        self.client
            .put_bucket_tagging()
            .bucket(name)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| classify(e, op, name))?;
        Ok(())
    }

    /// Brings the bucket's settings from `current` to `spec`, writing only what differs, and
    /// returns the bucket as it now is.
    pub(crate) async fn converge(
        &self,
        current: &Bucket,
        new_bucket: bool,
        spec: &BucketSpec,
        op: &str,
    ) -> Result<Bucket> {
        let name = spec.name.as_str();
        if current.block_public_access != spec.block_public_access {
            self.set_public_access_block(name, spec.block_public_access, op)
                .await?;
        }
        if current.versioning != spec.versioning {
            self.set_versioning(name, spec.versioning, op).await?;
        }
        if current.archive_after_days != spec.archive_after_days {
            let others = new_bucket.then(Vec::new);
            self.set_archive_rule(name, spec.archive_after_days, others, op)
                .await?;
        }
        let mut tags = current.tags.clone();
        if !provisio::types::tags_match(&current.tags, &spec.tags) {
            tags.extend(spec.tags.clone());
            self.set_tags(name, &tags, op).await?;
        }
        Ok(Bucket {
            name: name.to_string(),
            versioning: spec.versioning,
            archive_after_days: spec.archive_after_days,
            block_public_access: spec.block_public_access,
            tags,
        })
    }

    /// The settings S3 gives a bucket it has just created.
    pub(crate) fn new_bucket_defaults(&self, name: &str) -> Bucket {
        Bucket {
            name: name.to_string(),
            versioning: false,
            archive_after_days: None,
            block_public_access: self.new_buckets_block_public_access,
            tags: Tags::new(),
        }
    }
}
