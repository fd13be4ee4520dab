//! `Provisio::MemoryCloud` and `Provisio::Faults`: the memory providers' world, its fault
//! injection and its inventory as frozen Ruby data.

use crate::convert::{self, Args, from_json};
use crate::errors::{guard, to_ruby};
use crate::runtime::block_on;
use crate::services::{Ci, Compute, Database, Dns, Mail, Repo, Secrets, Storage};
use magnus::prelude::*;
use magnus::{Error, RHash, RModule, Ruby, Value};
use provisio::{ErrorKind, Quota};

/// The memory world.
#[magnus::wrap(class = "Provisio::MemoryCloud", free_immediately, size)]
pub(crate) struct MemoryCloud {
    pub(crate) cloud: provisio_memory::MemoryCloud,
}

/// Fault injection settings and call accounting shared by every memory provider of a world.
#[magnus::wrap(class = "Provisio::Faults", free_immediately, size)]
pub(crate) struct Faults {
    faults: provisio_memory::Faults,
}

impl MemoryCloud {
    /// A new, empty world seeded with `seed` (`MemoryCloud.new(seed: 7)`).
    fn new(seed: u64) -> Self {
        MemoryCloud {
            cloud: provisio_memory::MemoryCloud::new(seed),
        }
    }

    /// The world's fault injection.
    fn faults(&self) -> Faults {
        Faults {
            faults: self.cloud.faults.clone(),
        }
    }

    /// Every live resource: `{kind => {id => detail}}` (secret values show as fingerprints).
    fn inventory(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let v = convert::json(&rb_self.cloud.inventory().kinds).map_err(|e| to_ruby(ruby, &e))?;
        convert::to_ruby(ruby, &v)
    }

    /// What deletes left behind (soft-deleted secrets, terminated instances, final snapshots).
    fn retired(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let v = convert::json(&rb_self.cloud.retired().kinds).map_err(|e| to_ruby(ruby, &e))?;
        convert::to_ruby(ruby, &v)
    }

    /// Ensures the fixtures (a fixtures file path, or a Hash) exist.
    fn apply_fixtures(ruby: &Ruby, rb_self: &Self, fixtures: Value) -> Result<(), Error> {
        guard(ruby, || {
            let fixtures = crate::providers::read_fixtures(ruby, fixtures)?;
            let cloud = rb_self.cloud.clone();
            block_on(ruby, async move { cloud.apply_fixtures(&fixtures).await })
        })
    }

    /// Writes the world to a JSON file (mode 0600: it holds secret values).
    fn save(ruby: &Ruby, rb_self: &Self, path: Value) -> Result<(), Error> {
        let path = crate::providers::path_arg(ruby, "path", path)?
            .ok_or_else(|| Error::new(ruby.exception_type_error(), "path: expected a String"))?;
        rb_self.cloud.save(path).map_err(|e| to_ruby(ruby, &e))
    }

    /// The world's seed.
    fn seed(&self) -> u64 {
        self.cloud.faults.seed()
    }

    /// The memory DNS provider.
    fn dns(&self) -> Dns {
        Dns {
            inner: self.cloud.dns.clone(),
        }
    }
    /// The memory object storage.
    fn storage(&self) -> Storage {
        Storage {
            inner: self.cloud.storage.clone(),
        }
    }
    /// The memory compute provider.
    fn compute(&self) -> Compute {
        Compute {
            inner: self.cloud.compute.clone(),
        }
    }
    /// The memory CI server.
    fn ci(&self) -> Ci {
        Ci {
            inner: self.cloud.ci.clone(),
        }
    }
    /// The memory secret store.
    fn secrets(&self) -> Secrets {
        Secrets {
            inner: self.cloud.secrets.clone(),
        }
    }
    /// The memory database provider.
    fn database(&self) -> Database {
        Database {
            inner: self.cloud.database.clone(),
        }
    }
    /// The memory repository.
    fn repo(&self) -> Repo {
        Repo {
            inner: self.cloud.repo.clone(),
        }
    }
    /// The memory mail provider.
    fn mail(&self) -> Mail {
        Mail {
            inner: self.cloud.mail.clone(),
        }
    }
}

/// The error kind of a fault rule (`kind:` and `retry_after:` arguments).
fn kind(ruby: &Ruby, a: &Args<'_>) -> Result<ErrorKind, Error> {
    let ms = a
        .get::<Option<f64>>("retry_after")?
        .map(|s| (s * 1000.0).round() as u64);
    let kind: String = a.get("kind")?;
    from_json(
        ruby,
        "kind",
        serde_json::json!({ "kind": kind, "retry_after": ms }),
    )
}

