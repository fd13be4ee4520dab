//! What one [`Route53Dns`](crate::Route53Dns) instance learnt from Route 53, to spend fewer
//! requests: hosted zone ids by name, and the record sets it last read or wrote at each name.
//!
//! The knowledge is a *hint*, never an answer: no read is skipped because of it (a
//! `get_record` always asks Route 53), and every write it shapes is checked by Route 53 itself
//! (a `CREATE` fails when the set exists, a `DELETE` when the values differ), so stale
//! knowledge costs a request, never a wrong result. It picks the cheapest first request:
//! `CREATE` for a name not known to hold the type, a read first for one that does, a `DELETE`
//! with the values last seen.

use crate::dns_sets::RecordSet;
use provisio::dns::Zone;
use std::collections::HashMap;
use std::sync::Mutex;

/// Forget everything past this many names, so a long-lived instance stays small.
const MAX_NAMES: usize = 10_000;

/// Zone ids and record sets seen by one provider instance.
#[derive(Debug, Default)]
pub(crate) struct Known {
    zones: Mutex<HashMap<String, Zone>>,
    /// (zone id, canonical name) -> the simple record sets at that name, by type.
    names: Mutex<HashMap<(String, String), HashMap<String, RecordSet>>>,
    /// Held while a zone is looked up, so steps that start together (a fleet's first wave)
    /// wait for one lookup instead of each sending their own.
    lookup: tokio::sync::Mutex<()>,
}

impl Known {
    /// The zone of `name` found earlier.
    pub(crate) fn zone(&self, name: &str) -> Option<Zone> {
        lock(&self.zones).get(name).cloned()
    }

    /// Waits for the turn to look a zone up; check [`Known::zone`] again once it is yours.
    pub(crate) async fn lookup_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lookup.lock().await
    }

    /// Remembers a zone found by name.
    pub(crate) fn remember_zone(&self, zone: &Zone) {
        lock(&self.zones).insert(zone.name.clone(), zone.clone());
    }

    /// Forgets a zone Route 53 no longer knows (`NoSuchHostedZone`) and all its names.
    pub(crate) fn forget_zone(&self, zone: &Zone) {
        lock(&self.zones).retain(|_, z| z.id != zone.id);
        lock(&self.names).retain(|(id, _), _| *id != zone.id);
    }

    /// The record sets last seen at `name`, by type (empty when nothing is known).
    pub(crate) fn sets_at(&self, zone: &Zone, name: &str) -> HashMap<String, RecordSet> {
        lock(&self.names)
            .get(&(zone.id.clone(), name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Records a fresh read of every simple record set at `name`.
    pub(crate) fn read_at(&self, zone: &Zone, name: &str, sets: &[RecordSet]) {
        let by_type = sets.iter().map(|s| (s.rtype.clone(), s.clone())).collect();
        let mut names = lock(&self.names);
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names.insert((zone.id.clone(), name.to_string()), by_type);
    }

    /// Records a set this instance created or replaced.
    pub(crate) fn wrote(&self, zone: &Zone, name: &str, set: &RecordSet) {
        let mut names = lock(&self.names);
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names
            .entry((zone.id.clone(), name.to_string()))
            .or_default()
            .insert(set.rtype.clone(), set.clone());
    }

    /// Records that the set of `record_type` at `name` is gone.
    pub(crate) fn deleted(&self, zone: &Zone, name: &str, record_type: &str) {
        if let Some(sets) = lock(&self.names).get_mut(&(zone.id.clone(), name.to_string())) {
            sets.remove(record_type);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, t: &str) -> RecordSet {
        RecordSet {
            name: format!("{name}."),
            rtype: t.to_string(),
            ttl: Some(60),
            values: vec!["192.0.2.1".to_string()],
            ..RecordSet::default()
        }
    }

    #[test]
    fn remembers_and_forgets() {
        let known = Known::default();
        let zone = Zone {
            id: "Z1".into(),
            name: "example.test".into(),
        };
        assert!(known.zone("example.test").is_none());
        known.remember_zone(&zone);
        assert_eq!(known.zone("example.test"), Some(zone.clone()));

        known.wrote(&zone, "a.example.test", &set("a.example.test", "A"));
        known.wrote(&zone, "a.example.test", &set("a.example.test", "TXT"));
        assert_eq!(known.sets_at(&zone, "a.example.test").len(), 2);
        known.deleted(&zone, "a.example.test", "A");
        assert!(known.sets_at(&zone, "a.example.test").contains_key("TXT"));
        assert!(!known.sets_at(&zone, "a.example.test").contains_key("A"));
        // a read replaces what was known at the name
        known.read_at(&zone, "a.example.test", &[set("a.example.test", "CNAME")]);
        let at = known.sets_at(&zone, "a.example.test");
        assert_eq!(at.keys().collect::<Vec<_>>(), vec!["CNAME"]);

        known.forget_zone(&zone);
        assert!(known.zone("example.test").is_none());
        assert!(known.sets_at(&zone, "a.example.test").is_empty());
    }
}
