//! Value types shared by every capability: tags, paging, and the outcome of an "ensure".

use std::collections::BTreeMap;

/// Key/value tags attached to a resource. Sorted, so comparisons and output are stable.
pub type Tags = BTreeMap<String, String>;

/// The tag keys provisio puts on every resource it creates, where the provider supports tags.
pub mod ownership {
    /// The tenant a resource belongs to.
    pub const TENANT: &str = "provisio:tenant";
    /// The blueprint that created it.
    pub const BLUEPRINT: &str = "provisio:blueprint";
    /// The blueprint resource name that created it.
    pub const RESOURCE: &str = "provisio:resource";

    /// Builds the ownership tag set for one resource.
    ///
    /// ```
    /// let t = provisio::types::ownership::tags("acme", "launch", "web");
    /// assert_eq!(t["provisio:tenant"], "acme");
    /// ```
    pub fn tags(tenant: &str, blueprint: &str, resource: &str) -> super::Tags {
        [
            (TENANT.to_string(), tenant.to_string()),
            (BLUEPRINT.to_string(), blueprint.to_string()),
            (RESOURCE.to_string(), resource.to_string()),
        ]
        .into_iter()
        .collect()
    }

    /// Refuses to adopt a resource whose ownership tag names another tenant than `wanted`
    /// does: adopting (and later deleting) another tenant's resource is the "wrong
    /// environment" accident these tags exist to prevent. Providers call it when an ensure
    /// finds the resource already there, before they change anything; `Conflict` naming
    /// `what` and both tenants.
    ///
    /// ```
    /// use provisio::types::ownership::{check_adoptable, tags};
    /// assert!(check_adoptable(&tags("acme", "b", "r"), &tags("acme", "b", "r"), "bucket x").is_ok());
    /// assert!(check_adoptable(&Default::default(), &tags("acme", "b", "r"), "bucket x").is_ok());
    /// let e = check_adoptable(&tags("globex", "b", "r"), &tags("acme", "b", "r"), "bucket x");
    /// assert_eq!(e.unwrap_err().kind(), &provisio::ErrorKind::Conflict);
    /// ```
    pub fn check_adoptable(
        existing: &super::Tags,
        wanted: &super::Tags,
        what: &str,
    ) -> crate::Result<()> {
        match (existing.get(TENANT), wanted.get(TENANT)) {
            (Some(theirs), Some(ours)) if theirs != ours => Err(crate::Error::conflict(format!(
                "{what} exists but belongs to tenant {theirs:?}, not {ours:?}; refusing to adopt it"
            ))),
            _ => Ok(()),
        }
    }
}

/// Whether every tag of `wanted` is present with the same value in `have`.
pub fn tags_match(have: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Asks for one page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageRequest {
    /// The continuation token from the previous page; `None` for the first page.
    pub token: Option<String>,
    /// The largest page the caller wants; providers may return fewer. `None`: provider default.
    pub limit: Option<u32>,
}

impl PageRequest {
    /// The first page with the provider's default size.
    pub fn first() -> Self {
        Self::default()
    }
    /// The first page with at most `limit` items.
    pub fn with_limit(limit: u32) -> Self {
        PageRequest {
            token: None,
            limit: Some(limit),
        }
    }
    /// The page after `page`, keeping this request's limit; `None` when `page` was the last.
    pub fn next<T>(&self, page: &Page<T>) -> Option<PageRequest> {
        page.next.as_ref().map(|t| PageRequest {
            token: Some(t.clone()),
            limit: self.limit,
        })
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The token for the next page; `None` when this is the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page with no successor.
    pub fn last(items: Vec<T>) -> Self {
        Page { items, next: None }
    }
}

/// What an "ensure" call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The resource did not exist and was created.
    Created,
    /// The resource existed with other settings and was changed in place.
    Updated,
    /// The resource existed with the wanted settings; nothing was sent.
    Unchanged,
}

impl Outcome {
    /// Whether the call changed anything.
    pub fn changed(self) -> bool {
        !matches!(self, Outcome::Unchanged)
    }
}

/// The result of an "ensure" call: the resource as it now is, and what the call did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ensured<T> {
    /// The resource after the call.
    pub value: T,
    /// What the call did.
    pub outcome: Outcome,
}

impl<T> Ensured<T> {
    /// `value` was created.
    pub fn created(value: T) -> Self {
        Ensured {
            value,
            outcome: Outcome::Created,
        }
    }
    /// `value` was updated.
    pub fn updated(value: T) -> Self {
        Ensured {
            value,
            outcome: Outcome::Updated,
        }
    }
    /// `value` already matched.
    pub fn unchanged(value: T) -> Self {
        Ensured {
            value,
            outcome: Outcome::Unchanged,
        }
    }
}

/// What a delete call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deleted {
    /// The resource existed and is now deleted (or scheduled for deletion).
    Deleted,
    /// The resource was already gone; nothing was done.
    AlreadyGone,
}

/// An explicit, named permission to do something destructive to one resource.
///
/// Destructive operations (dropping a database, purging a secret, deleting a protected
/// resource) take a `Confirm` that must name the very resource they act on; a mismatch is a
/// `Protected` error. This makes "delete the wrong thing" a type-checked, reviewable act.
///
/// ```
/// use provisio::types::Confirm;
/// let c = Confirm::named("acme_db");
/// assert!(c.check("database", "acme_db").is_ok());
/// assert!(c.check("database", "other_db").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confirm(String);

impl Confirm {
    /// Confirms a destructive operation on the resource called `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Confirm(name.into())
    }
    /// The name this confirmation is for.
    pub fn name(&self) -> &str {
        &self.0
    }
    /// `Ok` when this confirmation names `name`, else a `Protected` error naming both.
    pub fn check(&self, what: &str, name: &str) -> crate::Result<()> {
        if self.0 == name {
            Ok(())
        } else {
            Err(crate::Error::protected(format!(
                "refusing to destroy {what} {name:?}: the confirmation names {:?}",
                self.0
            ))
            .with_resource(name))
        }
    }
}
