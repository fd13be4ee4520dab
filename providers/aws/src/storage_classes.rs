//! S3 storage classes and expiry rules.
//!
//! * A class change is a `CopyObject` of the object onto itself with `x-amz-storage-class`
//!   and `x-amz-metadata-directive: COPY` (content, content type and metadata kept; S3 makes
//!   it a new object, so an expiry rule counts from the change). An object in `GLACIER` or
//!   `DEEP_ARCHIVE` cannot be copied until it is restored: `RestoreObject` (one day,
//!   `Standard` tier) starts a restore (`202 Accepted`), answers `RestoreAlreadyInProgress`
//!   while one runs, and `200 OK` once a restored copy exists; until then the call fails with
//!   [`rehydration_pending`] (`Transient`) and the caller tries again later.
//! * Requests: `set_storage_class` one `HeadObject` (whose `x-amz-restore` header says
//!   whether an archived object is restored), then one `CopyObject` (a readable or restored
//!   object), one `RestoreObject` (an archived one not being restored) or nothing (already in
//!   the class, or a restore running). `set_prefix_storage_class`: one listing per 1000 keys
//!   (it carries each object's class), then per object not in the class, up to
//!   [`PREFIX_CLASS_CONCURRENCY`] at a time: one `CopyObject` when it is in a readable class;
//!   one `RestoreObject` when it is archived, plus one `CopyObject` when that answered the
//!   object restored. Moving a prefix back from `GLACIER` thus costs 3 requests per object
//!   over two attempts (restore started; restored, copied), as a hand-written script's
//!   `RestoreObject`, `HeadObject` until restored, `CopyObject`.
//! * Expiry rules live in the bucket's lifecycle configuration beside the archive rule
//!   ([`crate::ARCHIVE_RULE_ID`]) and any rule provisio did not write, which are written back
//!   as read: `PutBucketLifecycleConfiguration` replaces the whole document. Requests:
//!   `ensure_expiry_rule` one `GetBucketLifecycleConfiguration`, plus one `Put...` when the
//!   rule is missing or differs; `get_expiry_rule` one `Get...`; `delete_expiry_rule` one
//!   `Get...`, plus one `Put...` (or `DeleteBucketLifecycle` when no rule is left) when the
//!   rule was there. Read-modify-writes of one provider instance are serialized; another
//!   writer of the same bucket's lifecycle can still race with them (S3 has no conditional
//!   lifecycle write).

use crate::error::{PROVIDER, located};
use crate::storage::{S3Storage, key_path, meta_of, read_xml};
use crate::storage_settings::{document, write_element};
use crate::wire::xml::escape;
use crate::wire::{Element, Request, encode};
use futures::StreamExt;
use provisio::storage::{
    ClassChange, ExpiryRule, ObjectMeta, StorageClass, expiry_rule_id, list_all,
    rehydration_pending,
};
use provisio::{Deleted, Ensured, Error, ErrorKind, Result, validate};
use reqwest::Method;

/// How many objects' class changes `set_prefix_storage_class` keeps in flight at once.
pub const PREFIX_CLASS_CONCURRENCY: usize = 16;

/// Where a restore from an archive class stands, from `HeadObject`'s `x-amz-restore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restore {
    /// No restore was asked for (or the restored copy expired).
    None,
    /// `ongoing-request="true"`.
    Ongoing,
    /// `ongoing-request="false"`: the restored copy can be read and copied.
    Done,
}

/// Reads `x-amz-restore` (`ongoing-request="false", expiry-date="..."`).
pub(crate) fn restore_status(header: Option<&str>) -> Restore {
    match header {
        None => Restore::None,
        Some(h) if h.replace(' ', "").contains("ongoing-request=\"true\"") => Restore::Ongoing,
        Some(h) if h.replace(' ', "").contains("ongoing-request=\"false\"") => Restore::Done,
        Some(_) => Restore::None,
    }
}

