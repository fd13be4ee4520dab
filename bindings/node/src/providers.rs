//! `Providers`: the providers a program uses, built from the same configuration as the CLI's
//! provider file (`provisio-config`), as a JS object, a file path, or all-memory.

use crate::capabilities::{
    ci::Ci, compute::Compute, database::Database, dns::Dns, mail::Mail, repo::Repo,
    secrets::Secrets, storage::Storage,
};
use crate::errors::OrThrow;
use crate::memory::MemoryCloud;
use crate::{from_js, to_js};
use napi_derive::napi;
use provisio_config::{Connection, ProviderConfig};
use provisio_memory::MemoryFixtures;
use serde_json::{Value, json};

/// Every configured provider, by capability and name.
#[napi]
pub struct Providers {
    pub(crate) connection: Connection,
}

/// Splits inline fixtures (`memory.fixtures` given as an object rather than a path) off a
/// configuration object: `provisio-config` reads fixtures from files only.
fn take_inline_fixtures(config: &mut Value) -> napi::Result<Option<MemoryFixtures>> {
    let Some(memory) = config.get_mut("memory").and_then(Value::as_object_mut) else {
        return Ok(None);
    };
    match memory.get("fixtures") {
        Some(Value::Object(_)) => {
            let fixtures = memory.remove("fixtures").unwrap_or_default();
            Ok(Some(from_js("memory.fixtures", fixtures)?))
        }
        _ => Ok(None),
    }
}

async fn connect(config: Value) -> napi::Result<Providers> {
    let (config, fixtures) = match config {
        Value::String(path) => (ProviderConfig::from_file(&path).or_throw()?, None),
        Value::Null => (ProviderConfig::memory(), None),
        mut object => {
            let fixtures = take_inline_fixtures(&mut object)?;
            (ProviderConfig::from_value(object).or_throw()?, fixtures)
        }
    };
    let connection = config.connect().await.or_throw()?;
    if let (Some(fixtures), Some(cloud)) = (fixtures, &connection.memory) {
        cloud.apply_fixtures(&fixtures).await.or_throw()?;
    }
    Ok(Providers { connection })
}

// The constructors are module functions that `index.js` installs as `Providers.connect`,
// `Providers.memory` and `Providers.kinds`: napi defines a class's static methods read-only, so
// they could not be wrapped to throw `ProvisioError`s.

/// Builds the providers of a configuration: an object with the provider file's shape
/// (`{ fallback, memory: { seed, persist, fixtures }, providers: { dns: { default: { kind,
/// ...settings } } } }`; `memory.fixtures` may also be an inline fixtures object), or the
/// path of a `.toml`/`.yaml`/`.json` file. Without a configuration every capability's
/// `default` provider is a memory provider.
#[napi(js_name = "providersConnect")]
pub async fn providers_connect(config: Option<Value>) -> napi::Result<Providers> {
    connect(config.unwrap_or(Value::Null)).await
}

/// Memory providers for every capability: `{ seed, fixtures, calls }` (fixtures: an object
/// or a file path; calls: the provider file's `calls` section, how direct calls retry).
#[napi(js_name = "providersMemory")]
pub async fn providers_memory(options: Option<Value>) -> napi::Result<Providers> {
    let mut memory = options.unwrap_or_else(|| json!({}));
    let Some(fields) = memory.as_object_mut() else {
        return Err(crate::errors::bad_argument(
            "memory options",
            "must be an object { seed, fixtures, calls }",
        ));
    };
    if fields.get("seed").is_some_and(Value::is_null) {
        fields.remove("seed");
    }
    let calls = fields.remove("calls").filter(|c| !c.is_null());
    let mut config = json!({ "fallback": "memory", "memory": memory });
    if let Some(calls) = calls {
        config["calls"] = calls;
    }
    connect(config).await
}

/// The provider kinds this build can construct.
#[napi(js_name = "providerKinds")]
pub fn provider_kinds() -> Vec<String> {
    ProviderConfig::kinds()
        .iter()
        .map(|k| k.to_string())
        .collect()
}

#[napi]
impl Providers {
    /// What serves each capability and name: `[{ capability, name, kind }]`.
    #[napi]
    pub fn summary(&self) -> napi::Result<Value> {
        let rows: Vec<Value> = self
            .connection
            .summary
            .iter()
            .map(|(cap, name, kind)| json!({ "capability": cap.as_str(), "name": name, "kind": kind }))
            .collect();
        to_js(&rows)
    }

    /// The memory world, when any capability uses memory providers (else `null`).
    #[napi(getter, js_name = "cloud")]
    pub fn cloud(&self) -> Option<MemoryCloud> {
        self.connection
            .memory
            .clone()
            .map(|cloud| MemoryCloud { cloud })
    }

    /// Saves the memory world to `memory.persist` (a no-op without one).
    #[napi]
    pub fn save(&self) -> napi::Result<()> {
        self.connection.save().or_throw()
    }

    /// The DNS provider called `name` (default `"default"`).
    #[napi]
    pub fn dns(&self, name: Option<String>) -> napi::Result<Dns> {
        let inner = self
            .connection
            .providers
            .dns(&name_or_default(name))
            .or_throw()?;
        Ok(Dns { inner })
    }
    /// The object storage provider called `name`.
    #[napi]
    pub fn storage(&self, name: Option<String>) -> napi::Result<Storage> {
        let inner = self
            .connection
            .providers
            .storage(&name_or_default(name))
            .or_throw()?;
        Ok(Storage { inner })
    }
    /// The compute provider called `name`.
    #[napi]
    pub fn compute(&self, name: Option<String>) -> napi::Result<Compute> {
        let inner = self
            .connection
            .providers
            .compute(&name_or_default(name))
            .or_throw()?;
        Ok(Compute { inner })
    }
    /// The CI server called `name`.
    #[napi]
    pub fn ci(&self, name: Option<String>) -> napi::Result<Ci> {
        let inner = self
            .connection
            .providers
            .ci(&name_or_default(name))
            .or_throw()?;
        Ok(Ci { inner })
    }
    /// The secret store called `name`.
    #[napi]
    pub fn secrets(&self, name: Option<String>) -> napi::Result<Secrets> {
        let inner = self
            .connection
            .providers
            .secrets(&name_or_default(name))
            .or_throw()?;
        Ok(Secrets { inner })
    }
    /// The database provider called `name`.
    #[napi]
    pub fn database(&self, name: Option<String>) -> napi::Result<Database> {
        let inner = self
            .connection
            .providers
            .database(&name_or_default(name))
            .or_throw()?;
        Ok(Database { inner })
    }
    /// The repository called `name`.
    #[napi]
    pub fn repo(&self, name: Option<String>) -> napi::Result<Repo> {
        let inner = self
            .connection
            .providers
            .repo(&name_or_default(name))
            .or_throw()?;
        Ok(Repo { inner })
    }
    /// The mail provider called `name`.
    #[napi]
    pub fn mail(&self, name: Option<String>) -> napi::Result<Mail> {
        let inner = self
            .connection
            .providers
            .mail(&name_or_default(name))
            .or_throw()?;
        Ok(Mail { inner })
    }
}

fn name_or_default(name: Option<String>) -> String {
    name.unwrap_or_else(|| provisio_engine::providers::DEFAULT_PROVIDER.to_string())
}
