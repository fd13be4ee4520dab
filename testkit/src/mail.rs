//! Conformance cases for [`Mail`].
//!
//! Every case creates identities under [`MailContext::domain`] with fresh names and deletes
//! them at the end.

use crate::{Tracker, expect_invalid, expect_unsupported, first_error, guarded};
use provisio::mail::{IdentityKind, MailIdentity};
use provisio::{Deleted, Mail, Outcome, Result, Tags};

/// What the mail cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContext {
    /// The parent domain identities are created under, e.g. `mail.provisio-test.example`:
    /// domain identities are `<unique>.<domain>`, address identities `<unique>@<domain>`.
    pub domain: String,
}

impl MailContext {
    /// Identities are created under `domain`.
    pub fn new(domain: impl Into<String>) -> Self {
        MailContext {
            domain: domain.into(),
        }
    }
}

/// Every mail case by name.
pub const CASES: &[crate::Case<dyn Mail, MailContext>] = crate::mail_conformance!(@table);

/// Generates one `#[test]` per mail case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::mail_conformance! {
///     provider: my_ses(),
///     context: provisio_testkit::mail::MailContext::new("mail.example.test"),
/// }
/// ```
#[macro_export]
macro_rules! mail_conformance {
    (@table) => { $crate::mail_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* mail [
            domain_identity,
            address_identity,
            ensure_is_idempotent,
            delete_is_idempotent,
            not_found,
            invalid_names,
            capability_honesty,
        ] }
    };
    ($($setup:tt)*) => { $crate::mail_conformance!(@cases @tests { $($setup)* }); };
}

fn domain_name(ctx: &MailContext) -> String {
    format!("{}.{}", crate::unique("mail"), ctx.domain)
}

fn address(ctx: &MailContext) -> String {
    format!("{}@{}", crate::unique("to"), ctx.domain)
}

fn tags() -> Tags {
    provisio::types::ownership::tags(&crate::unique("tn"), "conformance", "mail")
}

async fn delete_all(m: &dyn Mail, made: &Tracker) -> Result<()> {
    let mut results = Vec::new();
    for name in made.all() {
        results.push(m.delete_identity(&name).await.map(|_| ()));
    }
    first_error(results)
}

fn assert_dkim_records(identity: &MailIdentity) {
    assert!(
        !identity.dns_records.is_empty(),
        "a domain identity must list the DNS records that verify it (DKIM), got none"
    );
    for r in &identity.dns_records {
        let valid = r.validated();
        assert!(
            valid.is_ok(),
            "the verification record {r:?} is not a valid record: {:?}",
            valid.err()
        );
        assert!(
            r.name.ends_with(&format!(".{}", identity.name)) || r.name == identity.name,
            "the verification record {} is not inside the domain {}",
            r.name,
            identity.name
        );
    }
}

/// A domain identity: `Created`, kind `Domain`, a status, DKIM records inside the domain; read
/// back by `get_identity`.
pub async fn domain_identity(m: &dyn Mail, ctx: &MailContext) -> Result<()> {
    if !m.capabilities().domains {
        expect_unsupported(
            m.ensure_identity(&domain_name(ctx), &tags()).await,
            "ensure_identity of a domain",
        );
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let name = domain_name(ctx);
            made.add(name.clone());
            let made_id = m.ensure_identity(&name, &tags()).await?;
            assert_eq!(
                made_id.outcome,
                Outcome::Created,
                "ensure_identity of a new domain"
            );
            let id = &made_id.value;
            assert_eq!(id.name, name, "ensure_identity's name");
            assert_eq!(
                id.kind,
                IdentityKind::Domain,
                "a name without '@' is a domain identity"
            );
            assert_dkim_records(id);
            let read = m
                .get_identity(&name)
                .await?
                .expect("get_identity of the new domain");
            assert_eq!(read.name, name, "get_identity's name");
            assert_eq!(read.kind, IdentityKind::Domain, "get_identity's kind");
            assert_dkim_records(&read);
            let mut want: Vec<_> = id
                .dns_records
                .iter()
                .map(|r| (&r.name, &r.content))
                .collect();
            let mut got: Vec<_> = read
                .dns_records
                .iter()
                .map(|r| (&r.name, &r.content))
                .collect();
            want.sort();
            got.sort();
            assert_eq!(
                got, want,
                "get_identity lists other verification records than ensure_identity"
            );
            Ok(())
        },
        delete_all(m, &made),
    )
    .await
}

/// An address identity: `Created`, kind `EmailAddress`, read back.
pub async fn address_identity(m: &dyn Mail, ctx: &MailContext) -> Result<()> {
    if !m.capabilities().addresses {
        expect_unsupported(
            m.ensure_identity(&address(ctx), &tags()).await,
            "ensure_identity of an address",
        );
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let name = address(ctx);
            made.add(name.clone());
            let made_id = m.ensure_identity(&name, &tags()).await?;
            assert_eq!(
                made_id.outcome,
                Outcome::Created,
                "ensure_identity of a new address"
            );
            assert_eq!(made_id.value.name, name, "ensure_identity's name");
            assert_eq!(
                made_id.value.kind,
                IdentityKind::EmailAddress,
                "a name with '@' is an address identity"
            );
            let read = m
                .get_identity(&name)
                .await?
                .expect("get_identity of the new address");
            assert_eq!(read.kind, IdentityKind::EmailAddress, "get_identity's kind");
            Ok(())
        },
        delete_all(m, &made),
    )
    .await
}

