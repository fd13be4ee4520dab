//! A tiny "cloud" whose resources are JSON files in a directory, so they survive a process
//! killed with SIGKILL, and the `file.thing` resource type that drives it.
//!
//! It is modelled on EC2 rather than on a keyed store, so that a missing adoption shows up as
//! a duplicate: every create gets a fresh random id (the file `objects/<id>.json`), and the
//! only way back from a resource to its file is the id recorded in state or the ownership tags
//! written into the file. Writes are atomic (temporary file, fsync, rename, fsync of the
//! directory), so a kill leaves either the whole file or none.

use crate::crashpoints::Hook;
use provisio::{Deleted, Error, Outcome, Result, Tags};
use provisio_engine::providers::Capability;
use provisio_engine::{Applied, ResourceType, StepContext};
use serde_json::{Value, json};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One stored resource.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Thing {
    /// The random id assigned at creation (the file name).
    pub id: String,
    /// The `name` parameter.
    pub name: String,
    /// The `size` parameter.
    pub size: u64,
    /// The `note` parameter.
    pub note: String,
    /// The tags the resource carries (the engine's ownership tags).
    pub tags: Tags,
}

/// The file-backed cloud: a directory of `objects/<id>.json`.
pub struct FileCloud {
    dir: PathBuf,
    hook: Option<Hook>,
    latency: Duration,
}

impl FileCloud {
    /// A cloud stored under `dir` (created when missing).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        for d in [dir.join("objects"), dir.join("tmp")] {
            fs::create_dir_all(&d).map_err(io("create the store directories"))?;
        }
        Ok(FileCloud {
            dir,
            hook: None,
            latency: Duration::ZERO,
        })
    }

    /// Calls `hook` at the provider's crash points (`provider.<op>.begin` before an
    /// operation, `provider.<op>.effect` after a change was made durable).
    pub fn with_hook(mut self, hook: Hook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Sleeps `latency` at the start of every operation.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    fn point(&self, label: &str) {
        if let Some(h) = &self.hook {
            h(label);
        }
    }

    async fn begin(&self, op: &str) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.point(&format!("provider.{op}.begin"));
    }

    /// Every stored resource, by id order.
    pub fn list(&self) -> Result<Vec<Thing>> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.dir.join("objects")).map_err(io("list the objects"))? {
            let path = e.map_err(io("list the objects"))?.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let text = match fs::read(&path) {
                Ok(t) => t,
                // deleted by another process meanwhile
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("read an object")(e)),
            };
            let thing: Thing = serde_json::from_slice(&text).map_err(|e| {
                Error::unexpected(format!("corrupt object file {}: {e}", path.display()))
            })?;
            out.push(thing);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn get(&self, id: &str) -> Result<Option<Thing>> {
        if !valid_id(id) {
            return Ok(None);
        }
        match fs::read(self.path(id)) {
            Ok(t) => serde_json::from_slice(&t)
                .map(Some)
                .map_err(|e| Error::unexpected(format!("corrupt object file of {id}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read an object")(e)),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join("objects").join(format!("{id}.json"))
    }

    /// Writes `thing` atomically: temporary file, fsync, rename, fsync of the directory.
    fn write(&self, thing: &Thing) -> Result<()> {
        let tmp =
            self.dir
                .join("tmp")
                .join(format!("{}.{:016x}.tmp", thing.id, rand::random::<u64>()));
        let bytes = serde_json::to_vec_pretty(thing).expect("a thing serialises");
        let mut f = fs::File::create(&tmp).map_err(io("create a temporary file"))?;
        f.write_all(&bytes).map_err(io("write a temporary file"))?;
        f.sync_all().map_err(io("fsync a temporary file"))?;
        drop(f);
        fs::rename(&tmp, self.path(&thing.id)).map_err(io("rename into place"))?;
        self.sync_dir()
    }

    fn remove(&self, id: &str) -> Result<bool> {
        match fs::remove_file(self.path(id)) {
            Ok(()) => {
                self.sync_dir()?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("delete an object")(e)),
        }
    }

    fn sync_dir(&self) -> Result<()> {
        fs::File::open(self.dir.join("objects"))
            .and_then(|d| d.sync_all())
            .map_err(io("fsync the objects directory"))
    }

    /// The resources carrying every tag of `wanted`.
    pub fn find(&self, wanted: &Tags) -> Result<Vec<Thing>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|t| wanted.iter().all(|(k, v)| t.tags.get(k) == Some(v)))
            .collect())
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::unexpected(format!("file cloud: cannot {what}: {e}"))
}

