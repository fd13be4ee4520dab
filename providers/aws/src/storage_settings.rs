//! A bucket's settings in S3: read each once, write only what differs.
//!
//! The settings are four S3 sub-resources: versioning (`?versioning`), the lifecycle rule
//! `provisio-archive` (`?lifecycle`: objects move to `GLACIER` after N days; other rules are
//! kept as they are), the public access block (`?publicAccessBlock`), and the tag set
//! (`?tagging`: tags not in the spec are kept). A new bucket is compared with what S3 gives
//! every new bucket (unversioned, no lifecycle rules, no tags, public access blocked on AWS
//! since April 2023 but not on moto: [`AwsConfig::s3_new_buckets_block_public_access`]), so
//! creating one sends only the settings that differ, and nothing is read back.
//!
//! The documents sent are written here with their elements in the order of S3's schema; the
//! ones S3 asks a `Content-MD5` of carry it ([`Request::xml_body`]).
//!
//! [`AwsConfig::s3_new_buckets_block_public_access`]: crate::AwsConfig::s3_new_buckets_block_public_access

use crate::error::PROVIDER;
use crate::storage::{ARCHIVE_RULE_ID, S3Storage, read_xml};
use crate::wire::xml::escape;
use crate::wire::{Element, Request};
use provisio::storage::{Bucket, BucketSpec};
use provisio::{Error, ErrorKind, Result, Tags};
use reqwest::Method;

/// The namespace of S3's request documents.
pub(crate) const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// What `CreateBucket` answered.
pub(crate) enum Created {
    /// A new bucket.
    New,
    /// The bucket was already ours (S3 said `BucketAlreadyOwnedByYou`).
    AlreadyOurs,
}

/// `<root xmlns="...">inner</root>`.
pub(crate) fn document(root: &str, inner: &str) -> String {
    format!("<{root} xmlns=\"{S3_XMLNS}\">{inner}</{root}>")
}

