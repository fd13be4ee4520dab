//! Shared helpers of the integration tests: a small file-backed resource type whose resources
//! survive the process (for the kill -9 and multi-process lock tests), a state store wrapper
//! with crash points, the blueprint the child process applies, and helpers to inspect the
//! result from the parent.
#![deny(missing_docs)]

pub mod crashpoints;
pub mod filecloud;
pub mod harness;

use provisio_engine::{Blueprint, Phase, PhaseVariant, ResourceSpec};
use serde_json::json;

/// The blueprint name the crash and lock tests apply.
pub const CRASH_BLUEPRINT: &str = "crashy";

/// The resources of [`crash_blueprint`], in a dependency order.
pub const CRASH_RESOURCES: &[&str] = &[
    "net", "logs", "db", "cache", "app", "web1", "web2", "lb", "dns",
];

/// The resources of [`crash_blueprint`] in its `archived` phase.
pub const CRASH_ARCHIVED: &[&str] = &["net", "logs", "cache", "app", "lb", "dns", "dump"];

/// A nine-resource `file.thing` blueprint with a diamond, a fan-out, a fan-in and an
/// independent resource; dependents reference their dependencies' outputs (`${net.id}`), so
/// a resumed run must resolve parameters from recorded or adopted outputs.
///
/// Its lifecycle (for the archive and restore crash tests): archived, `db`, `web1` and `web2`
/// are absent, `lb` points at maintenance, and `dump` (archived only) records the ids of the
/// database and the app it was taken of; `app` keeps referring to the absent `db` (its last
/// recorded outputs). Restore creates them again, and `app` and `lb` follow the new ids.
pub fn crash_blueprint() -> Blueprint {
    let thing = |name: &str, note: &str| {
        ResourceSpec::new("file.thing").params(json!({
            "name": format!("${{tenant.name}}-{name}"),
            "size": name.len(),
            "note": note,
        }))
    };
    Blueprint::new(CRASH_BLUEPRINT)
        .resource("net", thing("net", "root"))
        .resource("logs", thing("logs", "independent"))
        .resource(
            "db",
            thing("db", "on ${net.id}").in_phase(Phase::Archived, PhaseVariant::Absent),
        )
        .resource("cache", thing("cache", "on ${net.id}"))
        .resource("app", thing("app", "db ${db.id} cache ${cache.id}"))
        .resource(
            "web1",
            thing("web1", "app ${app.name}").in_phase(Phase::Archived, PhaseVariant::Absent),
        )
        .resource(
            "web2",
            thing("web2", "app ${app.name}").in_phase(Phase::Archived, PhaseVariant::Absent),
        )
        .resource(
            "lb",
            thing("lb", "${web1.id},${web2.id}").in_phase(
                Phase::Archived,
                PhaseVariant::Params(json!({"note": "maintenance"})),
            ),
        )
        .resource(
            "dump",
            thing("dump", "dump of ${db.id} for ${app.id}").only_in([Phase::Archived]),
        )
        .resource("dns", thing("dns", "lb ${lb.name}").depends_on("logs"))
}
