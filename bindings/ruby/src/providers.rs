//! `Provisio::Providers`: the providers a run uses, built from a provider configuration in the
//! CLI's format (`provisio-config`), or memory providers for every capability.

use crate::convert::{Args, from_json, from_ruby};
use crate::errors::{guard, to_ruby};
use crate::memory::MemoryCloud;
use crate::runtime::block_on;
use crate::services::{Ci, Compute, Database, Dns, Mail, Repo, Secrets, Storage};
use magnus::prelude::*;
use magnus::value::ReprValue;
use magnus::{Error, RHash, RModule, RString, Ruby, Value};
use provisio_config::{Connection, ProviderConfig};
use provisio_memory::MemoryFixtures;
use std::path::PathBuf;

/// Every configured provider, by capability and name.
#[magnus::wrap(class = "Provisio::Providers", free_immediately, size)]
pub(crate) struct Providers {
    pub(crate) connection: Connection,
}

/// A path argument: a String or anything with `to_path` (Pathname).
pub(crate) fn path_arg(ruby: &Ruby, what: &str, value: Value) -> Result<Option<PathBuf>, Error> {
    if let Some(s) = RString::from_value(value) {
        return Ok(Some(PathBuf::from(crate::convert::string(ruby, what, s)?)));
    }
    if value.respond_to("to_path", false)? {
        let s: RString = value.funcall("to_path", ())?;
        return Ok(Some(PathBuf::from(crate::convert::string(ruby, what, s)?)));
    }
    Ok(None)
}

/// Fixtures given as a path (read by the configuration) or as data.
pub(crate) fn read_fixtures(ruby: &Ruby, value: Value) -> Result<MemoryFixtures, Error> {
    if let Some(p) = path_arg(ruby, "fixtures", value)? {
        return MemoryFixtures::from_path(&p).map_err(|e| to_ruby(ruby, &e));
    }
    from_json(ruby, "memory fixtures", from_ruby(ruby, "fixtures", value)?)
}

/// Connects a provider configuration (and applies fixtures given as data).
fn connect(
    ruby: &Ruby,
    config: ProviderConfig,
    fixtures: Option<MemoryFixtures>,
) -> Result<Providers, Error> {
    let connection = block_on(ruby, async move {
        let connection = config.connect().await?;
        if let (Some(f), Some(cloud)) = (fixtures, &connection.memory) {
            cloud.apply_fixtures(&f).await?;
        }
        Ok(connection)
    })?;
    Ok(Providers { connection })
}

impl Providers {
    /// `Providers.new(config = nil)`: a Hash in the provider-config format, a path to a
    /// `.toml`/`.yaml`/`.json` provider file, or nil for memory providers everywhere.
    fn new(ruby: &Ruby, args: &[Value]) -> Result<Self, Error> {
        guard(ruby, || {
            let config = match args {
                [] => ProviderConfig::memory(),
                [c] if c.is_nil() => ProviderConfig::memory(),
                [c] => match path_arg(ruby, "config", *c)? {
                    Some(path) => ProviderConfig::from_file(path).map_err(|e| to_ruby(ruby, &e))?,
                    None => {
                        if RHash::from_value(*c).is_none() {
                            return Err(Error::new(
                                ruby.exception_type_error(),
                                "config: expected a Hash, a provider file path or nil",
                            ));
                        }
                        ProviderConfig::from_value(from_ruby(ruby, "config", *c)?)
                            .map_err(|e| to_ruby(ruby, &e))?
                    }
                },
                _ => {
                    return Err(Error::new(
                        ruby.exception_arg_error(),
                        format!(
                            "wrong number of arguments (given {}, expected 0..1)",
                            args.len()
                        ),
                    ));
                }
            };
            connect(ruby, config, None)
        })
    }

