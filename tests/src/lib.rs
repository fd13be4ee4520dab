//! Shared helpers of the integration tests: a small file-backed resource type whose resources
//! survive the process (for the kill -9 and multi-process lock tests), a state store wrapper
//! with crash points, the blueprint the child process applies, and helpers to inspect the
//! result from the parent.
#![deny(missing_docs)]

pub mod crashpoints;
pub mod filecloud;
pub mod harness;

use provisio_engine::{Blueprint, ResourceSpec};
use serde_json::json;

/// The blueprint name the crash and lock tests apply.
pub const CRASH_BLUEPRINT: &str = "crashy";

/// The resources of [`crash_blueprint`], in a dependency order.
pub const CRASH_RESOURCES: &[&str] = &[
    "net", "logs", "db", "cache", "app", "web1", "web2", "lb", "dns",
];

/// A nine-resource `file.thing` blueprint with a diamond, a fan-out, a fan-in and an
/// independent resource; dependents reference their dependencies' outputs (`${net.id}`), so
/// a resumed run must resolve parameters from recorded or adopted outputs.
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
        .resource("db", thing("db", "on ${net.id}"))
        .resource("cache", thing("cache", "on ${net.id}"))
        .resource("app", thing("app", "db ${db.id} cache ${cache.id}"))
        .resource("web1", thing("web1", "app ${app.name}"))
        .resource("web2", thing("web2", "app ${app.name}"))
        .resource("lb", thing("lb", "${web1.id},${web2.id}"))
        .resource("dns", thing("dns", "lb ${lb.name}").depends_on("logs"))
}