/// Writes an element read from an answer back as XML (S3's lifecycle rules have neither
/// attributes nor mixed content): a leaf's exact text, escaped, or the children in order.
pub(crate) fn write_element(e: &Element, out: &mut String) {
    out.push('<');
    out.push_str(&e.name);
    out.push('>');
    if e.children.is_empty() {
        out.push_str(&escape(&e.text));
    } else {
        for child in &e.children {
            write_element(child, out);
        }
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
}

/// provisio's archive rule: everything moves to `GLACIER` after `days` days.
fn archive_rule(days: u32) -> String {
    // S3's Days is a 32-bit signed integer.
    let days = days.min(i32::MAX as u32);
    format!(
        "<Rule><ID>{ARCHIVE_RULE_ID}</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>\
         <Transition><Days>{days}</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>"
    )
}

/// The days of the archive rule among `rules`, when it is there and enabled.
fn archive_days(rules: &[Element]) -> Option<u32> {
    rules
        .iter()
        .find(|r| {
            r.text_at(&["ID"]) == Some(ARCHIVE_RULE_ID) && r.text_at(&["Status"]) == Some("Enabled")
        })
        .and_then(|r| {
            r.children_named("Transition")
                .find_map(|t| t.text_at(&["Days"])?.parse::<i32>().ok())
        })
        .and_then(|d| u32::try_from(d).ok())
}

/// Whether an S3 boolean element says `true`.
fn is_true(e: &Element, name: &str) -> bool {
    e.text_at(&[name])
        .is_some_and(|t| t.eq_ignore_ascii_case("true"))
}

impl S3Storage {
    /// Reads a bucket's settings, one request each; `Ok(None)` when the bucket does not exist
    /// or is not visible to this account (another account's bucket answers 403).
    pub(crate) async fn read_bucket(&self, name: &str, op: &str) -> Result<Option<Bucket>> {
        let request = Request::get("/").on_bucket(name).param("versioning", "");
        let answer = match self.client.send(&request, op, name).await {
            Ok(answer) => answer,
            Err(err) => {
                return match err.kind() {
                    ErrorKind::NotFound | ErrorKind::PermissionDenied => Ok(None),
                    _ => Err(err),
                };
            }
        };
        // S3's root is <VersioningConfiguration>, moto 5's <GetBucketVersioningResponse>: the
        // status is read wherever it is.
        let versioning = read_xml(&answer, "GetBucketVersioning", op, name)?
            .find("Status")
            .is_some_and(|s| s.text.trim() == "Enabled");
        // The bucket exists: the other three settings are independent reads.
        let (rules, block_public_access, tags) = tokio::try_join!(
            self.lifecycle_rules(name, op),
            self.public_access_blocked(name, op),
            self.tags(name, op),
        )?;
        Ok(Some(Bucket {
            name: name.to_string(),
            versioning,
            archive_after_days: archive_days(&rules),
            block_public_access,
            tags,
        }))
    }

    /// The bucket's lifecycle rules (`<Rule>` elements, as S3 sent them).
    pub(crate) async fn lifecycle_rules(&self, name: &str, op: &str) -> Result<Vec<Element>> {
        let request = Request::get("/")
            .on_bucket(name)
            .param("lifecycle", "")
            .expect_code("NoSuchLifecycleConfiguration");
        let answer = self.client.send(&request, op, name).await?;
        if answer.code.is_some() {
            return Ok(Vec::new());
        }
        let root = read_xml(&answer, "GetBucketLifecycleConfiguration", op, name)?;
        Ok(root.children_named("Rule").cloned().collect())
    }

    async fn public_access_blocked(&self, name: &str, op: &str) -> Result<bool> {
        let request = Request::get("/")
            .on_bucket(name)
            .param("publicAccessBlock", "")
            .expect_code("NoSuchPublicAccessBlockConfiguration");
        let answer = self.client.send(&request, op, name).await?;
        if answer.code.is_some() {
            return Ok(false);
        }
        let root = read_xml(&answer, "GetPublicAccessBlock", op, name)?;
        Ok(root
            .find("PublicAccessBlockConfiguration")
            .is_some_and(|c| {
                is_true(c, "BlockPublicAcls")
                    && is_true(c, "IgnorePublicAcls")
                    && is_true(c, "BlockPublicPolicy")
                    && is_true(c, "RestrictPublicBuckets")
            }))
    }

    async fn tags(&self, name: &str, op: &str) -> Result<Tags> {
        let request = Request::get("/")
            .on_bucket(name)
            .param("tagging", "")
            .expect_code("NoSuchTagSet");
        let answer = self.client.send(&request, op, name).await?;
        if answer.code.is_some() {
            return Ok(Tags::new());
        }
        let root = read_xml(&answer, "GetBucketTagging", op, name)?;
        Ok(root
            .list(&["TagSet"], "Tag")
            .filter_map(|t| {
                Some((
                    t.raw_at(&["Key"])?.to_string(),
                    t.raw_at(&["Value"]).unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// `CreateBucket` (with the region's location constraint outside us-east-1).
    pub(crate) async fn create_bucket(&self, name: &str, op: &str) -> Result<Created> {
        let mut request = Request::new(Method::PUT, "/")
            .on_bucket(name)
            .expect_code("BucketAlreadyOwnedByYou");
        let region = self.client.region();
        if region != "us-east-1" {
            request = request.xml_body(document(
                "CreateBucketConfiguration",
                &format!(
                    "<LocationConstraint>{}</LocationConstraint>",
                    escape(region)
                ),
            ));
        }
        match self.client.send(&request, op, name).await {
            Ok(answer) if answer.code.is_some() => Ok(Created::AlreadyOurs),
            Ok(_) => Ok(Created::New),
            Err(err) if err.kind() == &ErrorKind::AlreadyExists => {
                Err(Error::already_exists(format!(
                    "bucket name {name:?} is taken by another account (bucket names are global)"
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(name))
            }
            Err(err) => Err(err),
        }
    }

    async fn set_public_access_block(&self, name: &str, block: bool, op: &str) -> Result<()> {
        let request = if block {
            Request::new(Method::PUT, "/").xml_body(document(
                "PublicAccessBlockConfiguration",
                "<BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls>\
                 <BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets>",
            ))
        } else {
            Request::new(Method::DELETE, "/")
        };
        let request = request.on_bucket(name).param("publicAccessBlock", "");
        self.client.send(&request, op, name).await?;
        Ok(())
    }

    async fn set_versioning(&self, name: &str, on: bool, op: &str) -> Result<()> {
        let status = if on { "Enabled" } else { "Suspended" };
        let request = Request::new(Method::PUT, "/")
            .on_bucket(name)
            .param("versioning", "")
            .xml_body(document(
                "VersioningConfiguration",
                &format!("<Status>{status}</Status>"),
            ));
        self.client.send(&request, op, name).await?;
        Ok(())
    }

    /// Puts provisio's archive rule (or removes it), keeping every other rule. `others` are
    /// the bucket's other rules when known (none on a new bucket); otherwise they are read.
    async fn set_archive_rule(
        &self,
        name: &str,
        days: Option<u32>,
        others: Option<Vec<Element>>,
        op: &str,
    ) -> Result<()> {
        let others = match others {
            Some(rules) => rules,
            None => self.lifecycle_rules(name, op).await?,
        };
        let mut rules = String::new();
        for rule in others
            .iter()
            .filter(|r| r.text_at(&["ID"]) != Some(ARCHIVE_RULE_ID))
        {
            write_element(rule, &mut rules);
        }
        if let Some(days) = days {
            rules.push_str(&archive_rule(days));
        }
        let request = if rules.is_empty() {
            Request::new(Method::DELETE, "/")
        } else {
            Request::new(Method::PUT, "/").xml_body(document("LifecycleConfiguration", &rules))
        };
        let request = request.on_bucket(name).param("lifecycle", "");
        self.client.send(&request, op, name).await?;
        Ok(())
    }

    async fn set_tags(&self, name: &str, tags: &Tags, op: &str) -> Result<()> {
        let mut set = String::new();
        for (k, v) in tags {
            set.push_str(&format!(
                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                escape(k),
                escape(v)
            ));
        }
        let request = Request::new(Method::PUT, "/")
            .on_bucket(name)
            .param("tagging", "")
            .xml_body(document("Tagging", &format!("<TagSet>{set}</TagSet>")));
        self.client.send(&request, op, name).await?;
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
            // the lifecycle document is shared with the expiry rules: one writer at a time
            let _guard = self.lifecycle_lock.lock().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::{Scripted, aws, serve_scripted};
    use crate::wire::xml::parse;

    fn s3_error(code: &str) -> String {
        format!("<Error><Code>{code}</Code><Message>m</Message></Error>")
    }

    #[tokio::test]
    async fn settings_read_as_s3_writes_them_and_missing_ones_are_defaults() {
        let (url, log) = serve_scripted(vec![
            Scripted::from((
                200,
                "<Tagging><TagSet><Tag><Key> team</Key><Value>a &amp; b</Value></Tag>\
                 <Tag><Key>empty</Key><Value></Value></Tag></TagSet></Tagging>",
            )),
            Scripted::from((404, s3_error("NoSuchTagSet"))),
            Scripted::from((
                200,
                "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>\
                 <IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy>\
                 <RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
            )),
            Scripted::from((
                200,
                "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>\
                 <IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy>\
                 <RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>",
            )),
            Scripted::from((404, s3_error("NoSuchPublicAccessBlockConfiguration"))),
            Scripted::from((404, s3_error("NoSuchLifecycleConfiguration"))),
            // Another error code is not "no configuration".
            Scripted::from((404, s3_error("NoSuchBucket"))),
            Scripted::from((403, s3_error("AccessDenied"))),
        ])
        .await;
        let s3 = aws(&url, 1, "acct-s3-settings").await.storage();
        let op = "storage.get_bucket";
        let tags = s3.tags("b", op).await.unwrap();
        assert_eq!(tags.get(" team").map(String::as_str), Some("a & b"));
        assert_eq!(tags.get("empty").map(String::as_str), Some(""));
        assert!(s3.tags("b", op).await.unwrap().is_empty());
        assert!(s3.public_access_blocked("b", op).await.unwrap());
        assert!(!s3.public_access_blocked("b", op).await.unwrap());
        assert!(!s3.public_access_blocked("b", op).await.unwrap());
        assert!(s3.lifecycle_rules("b", op).await.unwrap().is_empty());
        let err = s3.lifecycle_rules("b", op).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound);
        // Another account's bucket is not one of ours.
        assert_eq!(s3.read_bucket("b", op).await.unwrap(), None);
        let targets: Vec<String> = log
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.target.clone())
            .collect();
        assert_eq!(
            targets,
            [
                "/b/?tagging=",
                "/b/?tagging=",
                "/b/?publicAccessBlock=",
                "/b/?publicAccessBlock=",
                "/b/?publicAccessBlock=",
                "/b/?lifecycle=",
                "/b/?lifecycle=",
                "/b/?versioning=",
            ]
        );
    }

    #[tokio::test]
    async fn the_archive_rule_is_changed_beside_the_other_rules() {
        let other = "<Rule><ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>\
                     <Expiration><Days>7</Days></Expiration></Rule>";
        let (url, log) = serve_scripted(vec![
            Scripted::from((
                200,
                format!(
                    "<LifecycleConfiguration>{other}{}</LifecycleConfiguration>",
                    archive_rule(30)
                ),
            )),
            Scripted::from((200, "")),
            Scripted::from((
                200,
                format!(
                    "<LifecycleConfiguration>{}</LifecycleConfiguration>",
                    archive_rule(30)
                ),
            )),
            Scripted::from((204, "")),
        ])
        .await;
        let s3 = aws(&url, 1, "acct-s3-archive").await.storage();
        let op = "storage.ensure_bucket";
        s3.set_archive_rule("b", Some(10), None, op).await.unwrap();
        // The archive rule was the only one: removing it removes the configuration.
        s3.set_archive_rule("b", None, None, op).await.unwrap();
        let seen = log.lock().unwrap().clone();
        let shape: Vec<_> = seen
            .iter()
            .map(|s| (s.method.as_str(), s.target.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                ("GET", "/b/?lifecycle="),
                ("PUT", "/b/?lifecycle="),
                ("GET", "/b/?lifecycle="),
                ("DELETE", "/b/?lifecycle="),
            ]
        );
        assert_eq!(
            seen[1].body,
            document(
                "LifecycleConfiguration",
                &format!("{other}{}", archive_rule(10))
            )
        );
        assert!(seen[1].header("content-md5").is_some());
        assert!(seen[3].body.is_empty());
    }

    #[test]
    fn other_lifecycle_rules_are_written_back_as_read() {
        let answer = br#"<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Rule>
    <ID>logs &amp; tmp</ID>
    <Filter><And><Prefix> tmp/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>7</Days></Expiration>
  </Rule>
  <Rule><ID>provisio-archive</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>
</LifecycleConfiguration>"#;
        let root = parse(answer).unwrap();
        let rules: Vec<Element> = root.children_named("Rule").cloned().collect();
        assert_eq!(archive_days(&rules), Some(30));
        let mut out = String::new();
        write_element(&rules[0], &mut out);
        assert_eq!(
            out,
            "<Rule><ID>logs &amp; tmp</ID><Filter><And><Prefix> tmp/</Prefix><Tag><Key>k</Key>\
             <Value>v</Value></Tag></And></Filter><Status>Enabled</Status><Expiration><Days>7</Days>\
             </Expiration></Rule>"
        );
        // What provisio writes reads back as the same rule.
        let mut ours = String::new();
        write_element(&rules[1], &mut ours);
        assert_eq!(ours, archive_rule(30));
        let disabled = parse(archive_rule(9).replace("Enabled", "Disabled").as_bytes()).unwrap();
        assert_eq!(archive_days(&[disabled]), None);
    }
}
