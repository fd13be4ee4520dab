//! Conformance cases for [`SecretStore`].
//!
//! Every case names its secrets `<SecretsContext::prefix><unique>` and purges them at the end
//! (with a [`Confirm`] naming each one), so no name stays blocked in soft-deleted state.

use crate::{
    Tracker, expect_invalid, expect_kind, expect_unsupported, first_error, guarded, walk_pages,
};
use provisio::secrets::{MIN_RECOVERY_DAYS, SecretMeta};
use provisio::validate::NameKind;
use provisio::{Confirm, Deleted, ErrorKind, Outcome, Result, SecretStore, SecretString, Tags};

/// What the secrets cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsContext {
    /// Put in front of every secret name, e.g. `provisio-test-`: letters, digits and hyphens.
    pub prefix: String,
    /// The recovery window the cases delete with (7..=30 days).
    pub recovery_days: u32,
}

impl SecretsContext {
    /// Secrets are named `<prefix><unique>`, deleted with the shortest recovery window.
    pub fn new(prefix: impl Into<String>) -> Self {
        SecretsContext {
            prefix: prefix.into(),
            recovery_days: MIN_RECOVERY_DAYS,
        }
    }
}

impl Default for SecretsContext {
    fn default() -> Self {
        SecretsContext::new("")
    }
}

/// Every secrets case by name.
pub const CASES: &[crate::Case<dyn SecretStore, SecretsContext>] =
    crate::secrets_conformance!(@table);

/// Generates one `#[test]` per secrets case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::secrets_conformance! {
///     provider: my_secret_store(),
///     context: provisio_testkit::secrets::SecretsContext::new("provisio-test-"),
/// }
/// ```
#[macro_export]
macro_rules! secrets_conformance {
    (@table) => { $crate::secrets_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* secrets [
            put_get_describe,
            put_is_idempotent,
            new_value_is_new_version,
            soft_delete_and_recover,
            put_on_soft_deleted_conflicts,
            purge_requires_matching_confirm,
            delete_is_idempotent,
            not_found,
            pagination,
            invalid_names,
            values_never_leak,
            capability_honesty,
        ] }
    };
    ($($setup:tt)*) => { $crate::secrets_conformance!(@cases @tests { $($setup)* }); };
}

fn secret_name(ctx: &SecretsContext) -> String {
    format!("{}{}", ctx.prefix, crate::unique("sec"))
}

fn value(label: &str) -> SecretString {
    SecretString::new(format!("s3cr3t-{label}-{}", crate::run_id()))
}

fn tags(s: &dyn SecretStore) -> Tags {
    if s.capabilities().tags {
        provisio::types::ownership::tags(&crate::unique("tn"), "conformance", "secret")
    } else {
        Tags::new()
    }
}

/// Purges every tracked secret, whether live, soft-deleted or gone.
async fn purge_all(s: &dyn SecretStore, made: &Tracker) -> Result<()> {
    let mut results = Vec::new();
    for name in made.all() {
        results.push(
            s.purge_secret(&name, &Confirm::named(&name))
                .await
                .map(|_| ()),
        );
    }
    first_error(results)
}

async fn put_new(
    s: &dyn SecretStore,
    made: &Tracker,
    name: &str,
    v: &SecretString,
    tags: &Tags,
) -> Result<SecretMeta> {
    made.add(name);
    let put = s.put_secret(name, v, tags).await?;
    assert_eq!(put.outcome, Outcome::Created, "put_secret of a new name");
    Ok(put.value)
}