    /// `Providers.__memory(seed:, fixtures:, persist:, calls:)` (keywords checked in Ruby).
    fn memory(ruby: &Ruby, args: RHash) -> Result<Self, Error> {
        guard(ruby, || {
            let a = Args::new(ruby, args);
            let mut config = ProviderConfig::memory();
            config.memory.seed = a.get("seed")?;
            config.memory.persist = path_arg(ruby, "persist", a.raw("persist"))?;
            let calls = a.json("calls")?;
            if !calls.is_null() {
                config.calls = from_json(ruby, "calls", calls)?;
            }
            let fixtures = a.raw("fixtures");
            let mut data = None;
            if !fixtures.is_nil() {
                match path_arg(ruby, "fixtures", fixtures)? {
                    Some(p) => config.memory.fixtures = Some(p),
                    None => data = Some(read_fixtures(ruby, fixtures)?),
                }
            }
            connect(ruby, config, data)
        })
    }

    /// The optional provider name argument (default `"default"`).
    fn name_arg(ruby: &Ruby, args: &[Value]) -> Result<String, Error> {
        match args {
            [] => Ok("default".into()),
            [v] => match RString::from_value(*v) {
                Some(s) => crate::convert::string(ruby, "name", s),
                None => Err(Error::new(
                    ruby.exception_type_error(),
                    "name: expected a String",
                )),
            },
            _ => Err(Error::new(
                ruby.exception_arg_error(),
                format!(
                    "wrong number of arguments (given {}, expected 0..1)",
                    args.len()
                ),
            )),
        }
    }

    /// The memory world behind every `memory` provider, or nil.
    fn cloud(&self) -> Option<MemoryCloud> {
        self.connection
            .memory
            .clone()
            .map(|cloud| MemoryCloud { cloud })
    }

    /// `[[capability, name, kind], ...]` of every configured provider.
    fn summary(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let rows: Vec<serde_json::Value> = rb_self
            .connection
            .summary
            .iter()
            .map(|(cap, name, kind)| serde_json::json!([cap.as_str(), name, kind]))
            .collect();
        crate::convert::to_ruby(ruby, &serde_json::Value::Array(rows))
    }

    /// Writes the memory world to its `persist` file (a no-op without one).
    fn save(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        rb_self.connection.save().map_err(|e| to_ruby(ruby, &e))
    }

    /// `#<Provisio::Providers dns.default=memory, ...>`.
    fn inspect(&self) -> String {
        let parts: Vec<String> = self
            .connection
            .summary
            .iter()
            .map(|(cap, name, kind)| format!("{}.{name}={kind}", cap.as_str()))
            .collect();
        format!("#<Provisio::Providers {}>", parts.join(", "))
    }
}

macro_rules! getters {
    ($($method:ident => $class:ident),* $(,)?) => {
        impl Providers {
            $(
                #[doc = concat!("The `", stringify!($method), "` provider called `name` (default `\"default\"`).")]
                fn $method(ruby: &Ruby, rb_self: &Self, args: &[Value]) -> Result<$class, Error> {
                    let name = Self::name_arg(ruby, args)?;
                    let inner = rb_self.connection.providers.$method(&name).map_err(|e| to_ruby(ruby, &e))?;
                    Ok($class { inner })
                }
            )*
        }

        /// Defines `Provisio::Providers`.
        pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
            let class = module.define_class("Providers", ruby.class_object())?;
            class.define_singleton_method("new", magnus::function!(Providers::new, -1))?;
            class.define_singleton_method("__memory", magnus::function!(Providers::memory, 1))?;
            class.define_method("cloud", magnus::method!(Providers::cloud, 0))?;
            class.define_method("summary", magnus::method!(Providers::summary, 0))?;
            class.define_method("save", magnus::method!(Providers::save, 0))?;
            class.define_method("inspect", magnus::method!(Providers::inspect, 0))?;
            $(class.define_method(stringify!($method), magnus::method!(Providers::$method, -1))?;)*
            Ok(())
        }
    };
}

getters!(dns => Dns, storage => Storage, compute => Compute, ci => Ci, secrets => Secrets, database => Database, repo => Repo, mail => Mail);