/// provisio's expiry rule for `prefix`.
fn expiry_rule(prefix: &str, days: u32) -> String {
    let days = days.min(i32::MAX as u32);
    format!(
        "<Rule><ID>{}</ID><Filter><Prefix>{}</Prefix></Filter><Status>Enabled</Status>\
         <Expiration><Days>{days}</Days></Expiration></Rule>",
        expiry_rule_id(prefix),
        escape(prefix)
    )
}

/// The expiry rule of `prefix` among `rules`, when it is there and enabled.
fn find_expiry(rules: &[Element], prefix: &str) -> Option<ExpiryRule> {
    let id = expiry_rule_id(prefix);
    let rule = rules
        .iter()
        .find(|r| r.text_at(&["ID"]) == Some(id.as_str()))?;
    if rule.text_at(&["Status"]) != Some("Enabled") {
        return None;
    }
    let days = rule
        .text_at(&["Expiration", "Days"])?
        .parse::<i64>()
        .ok()
        .and_then(|d| u32::try_from(d).ok())?;
    // S3 may answer the prefix in the filter or, in the old form, on the rule itself
    let have = rule
        .find("Prefix")
        .map(|p| p.text.as_str())
        .unwrap_or_default();
    (have == prefix).then(|| ExpiryRule {
        id,
        prefix: prefix.to_string(),
        days,
    })
}

impl S3Storage {
    /// `CopyObject` of an object onto itself in `class`, keeping its metadata. Returns the
    /// new etag.
    async fn copy_in_place(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
        op: &str,
    ) -> Result<String> {
        let resource = format!("{bucket}/{key}");
        let request = Request::new(Method::PUT, key_path(key))
            .on_bucket(bucket)
            .header(
                "x-amz-copy-source",
                format!("{bucket}/{}", encode(key, true)),
            )
            .header("x-amz-metadata-directive", "COPY")
            .header("x-amz-storage-class", class.s3_name());
        let answer = self.client.send(&request, op, &resource).await?;
        let root = read_xml(&answer, "CopyObject", op, &resource)?;
        if root.name == "Error" {
            let code = root.text_at(&["Code"]);
            return Err(Error::new(
                crate::error::kind_for(code, Some(500)),
                crate::error::service_message(code, root.text_at(&["Message"]), answer.status),
            )
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_resource(resource));
        }
        Ok(root.text_at(&["ETag"]).unwrap_or_default().to_string())
    }

    /// `RestoreObject` for one day from the `Standard` tier. Returns whether the object is
    /// readable already: S3 answers `200 OK` when a restored copy exists (and extends it),
    /// `202 Accepted` when the restore starts, and `RestoreAlreadyInProgress` while one runs
    /// (not an error: a second send is harmless).
    async fn start_restore(&self, bucket: &str, key: &str, op: &str) -> Result<bool> {
        let request = Request::new(Method::POST, key_path(key))
            .on_bucket(bucket)
            .param("restore", "")
            .expect_code("RestoreAlreadyInProgress")
            .xml_body(document(
                "RestoreRequest",
                "<Days>1</Days><GlacierJobParameters><Tier>Standard</Tier></GlacierJobParameters>",
            ));
        let answer = self
            .client
            .send(&request, op, &format!("{bucket}/{key}"))
            .await?;
        Ok(answer.status == 200)
    }