/// The same identity twice: the second ensure is `Unchanged` and returns the same identity.
pub async fn ensure_is_idempotent(m: &dyn Mail, ctx: &MailContext) -> Result<()> {
    let caps = m.capabilities();
    let name = if caps.domains {
        domain_name(ctx)
    } else {
        address(ctx)
    };
    let made = Tracker::default();
    let t = tags();
    guarded(
        async {
            made.add(name.clone());
            let first = m.ensure_identity(&name, &t).await?;
            assert_eq!(first.outcome, Outcome::Created, "first ensure_identity");
            let second = m.ensure_identity(&name, &t).await?;
            assert_eq!(second.outcome, Outcome::Unchanged, "second ensure_identity");
            assert_eq!(
                second.value.name, first.value.name,
                "the unchanged identity's name"
            );
            assert_eq!(
                second.value.kind, first.value.kind,
                "the unchanged identity's kind"
            );
            assert_eq!(
                second.value.dns_records, first.value.dns_records,
                "a second ensure must not rotate the verification records"
            );
            Ok(())
        },
        delete_all(m, &made),
    )
    .await
}

/// Deleting twice: `Deleted`, then `AlreadyGone`; the identity is gone.
pub async fn delete_is_idempotent(m: &dyn Mail, ctx: &MailContext) -> Result<()> {
    let caps = m.capabilities();
    let name = if caps.domains {
        domain_name(ctx)
    } else {
        address(ctx)
    };
    let made = Tracker::default();
    guarded(
        async {
            made.add(name.clone());
            m.ensure_identity(&name, &tags()).await?;
            assert_eq!(
                m.delete_identity(&name).await?,
                Deleted::Deleted,
                "delete_identity"
            );
            let read = m.get_identity(&name).await?;
            assert!(
                read.is_none(),
                "get_identity after delete returned {read:?}"
            );
            assert_eq!(
                m.delete_identity(&name).await?,
                Deleted::AlreadyGone,
                "second delete_identity"
            );
            Ok(())
        },
        delete_all(m, &made),
    )
    .await
}

/// Unknown identities: `get_identity` is `None`, `delete_identity` is `AlreadyGone`.
pub async fn not_found(m: &dyn Mail, ctx: &MailContext) -> Result<()> {
    for name in [domain_name(ctx), address(ctx)] {
        let read = m.get_identity(&name).await?;
        assert!(
            read.is_none(),
            "get_identity({name:?}) of an unknown identity returned {read:?}"
        );
        assert_eq!(
            m.delete_identity(&name).await?,
            Deleted::AlreadyGone,
            "delete_identity({name:?}) of an unknown identity"
        );
    }
    Ok(())
}

/// Bad identity names are `InvalidInput` naming the field, and create nothing.
pub async fn invalid_names(m: &dyn Mail, ctx: &MailContext) -> Result<()> {
    let bad_local = format!("bad local@{}", ctx.domain);
    let no_local = format!("@{}", ctx.domain);
    let bad_domain = format!("{}.-bad-.{}", crate::unique("x"), ctx.domain);
    let underscore = format!("{}._dmarc.{}", crate::unique("x"), ctx.domain);
    for bad in [
        "not a domain",
        "",
        bad_local.as_str(),
        no_local.as_str(),
        bad_domain.as_str(),
        underscore.as_str(),
    ] {
        let err = m.ensure_identity(bad, &tags()).await;
        expect_invalid(err, "mail identity", &format!("ensure_identity({bad:?})"));
        if let Ok(Some(id)) = m.get_identity(bad).await {
            panic!("a refused ensure_identity({bad:?}) created {id:?}");
        }
    }
    Ok(())
}

/// What the capabilities deny is `Unsupported`; what they promise works.
pub async fn capability_honesty(m: &dyn Mail, ctx: &MailContext) -> Result<()> {
    let caps = m.capabilities();
    let made = Tracker::default();
    guarded(
        async {
            for (supported, name, what) in [
                (caps.domains, domain_name(ctx), "a domain"),
                (caps.addresses, address(ctx), "an address"),
            ] {
                if supported {
                    made.add(name.clone());
                }
                let result = m.ensure_identity(&name, &tags()).await;
                if supported {
                    let id = result?;
                    assert_eq!(id.outcome, Outcome::Created, "ensure_identity of {what}");
                } else {
                    expect_unsupported(result, &format!("ensure_identity of {what}"));
                    assert!(
                        m.get_identity(&name).await?.is_none(),
                        "a refused ensure_identity created {name}"
                    );
                }
            }
            Ok(())
        },
        delete_all(m, &made),
    )
    .await
}
