//! A comparable snapshot of what the memory providers hold.
//!
//! [`Inventory`] maps a resource kind (`dns.record`, `storage.object`, ...) to the resources of
//! that kind, each by a stable id (`A acme.example.com`, `bucket/key`, ...) with a JSON detail of
//! its settings. Providers expose two snapshots:
//!
//! - `inventory()`: every *live* resource. Only settings a caller controls are recorded (no
//!   timestamps, no state that moves on its own such as `pending -> running`), so an apply that is
//!   rolled back leaves it exactly as it was.
//! - `retired()`: what deletes leave behind and purges or recoveries remove: soft-deleted
//!   secrets (`secrets.deleted_secret`), terminated or shutting-down instances
//!   (`compute.terminated_instance`) and final snapshots (`database.snapshot`).
//!
//! Secret values never appear: secrets and passwords show a fingerprint.
//!
//! ```
//! use provisio_memory::Inventory;
//! let mut a = Inventory::new();
//! a.insert("dns.record", "A www.example.com", serde_json::json!({"content": "192.0.2.1"}));
//! let b = a.clone();
//! assert_eq!(a, b);
//! assert_eq!(a.count("dns.record"), 1);
//! assert!(a.diff(&b).is_empty());
//! assert!(a.diff(&Inventory::new()).contains("- dns.record A www.example.com"));
//! ```

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A snapshot of resources: kind -> id -> detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inventory {
    /// Kind -> resource id -> detail. Kinds without resources are absent.
    pub kinds: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a resource (replacing one of the same kind and id).
    pub fn insert(&mut self, kind: &str, id: impl Into<String>, detail: Value) {
        self.kinds
            .entry(kind.to_string())
            .or_default()
            .insert(id.into(), detail);
    }

    /// Adds every resource of `other`.
    pub fn merge(&mut self, other: Inventory) {
        for (kind, items) in other.kinds {
            self.kinds.entry(kind).or_default().extend(items);
        }
    }

    /// How many resources of `kind` there are.
    pub fn count(&self, kind: &str) -> usize {
        self.kinds.get(kind).map_or(0, BTreeMap::len)
    }

    /// How many resources there are in all.
    pub fn len(&self) -> usize {
        self.kinds.values().map(BTreeMap::len).sum()
    }

    /// Whether there are no resources at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of the resources of `kind`, sorted.
    pub fn ids(&self, kind: &str) -> Vec<&str> {
        self.kinds
            .get(kind)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The detail of one resource.
    pub fn get(&self, kind: &str, id: &str) -> Option<&Value> {
        self.kinds.get(kind)?.get(id)
    }

    /// Whether a resource of `kind` with `id` exists.
    pub fn contains(&self, kind: &str, id: &str) -> bool {
        self.get(kind, id).is_some()
    }

    /// A readable description of what changed from `self` to `other`, one line per resource:
    /// `+ kind id: detail` (only in `other`), `- kind id: detail` (only in `self`) and
    /// `~ kind id: old -> new`. Empty when the two are equal.
    pub fn diff(&self, other: &Inventory) -> String {
        let empty = BTreeMap::new();
        let mut out = String::new();
        let kinds: std::collections::BTreeSet<&String> =
            self.kinds.keys().chain(other.kinds.keys()).collect();
        for kind in kinds {
            let a = self.kinds.get(kind).unwrap_or(&empty);
            let b = other.kinds.get(kind).unwrap_or(&empty);
            let ids: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for id in ids {
                match (a.get(id), b.get(id)) {
                    (Some(x), None) => {
                        let _ = writeln!(out, "- {kind} {id}: {x}");
                    }
                    (None, Some(y)) => {
                        let _ = writeln!(out, "+ {kind} {id}: {y}");
                    }
                    (Some(x), Some(y)) if x != y => {
                        let _ = writeln!(out, "~ {kind} {id}: {x} -> {y}");
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

impl std::fmt::Display for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (kind, items) in &self.kinds {
            for (id, detail) in items {
                writeln!(f, "{kind} {id}: {detail}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_adds_removes_changes() {
        let mut a = Inventory::new();
        a.insert("k", "same", json!(1));
        a.insert("k", "gone", json!(2));
        a.insert("k", "changed", json!(3));
        let mut b = Inventory::new();
        b.insert("k", "same", json!(1));
        b.insert("k", "changed", json!(4));
        b.insert("j", "new", json!(5));
        let d = a.diff(&b);
        assert_eq!(d, "+ j new: 5\n~ k changed: 3 -> 4\n- k gone: 2\n");
        assert_eq!(b.count("k"), 2);
        assert_eq!(b.len(), 3);
        assert!(!b.is_empty());
        let back: Inventory = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        let mut m = a.clone();
        m.merge(b);
        assert_eq!(m.count("j"), 1);
        assert_eq!(a.ids("k"), vec!["changed", "gone", "same"]);
    }
}