/// `file.thing`: one resource of a [`FileCloud`].
///
/// Parameters: `name` (string, required), `size` (number, required), `note` (string,
/// optional). Outputs: `id`, `name`, `size`. Ensure semantics: the resource recorded in state
/// (by `id`) or else the one carrying the step's ownership tags is adopted and updated in
/// place; only when there is none is a new one created. More than one carrying the tags is a
/// `Conflict` (a duplicate).
pub struct FileThing(pub Arc<FileCloud>);

struct Spec {
    name: String,
    size: u64,
    note: String,
}

fn parse(params: &Value) -> Result<Spec> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_field("name", "is required (a string)"))?;
    let size = params
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::invalid_field("size", "is required (a number)"))?;
    let note = match params.get("note") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Error::invalid_field("note", "must be a string")),
    };
    Ok(Spec {
        name: name.to_string(),
        size,
        note,
    })
}

fn outputs(t: &Thing) -> Value {
    json!({"id": t.id, "name": t.name, "size": t.size})
}

impl FileThing {
    /// The resource this step manages now: the recorded one if it still exists, else the
    /// one found by the ownership tags.
    fn current(&self, ctx: &StepContext<'_>, prior: Option<&Value>) -> Result<Option<Thing>> {
        if let Some(id) = prior.and_then(|p| p.get("id")).and_then(Value::as_str)
            && let Some(t) = self.0.get(id)?
        {
            return Ok(Some(t));
        }
        let mut found = self.0.find(&ctx.ownership)?;
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            n => Err(Error::conflict(format!(
                "{n} things carry the ownership tags of {:?}: duplicates",
                ctx.resource
            ))
            .with_resource(ctx.resource)),
        }
    }
}

#[provisio::async_trait]
impl ResourceType for FileThing {
    fn name(&self) -> &str {
        "file.thing"
    }

    fn capability(&self) -> Capability {
        Capability::None
    }

    fn validate(&self, params: &Value) -> Result<()> {
        let p = params
            .as_object()
            .ok_or_else(|| Error::invalid_field("params", "must be an object"))?;
        if !p.get("name").is_some_and(Value::is_string) {
            return Err(Error::invalid_field("name", "is required (a string)"));
        }
        if !p.get("size").is_some_and(Value::is_u64) {
            return Err(Error::invalid_field("size", "is required (a number)"));
        }
        Ok(())
    }

    fn outputs(&self) -> &[&str] {
        &["id", "name", "size"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!("thing {}", parse(params)?.name))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        _params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        self.0.begin("read").await;
        Ok(self.current(ctx, prior)?.as_ref().map(outputs))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = parse(params)?;
        self.0.begin("apply").await;
        let (thing, outcome) = match self.current(ctx, prior)? {
            Some(t) if t.name == spec.name && t.size == spec.size && t.note == spec.note => {
                (t, Outcome::Unchanged)
            }
            Some(mut t) => {
                t.name = spec.name;
                t.size = spec.size;
                t.note = spec.note;
                self.0.write(&t)?;
                self.0.point("provider.apply.effect");
                (t, Outcome::Updated)
            }
            None => {
                let t = Thing {
                    id: format!("{:016x}", rand::random::<u64>()),
                    name: spec.name,
                    size: spec.size,
                    note: spec.note,
                    tags: ctx.ownership.clone(),
                };
                self.0.write(&t)?;
                self.0.point("provider.apply.effect");
                (t, Outcome::Created)
            }
        };
        Ok(Applied {
            outputs: outputs(&thing),
            outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        _params: &Value,
        outputs: &Value,
    ) -> Result<Deleted> {
        self.0.begin("delete").await;
        let ids: Vec<String> = match outputs.get("id").and_then(Value::as_str) {
            Some(id) => vec![id.to_string()],
            None => self
                .0
                .find(&ctx.ownership)?
                .into_iter()
                .map(|t| t.id)
                .collect(),
        };
        let mut any = false;
        for id in ids {
            any |= self.0.remove(&id)?;
        }
        if any {
            self.0.point("provider.delete.effect");
        }
        Ok(if any {
            Deleted::Deleted
        } else {
            Deleted::AlreadyGone
        })
    }
}