/// Stores a secret and reads it back: value, version, metadata and tags.
pub async fn put_get_describe(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let made = Tracker::default();
    let name = secret_name(ctx);
    let v = value("a");
    let t = tags(s);
    guarded(
        async {
            let meta = put_new(s, &made, &name, &v, &t).await?;
            assert_eq!(meta.name, name, "put_secret's name");
            assert!(
                !meta.version.is_empty(),
                "put_secret returned an empty version"
            );
            assert!(!meta.deleted, "a new secret is marked deleted");
            assert!(
                provisio::types::tags_match(&meta.tags, &t),
                "put_secret's tags {:?} lack {t:?}",
                meta.tags
            );
            let got = s.get_secret(&name).await?;
            assert!(got.value == v, "get_secret returned another value");
            assert_eq!(got.version, meta.version, "get_secret's version");
            let described = s.describe_secret(&name).await?;
            assert_eq!(
                described.as_ref(),
                Some(&meta),
                "describe_secret of a live secret"
            );
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// The same value twice: the second put is `Unchanged` and keeps the version.
pub async fn put_is_idempotent(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let made = Tracker::default();
    let name = secret_name(ctx);
    let v = value("same");
    let t = tags(s);
    guarded(
        async {
            let first = put_new(s, &made, &name, &v, &t).await?;
            let second = s.put_secret(&name, &v, &t).await?;
            assert_eq!(
                second.outcome,
                Outcome::Unchanged,
                "second put_secret with the same value"
            );
            assert_eq!(
                second.value.version, first.version,
                "an unchanged put must keep the version"
            );
            let got = s.get_secret(&name).await?;
            assert_eq!(
                got.version, first.version,
                "get_secret's version after an unchanged put"
            );
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// A different value is `Updated` with a new version, and reads back.
pub async fn new_value_is_new_version(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let made = Tracker::default();
    let name = secret_name(ctx);
    let t = tags(s);
    guarded(
        async {
            let first = put_new(s, &made, &name, &value("one"), &t).await?;
            let v2 = value("two");
            let second = s.put_secret(&name, &v2, &t).await?;
            assert_eq!(
                second.outcome,
                Outcome::Updated,
                "put_secret with a new value"
            );
            assert_ne!(
                second.value.version, first.version,
                "a new value must get a new version"
            );
            let got = s.get_secret(&name).await?;
            assert!(
                got.value == v2,
                "get_secret after the update returned another value"
            );
            assert_eq!(
                got.version, second.value.version,
                "get_secret's version after the update"
            );
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// Soft delete hides the secret (get is `NotFound`, listing skips it, describe shows it
/// deleted); recover brings the same value back.
pub async fn soft_delete_and_recover(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    if !s.capabilities().soft_delete {
        return capability_honesty(s, ctx).await;
    }
    let made = Tracker::default();
    let name = secret_name(ctx);
    let v = value("keep");
    let t = tags(s);
    guarded(
        async {
            let meta = put_new(s, &made, &name, &v, &t).await?;
            assert_eq!(
                s.delete_secret(&name, ctx.recovery_days).await?,
                Deleted::Deleted,
                "delete_secret"
            );
            let err = s.get_secret(&name).await;
            expect_kind(
                err,
                ErrorKind::NotFound,
                "get_secret of a soft-deleted secret",
            );
            let described = s.describe_secret(&name).await?;
            let described =
                described.expect("describe_secret of a soft-deleted secret returned None");
            assert!(
                described.deleted,
                "describe_secret does not mark a soft-deleted secret deleted"
            );
            let listed = s
                .list_secrets(&name, &provisio::PageRequest::first())
                .await?;
            assert!(
                listed.items.iter().all(|m| m.name != name),
                "list_secrets shows a soft-deleted secret"
            );
            let recovered = s.recover_secret(&name).await?;
            assert_eq!(recovered.name, name, "recover_secret's name");
            assert!(
                !recovered.deleted,
                "a recovered secret is still marked deleted"
            );
            let got = s.get_secret(&name).await?;
            assert!(got.value == v, "a recovered secret has another value");
            assert_eq!(
                got.version, meta.version,
                "a recovered secret has another version"
            );
            let err = s.recover_secret(&name).await;
            expect_kind(err, ErrorKind::NotFound, "recover_secret of a live secret");
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// Putting a value under a soft-deleted name is a `Conflict`; the secret stays deleted and
/// recoverable, and the message does not show the value.
pub async fn put_on_soft_deleted_conflicts(
    s: &dyn SecretStore,
    ctx: &SecretsContext,
) -> Result<()> {
    if !s.capabilities().soft_delete {
        return capability_honesty(s, ctx).await;
    }
    let made = Tracker::default();
    let name = secret_name(ctx);
    let v = value("old");
    let t = tags(s);
    guarded(
        async {
            put_new(s, &made, &name, &v, &t).await?;
            s.delete_secret(&name, ctx.recovery_days).await?;
            let v2 = value("new");
            let err = s.put_secret(&name, &v2, &t).await;
            let err = expect_kind(
                err,
                ErrorKind::Conflict,
                "put_secret on a soft-deleted name",
            );
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(v2.expose()),
                "the Conflict error shows the secret value: {shown}"
            );
            let described = s
                .describe_secret(&name)
                .await?
                .expect("describe_secret after the refused put");
            assert!(described.deleted, "the refused put revived the secret");
            s.recover_secret(&name).await?;
            let got = s.get_secret(&name).await?;
            assert!(
                got.value == v,
                "after recover the secret must hold the value from before the delete"
            );
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// Purging with a `Confirm` naming another secret is `Protected` and destroys nothing; with the
/// right name the secret is gone for good, live or soft-deleted.
pub async fn purge_requires_matching_confirm(
    s: &dyn SecretStore,
    ctx: &SecretsContext,
) -> Result<()> {
    let made = Tracker::default();
    let name = secret_name(ctx);
    let other = secret_name(ctx);
    let v = value("precious");
    let t = tags(s);
    guarded(
        async {
            put_new(s, &made, &name, &v, &t).await?;
            put_new(s, &made, &other, &value("other"), &t).await?;
            let err = s.purge_secret(&name, &Confirm::named(&other)).await;
            expect_kind(
                err,
                ErrorKind::Protected,
                "purge_secret with a Confirm naming another secret",
            );
            let got = s.get_secret(&name).await?;
            assert!(got.value == v, "the refused purge changed the secret");
            assert!(
                s.describe_secret(&other).await?.is_some(),
                "the refused purge removed the confirmed-for secret"
            );

            if s.capabilities().soft_delete {
                s.delete_secret(&name, ctx.recovery_days).await?;
                let err = s.purge_secret(&name, &Confirm::named(&other)).await;
                expect_kind(
                    err,
                    ErrorKind::Protected,
                    "purge_secret of a soft-deleted secret with a wrong Confirm",
                );
                let d = s.describe_secret(&name).await?;
                assert!(
                    d.is_some_and(|d| d.deleted),
                    "the refused purge removed the soft-deleted secret"
                );
            }
            let purged = s.purge_secret(&name, &Confirm::named(&name)).await?;
            assert_eq!(
                purged,
                Deleted::Deleted,
                "purge_secret with the right Confirm"
            );
            let d = s.describe_secret(&name).await?;
            assert!(d.is_none(), "describe_secret after purge returned {d:?}");
            let err = s.get_secret(&name).await;
            expect_kind(err, ErrorKind::NotFound, "get_secret after purge");
            if s.capabilities().soft_delete {
                let err = s.recover_secret(&name).await;
                expect_kind(err, ErrorKind::NotFound, "recover_secret after purge");
            }
            let again = s.purge_secret(&name, &Confirm::named(&name)).await?;
            assert_eq!(again, Deleted::AlreadyGone, "second purge_secret");
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// Deleting twice: `Deleted`, then `AlreadyGone`; deleting an unknown name is `AlreadyGone`.
pub async fn delete_is_idempotent(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let made = Tracker::default();
    let name = secret_name(ctx);
    let t = tags(s);
    guarded(
        async {
            put_new(s, &made, &name, &value("del"), &t).await?;
            assert_eq!(
                s.delete_secret(&name, ctx.recovery_days).await?,
                Deleted::Deleted,
                "first delete_secret"
            );
            assert_eq!(
                s.delete_secret(&name, ctx.recovery_days).await?,
                Deleted::AlreadyGone,
                "second delete_secret"
            );
            let unknown = secret_name(ctx);
            assert_eq!(
                s.delete_secret(&unknown, ctx.recovery_days).await?,
                Deleted::AlreadyGone,
                "delete_secret of an unknown name"
            );
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// Unknown names: `get_secret` and `recover_secret` are `NotFound`, `describe_secret` is
/// `None`, `purge_secret` is `AlreadyGone`, a listing by a fresh prefix is empty.
pub async fn not_found(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let name = secret_name(ctx);
    expect_kind(
        s.get_secret(&name).await,
        ErrorKind::NotFound,
        "get_secret of an unknown name",
    );
    let d = s.describe_secret(&name).await?;
    assert!(
        d.is_none(),
        "describe_secret of an unknown name returned {d:?}"
    );
    if s.capabilities().soft_delete {
        expect_kind(
            s.recover_secret(&name).await,
            ErrorKind::NotFound,
            "recover_secret of an unknown name",
        );
    }
    let purged = s.purge_secret(&name, &Confirm::named(&name)).await?;
    assert_eq!(
        purged,
        Deleted::AlreadyGone,
        "purge_secret of an unknown name"
    );
    let page = s
        .list_secrets(&name, &provisio::PageRequest::first())
        .await?;
    assert!(
        page.items.is_empty(),
        "list_secrets with a fresh prefix returned {:?}",
        page.items
    );
    Ok(())
}

/// Seven secrets under one prefix listed three at a time: every secret exactly once, pages of
/// at most three, nothing outside the prefix, no values in the listing.
pub async fn pagination(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let made = Tracker::default();
    let prefix = format!("{}-", secret_name(ctx));
    let names: Vec<String> = (0..7).map(|i| format!("{prefix}{i}a")).collect();
    let outside = format!("{}x", prefix.trim_end_matches('-'));
    let t = tags(s);
    guarded(
        async {
            for n in &names {
                put_new(s, &made, n, &value("page"), &t).await?;
            }
            put_new(s, &made, &outside, &value("outside"), &t).await?;
            // A soft-deleted secret under the prefix must not be listed.
            let deleted = format!("{prefix}deleted");
            put_new(s, &made, &deleted, &value("gone"), &t).await?;
            s.delete_secret(&deleted, ctx.recovery_days).await?;
            let (items, pages) = walk_pages(3, |req| {
                let prefix = &prefix;
                async move { s.list_secrets(prefix, &req).await }
            })
            .await?;
            assert!(pages >= 3, "7 secrets with limit 3 came in {pages} page(s)");
            for n in &names {
                let c = items.iter().filter(|m| &m.name == n).count();
                assert_eq!(
                    c, 1,
                    "secret {n} appeared {c} times over all pages (want exactly once)"
                );
            }
            for m in &items {
                assert!(
                    m.name.starts_with(&prefix),
                    "list_secrets({prefix:?}) returned {}",
                    m.name
                );
                assert!(
                    !m.deleted,
                    "list_secrets returned the deleted secret {}",
                    m.name
                );
            }
            assert_eq!(
                items.len(),
                names.len(),
                "list_secrets returned more than the 7 live secrets"
            );
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// Bad secret names and recovery windows are `InvalidInput` naming the field, with no effect.
pub async fn invalid_names(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let made = Tracker::default();
    let t = tags(s);
    let name = secret_name(ctx);
    guarded(
        async {
            // Every store refuses the first two; the others only where the store's own rule
            // (`check_name`) does: Key Vault refuses them all, a store with paths (AWS
            // Secrets Manager) takes `bad_name`, `dots.are.bad` and 128 characters.
            let long = "a".repeat(128);
            let longer = "a".repeat(513);
            for (i, bad) in ["bad name", "", "bad_name", "dots.are.bad", &long, &longer]
                .into_iter()
                .enumerate()
            {
                let own_rule = s.check_name(NameKind::Secret, "secret name", bad);
                assert!(
                    i >= 2 || own_rule.is_err(),
                    "check_name accepts the secret name {bad:?}"
                );
                if own_rule.is_ok() {
                    continue;
                }
                let err = s.put_secret(bad, &value("x"), &t).await;
                expect_invalid(err, "secret", &format!("put_secret({bad:?})"));
            }
            put_new(s, &made, &name, &value("live"), &t).await?;
            for days in [
                0,
                MIN_RECOVERY_DAYS - 1,
                provisio::secrets::MAX_RECOVERY_DAYS + 1,
            ] {
                let err = s.delete_secret(&name, days).await;
                expect_invalid(
                    err,
                    "recovery_days",
                    &format!("delete_secret with {days} recovery days"),
                );
            }
            let got = s.get_secret(&name).await?;
            assert!(
                got.value == value("live"),
                "a refused delete_secret changed the secret"
            );
            let d = s
                .describe_secret(&name)
                .await?
                .expect("describe_secret after refused deletes");
            assert!(!d.deleted, "a refused delete_secret deleted the secret");
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// No output shows a secret value: not the metadata, not `SecretValue`'s `Debug`, not errors.
pub async fn values_never_leak(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let made = Tracker::default();
    let name = secret_name(ctx);
    let v = value("leak");
    let t = tags(s);
    guarded(
        async {
            let meta = put_new(s, &made, &name, &v, &t).await?;
            let got = s.get_secret(&name).await?;
            for (what, shown) in [
                ("SecretMeta Debug", format!("{meta:?}")),
                ("SecretValue Debug", format!("{got:?}")),
                (
                    "describe_secret Debug",
                    format!("{:?}", s.describe_secret(&name).await?),
                ),
            ] {
                assert!(
                    !shown.contains(v.expose()),
                    "{what} shows the secret value: {shown}"
                );
            }
            let err = s.purge_secret(&name, &Confirm::named("not-this-one")).await;
            let err = expect_kind(
                err,
                ErrorKind::Protected,
                "purge_secret with a wrong Confirm",
            );
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(v.expose()),
                "an error shows the secret value: {shown}"
            );
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}

/// What the capabilities deny is `Unsupported`: recovery on a store without soft delete.
/// Where soft delete is supported, a deleted secret is recoverable.
pub async fn capability_honesty(s: &dyn SecretStore, ctx: &SecretsContext) -> Result<()> {
    let caps = s.capabilities();
    let made = Tracker::default();
    let name = secret_name(ctx);
    let t = tags(s);
    guarded(
        async {
            put_new(s, &made, &name, &value("cap"), &t).await?;
            s.delete_secret(&name, ctx.recovery_days).await?;
            if caps.soft_delete {
                let d = s.describe_secret(&name).await?;
                assert!(
                    d.is_some_and(|d| d.deleted),
                    "soft_delete is reported but the deleted secret is not kept"
                );
                s.recover_secret(&name).await?;
            } else {
                expect_unsupported(s.recover_secret(&name).await, "recover_secret");
            }
            Ok(())
        },
        purge_all(s, &made),
    )
    .await
}