    /// [`ObjectStorage::set_storage_class`]; `listed` is the object's class when a listing
    /// just said it is in a readable class (then no `HeadObject` is needed).
    pub(crate) async fn change_class(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
        listed: Option<&ObjectMeta>,
        op: &str,
    ) -> Result<ObjectMeta> {
        let resource = format!("{bucket}/{key}");
        let meta = match listed {
            Some(m) if m.storage_class.is_readable() => m.clone(),
            // Listed in an archive class: `RestoreObject` says whether it is restored already,
            // so no `HeadObject` is needed either way.
            Some(m) => {
                if !self.start_restore(bucket, key, op).await? {
                    return Err(located(
                        rehydration_pending(bucket, key, class),
                        op,
                        &resource,
                    ));
                }
                m.clone()
            }
            _ => {
                let request = Request::new(Method::HEAD, key_path(key))
                    .on_bucket(bucket)
                    .expect_status(404);
                let answer = self.client.send(&request, op, &resource).await?;
                if !answer.ok() {
                    return Err(located(
                        Error::not_found(format!(
                            "object {key} does not exist in {bucket} (NoSuchKey)"
                        )),
                        op,
                        &resource,
                    ));
                }
                let meta = meta_of(&answer, key);
                if meta.storage_class == class {
                    return Ok(meta);
                }
                if !meta.storage_class.is_readable() {
                    match restore_status(answer.header("x-amz-restore")) {
                        Restore::Done => {}
                        Restore::Ongoing => {
                            return Err(located(
                                rehydration_pending(bucket, key, class),
                                op,
                                &resource,
                            ));
                        }
                        Restore::None => {
                            if !self.start_restore(bucket, key, op).await? {
                                return Err(located(
                                    rehydration_pending(bucket, key, class),
                                    op,
                                    &resource,
                                ));
                            }
                        }
                    }
                }
                meta
            }
        };
        let etag = self.copy_in_place(bucket, key, class, op).await?;
        Ok(ObjectMeta {
            etag: if etag.is_empty() { meta.etag } else { etag },
            storage_class: class,
            ..meta
        })
    }

    /// [`ObjectStorage::set_prefix_storage_class`]: objects the listing shows in a readable
    /// class are copied without a `HeadObject`.
    pub(crate) async fn change_prefix_class(
        &self,
        bucket: &str,
        prefix: &str,
        class: StorageClass,
    ) -> Result<ClassChange> {
        let op = "storage.set_prefix_storage_class";
        let bucket =
            validate::s3_bucket_name("bucket", bucket).map_err(|e| located(e, op, bucket))?;
        let mut change = ClassChange::default();
        let mut moving = Vec::new();
        for obj in list_all(self, &bucket, prefix).await? {
            if obj.storage_class == class {
                change.unchanged += 1;
            } else {
                moving.push(obj);
            }
        }
        // The objects' changes are independent requests: up to PREFIX_CLASS_CONCURRENCY of
        // them in flight, so a tenant's thousand objects take the server's time, not a
        // thousand round trips one after another. The first error other than a pending
        // restore ends the call (the changes already made are to the requested class).
        let bucket = &bucket;
        let changes = moving.into_iter().map(|obj| async move {
            self.change_class(bucket, &obj.key, class, Some(&obj), op)
                .await
        });
        let results = futures::stream::iter(changes).buffer_unordered(PREFIX_CLASS_CONCURRENCY);
        futures::pin_mut!(results);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => change.changed += 1,
                Err(e) if provisio::storage::is_rehydration_pending(&e) => change.pending += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(change)
    }

    /// The bucket's lifecycle rules; a missing bucket is `NotFound`.
    async fn rules(&self, bucket: &str, op: &str) -> Result<Vec<Element>> {
        self.lifecycle_rules(bucket, op).await
    }

    /// Writes `rules` as the bucket's whole lifecycle configuration (none left: deletes it).
    async fn put_rules(&self, bucket: &str, rules: &[String], op: &str) -> Result<()> {
        let request = if rules.is_empty() {
            Request::new(Method::DELETE, "/")
        } else {
            Request::new(Method::PUT, "/")
                .xml_body(document("LifecycleConfiguration", &rules.concat()))
        };
        let request = request.on_bucket(bucket).param("lifecycle", "");
        self.client.send(&request, op, bucket).await?;
        Ok(())
    }

    /// Every rule but the one with id `except`, written back as read.
    fn others(rules: &[Element], except: &str) -> Vec<String> {
        rules
            .iter()
            .filter(|r| r.text_at(&["ID"]) != Some(except))
            .map(|r| {
                let mut s = String::new();
                write_element(r, &mut s);
                s
            })
            .collect()
    }