impl Faults {
    /// `__inject(rule, args)`: one of the error rules or `latency`/`rate_limit`, with a
    /// Symbol-keyed Hash of its arguments (checked by `lib/provisio/memory.rb`).
    fn inject(ruby: &Ruby, rb_self: &Self, rule: String, args: RHash) -> Result<(), Error> {
        guard(ruby, || Self::inject_rule(ruby, rb_self, &rule, args))
    }

    /// The body of [`Faults::inject`].
    fn inject_rule(ruby: &Ruby, rb_self: &Self, rule: &str, args: RHash) -> Result<(), Error> {
        let a = Args::new(ruby, args);
        let f = &rb_self.faults;
        match rule {
            "error_rate" => f.error_rate(
                &a.get::<String>("operation")?,
                a.get("rate")?,
                kind(ruby, &a)?,
            ),
            "error_on_call" => {
                f.error_on_call(&a.get::<String>("operation")?, a.get("n")?, kind(ruby, &a)?)
            }
            "error_after_effect" => {
                f.error_after_effect(&a.get::<String>("operation")?, a.get("n")?, kind(ruby, &a)?)
            }
            "error_rate_after_effect" => f.error_rate_after_effect(
                &a.get::<String>("operation")?,
                a.get("rate")?,
                kind(ruby, &a)?,
            ),
            "latency" => {
                let min = a.seconds("seconds")?;
                let max = a.opt_seconds("max_seconds")?.unwrap_or(min);
                f.latency_between(&a.get::<String>("operation")?, min, max);
            }
            "rate_limit" => {
                let per = a.seconds("per_seconds")?;
                f.undeclared_rate_limit(
                    &a.get::<String>("account")?,
                    Quota::new(a.get("requests")?, per),
                );
            }
            other => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!("unknown fault rule {other}"),
                ));
            }
        }
        Ok(())
    }

    /// Removes every error, latency and quota rule (counters and the log stay).
    fn clear(&self) {
        self.faults.clear();
    }

    /// Resets the call counters and the log (rules stay).
    fn reset_counters(&self) {
        self.faults.reset_counters();
    }

    /// How many calls matched `operation` (a name, `cap.*` or `*`).
    fn calls(&self, operation: String) -> u64 {
        self.faults.calls(&operation)
    }

    /// How many calls matching `operation` changed state.
    fn mutations(&self, operation: String) -> u64 {
        self.faults.mutations(&operation)
    }

    /// Every call so far: `[{operation:, call:, account:, resource:, outcome:}]`.
    fn call_log(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let v = convert::json(&rb_self.faults.call_log()).map_err(|e| to_ruby(ruby, &e))?;
        convert::to_ruby(ruby, &v)
    }

    /// The calls that got an injected error, sorted by operation and call index.
    fn injected(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let v = convert::json(&rb_self.faults.injected()).map_err(|e| to_ruby(ruby, &e))?;
        convert::to_ruby(ruby, &v)
    }
}

/// Defines `Provisio::MemoryCloud` and `Provisio::Faults`.
pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    use magnus::{function, method};
    let c = module.define_class("MemoryCloud", ruby.class_object())?;
    c.define_singleton_method("__new", function!(MemoryCloud::new, 1))?;
    c.define_method("faults", method!(MemoryCloud::faults, 0))?;
    c.define_method("inventory", method!(MemoryCloud::inventory, 0))?;
    c.define_method("retired", method!(MemoryCloud::retired, 0))?;
    c.define_method("apply_fixtures", method!(MemoryCloud::apply_fixtures, 1))?;
    c.define_method("save", method!(MemoryCloud::save, 1))?;
    c.define_method("seed", method!(MemoryCloud::seed, 0))?;
    c.define_method("dns", method!(MemoryCloud::dns, 0))?;
    c.define_method("storage", method!(MemoryCloud::storage, 0))?;
    c.define_method("compute", method!(MemoryCloud::compute, 0))?;
    c.define_method("ci", method!(MemoryCloud::ci, 0))?;
    c.define_method("secrets", method!(MemoryCloud::secrets, 0))?;
    c.define_method("database", method!(MemoryCloud::database, 0))?;
    c.define_method("repo", method!(MemoryCloud::repo, 0))?;
    c.define_method("mail", method!(MemoryCloud::mail, 0))?;
    let f = module.define_class("Faults", ruby.class_object())?;
    f.define_private_method("__inject", method!(Faults::inject, 2))?;
    f.define_method("clear", method!(Faults::clear, 0))?;
    f.define_method("reset_counters", method!(Faults::reset_counters, 0))?;
    f.define_private_method("__calls", method!(Faults::calls, 1))?;
    f.define_private_method("__mutations", method!(Faults::mutations, 1))?;
    f.define_method("call_log", method!(Faults::call_log, 0))?;
    f.define_method("injected", method!(Faults::injected, 0))?;
    Ok(())
}