    pub(crate) async fn put_expiry(
        &self,
        bucket: &str,
        prefix: &str,
        days: u32,
    ) -> Result<Ensured<ExpiryRule>> {
        let op = "storage.ensure_expiry_rule";
        let resource = format!("{bucket}/{prefix}");
        let bucket =
            validate::s3_bucket_name("bucket", bucket).map_err(|e| located(e, op, &resource))?;
        provisio::storage::check_expiry(prefix, days).map_err(|e| located(e, op, &resource))?;
        let _guard = self.lifecycle_lock.lock().await;
        let rules = self.rules(&bucket, op).await?;
        let id = expiry_rule_id(prefix);
        let rule = ExpiryRule {
            id: id.clone(),
            prefix: prefix.to_string(),
            days,
        };
        let existed = rules
            .iter()
            .any(|r| r.text_at(&["ID"]) == Some(id.as_str()));
        provisio::existence::found(existed);
        if find_expiry(&rules, prefix).is_some_and(|r| r.days == days) {
            return Ok(Ensured::unchanged(rule));
        }
        let mut all = Self::others(&rules, &id);
        if all.len() >= 1000 {
            return Err(located(
                Error::invalid_field(
                    "prefix",
                    format!("bucket {bucket} already has 1000 lifecycle rules"),
                ),
                op,
                &resource,
            ));
        }
        all.push(expiry_rule(prefix, days));
        self.put_rules(&bucket, &all, op).await?;
        Ok(if existed {
            Ensured::updated(rule)
        } else {
            Ensured::created(rule)
        })
    }

    pub(crate) async fn read_expiry(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Option<ExpiryRule>> {
        let op = "storage.get_expiry_rule";
        let bucket =
            validate::s3_bucket_name("bucket", bucket).map_err(|e| located(e, op, bucket))?;
        Ok(find_expiry(&self.rules(&bucket, op).await?, prefix))
    }

    pub(crate) async fn remove_expiry(&self, bucket: &str, prefix: &str) -> Result<Deleted> {
        let op = "storage.delete_expiry_rule";
        let bucket =
            validate::s3_bucket_name("bucket", bucket).map_err(|e| located(e, op, bucket))?;
        let _guard = self.lifecycle_lock.lock().await;
        let rules = match self.rules(&bucket, op).await {
            Ok(r) => r,
            // the bucket is gone, and its rules with it
            Err(e) if e.kind() == &ErrorKind::NotFound => return Ok(Deleted::AlreadyGone),
            Err(e) => return Err(e),
        };
        let id = expiry_rule_id(prefix);
        if !rules
            .iter()
            .any(|r| r.text_at(&["ID"]) == Some(id.as_str()))
        {
            return Ok(Deleted::AlreadyGone);
        }
        self.put_rules(&bucket, &Self::others(&rules, &id), op)
            .await?;
        Ok(Deleted::Deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::xml::parse;

    #[test]
    fn restore_headers_are_read() {
        assert_eq!(restore_status(None), Restore::None);
        assert_eq!(
            restore_status(Some("ongoing-request=\"true\"")),
            Restore::Ongoing
        );
        assert_eq!(
            restore_status(Some(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
            )),
            Restore::Done
        );
    }

    #[test]
    fn expiry_rules_read_back_as_written() {
        let doc = format!(
            "<LifecycleConfiguration>{}{}</LifecycleConfiguration>",
            expiry_rule("t/a&b/", 30),
            expiry_rule("t/other/", 7).replace("Enabled", "Disabled")
        );
        let root = parse(doc.as_bytes()).unwrap();
        let rules: Vec<Element> = root.children_named("Rule").cloned().collect();
        let r = find_expiry(&rules, "t/a&b/").unwrap();
        assert_eq!((r.days, r.id), (30, expiry_rule_id("t/a&b/")));
        assert_eq!(find_expiry(&rules, "t/other/"), None);
        assert_eq!(find_expiry(&rules, "t/none/"), None);
        let mut again = String::new();
        write_element(&rules[0], &mut again);
        assert_eq!(again, expiry_rule("t/a&b/", 30));
    }
}
