//! What every command sets up: the state store, the providers, the blueprint and the tenant.

use crate::{Global, VarArgs};
use provisio::{Error, Result, SecretString};
use provisio_config::{Connection, ProviderConfig};
use provisio_engine::state::sqlite::SqliteStateStore;
use provisio_engine::{Blueprint, EventSink, StateStore, Tenant, types};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Opens the state store named by `--state`. A PostgreSQL store also holds the rate limits
/// of every provider account, shared by every process using it (`docs/distributed.md`).
pub(crate) async fn open_state(spec: &str) -> Result<Arc<dyn StateStore>> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let store =
            Arc::new(provisio_engine::state::postgres::PostgresStateStore::connect(spec).await?);
        provisio::requests::limiter().share(Some(store.clone()));
        return Ok(store);
    }
    let path = Path::new(spec);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::invalid_input(format!("cannot create state directory {}", dir.display()))
                .with_source(e)
        })?;
    }
    Ok(Arc::new(SqliteStateStore::open(path).await?))
}

/// The directory beside the state: where the memory world is kept by default.
pub(crate) fn state_dir(spec: &str) -> PathBuf {
    if spec.contains("://") {
        return PathBuf::from(".provisio");
    }
    match Path::new(spec).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The provider configuration: `--providers`, else memory providers. Memory worlds are kept
/// beside the state file unless the configuration says where (shared by every command and
/// process, each provider call on disk before it returns: see `provisio_memory::persist`),
/// and a blueprint directory's `memory-fixtures.yaml` prepares a new one unless the
/// configuration names fixtures.
pub(crate) fn provider_config(global: &Global, blueprint: Option<&Path>) -> Result<ProviderConfig> {
    let mut config = declared_config(global)?;
    if config.uses_memory() {
        if config.memory.persist.is_none() {
            config.memory.persist = Some(state_dir(&global.state).join("memory.json"));
        }
        if config.memory.fixtures.is_none()
            && let Some(bp) = blueprint
        {
            let dir = if bp.is_dir() {
                Some(bp.to_path_buf())
            } else {
                bp.parent().map(Path::to_path_buf)
            };
            let fixtures = dir.map(|d| d.join("memory-fixtures.yaml"));
            config.memory.fixtures = fixtures.filter(|f| f.is_file());
        }
    }
    Ok(config)
}

/// The provider configuration as declared: `--providers`, else memory providers (before the
/// defaults [`provider_config`] adds for this process).
pub(crate) fn declared_config(global: &Global) -> Result<ProviderConfig> {
    match &global.providers {
        Some(path) => ProviderConfig::from_file(path),
        None => Ok(ProviderConfig::memory()),
    }
}

/// An engine with its providers.
pub(crate) struct Session {
    pub(crate) engine: provisio_engine::Engine,
    pub(crate) connection: Connection,
}

impl Session {
    /// Connects the providers and builds the engine.
    pub(crate) async fn open(
        global: &Global,
        blueprint: Option<&Path>,
        events: Arc<dyn EventSink>,
    ) -> Result<Session> {
        let config = provider_config(global, blueprint)?;
        let connection = config.connect().await?;
        let state = open_state(&global.state).await?;
        let engine = provisio_engine::Engine::builder()
            .providers(connection.providers.clone())
            .registry(types::builtin())
            .state(state)
            .events(events)
            .concurrency(global.step_concurrency.max(1))
            .build()?;
        Ok(Session { engine, connection })
    }

    /// Saves the memory world, when it is not kept in a file already: the CLI's world is
    /// persisted (`memory.json` beside the state unless the configuration says otherwise),
    /// and then every provider call was on disk before it returned, so there is nothing left
    /// to write.
    pub(crate) fn save(&self) -> Result<()> {
        match &self.connection.memory {
            Some(cloud) if cloud.persist_path().is_some() => Ok(()),
            _ => self.connection.save(),
        }
    }
}

/// Loads and validates a blueprint.
pub(crate) fn load_blueprint(path: &Path) -> Result<Blueprint> {
    let bp = Blueprint::load(path)?;
    bp.validate(&types::builtin())?;
    Ok(bp)
}

pub(crate) fn split_pair<'a>(arg: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    arg.split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim(), v))
        .ok_or_else(|| Error::invalid_field(flag, format!("{arg:?} is not KEY=VALUE")))
}

/// Reads a YAML/JSON/TOML object of variables (see `provisio_loader::vars`).
pub(crate) fn read_vars_file(path: &Path) -> Result<BTreeMap<String, Value>> {
    provisio_loader::vars::load_vars(path, &provisio_loader::Limits::default())
}

/// The environment variable a secret variable is read from by default.
pub(crate) use provisio_engine::blueprint::secret_env_var as secret_env_name;

/// The plain variables of `--vars-file` and `--var`.
pub(crate) fn plain_vars(args: &VarArgs) -> Result<BTreeMap<String, Value>> {
    let mut vars = match &args.vars_file {
        Some(p) => read_vars_file(p)?,
        None => BTreeMap::new(),
    };
    for arg in &args.vars {
        let (k, v) = split_pair(arg, "--var")?;
        vars.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(vars)
}

/// The secret variables the blueprint declares, read from the environment (`--secret-env`
/// names another variable for one of them).
pub(crate) fn secret_vars(
    bp: &Blueprint,
    args: &VarArgs,
) -> Result<BTreeMap<String, SecretString>> {
    let mut envs = BTreeMap::new();
    for arg in &args.secret_env {
        let (k, env) = split_pair(arg, "--secret-env")?;
        if !bp.variables.get(k).is_some_and(|v| v.secret) {
            return Err(Error::invalid_field(
                "--secret-env",
                format!("the blueprint declares no secret variable {k:?}"),
            ));
        }
        envs.insert(k.to_string(), env.to_string());
    }
    Ok(bp.secrets_from_env(&envs))
}

/// Checks that `key`, given as a plain variable by `source` (`--var`, a vars file, a tenants
/// file), is one the blueprint declares, and not a secret: a secret on a command line or in a
/// plain file would end up in shell histories and process lists, so it is refused, pointing at
/// the environment variable it is read from.
pub(crate) fn check_plain_var(bp: &Blueprint, key: &str, source: &str) -> Result<()> {
    match bp.variables.get(key) {
        None => Err(Error::invalid_field(
            source,
            format!(
                "the blueprint declares no variable {key:?} (declared: {})",
                bp.variables.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
        Some(v) if v.secret => Err(Error::invalid_field(
            source,
            format!(
                "{key:?} is a secret variable; secrets are never passed on a command line or in \
                 a plain file: set {} in the environment (or name another one with \
                 --secret-env {key}=ENV_VAR)",
                secret_env_name(key)
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// What a command needs of the tenant's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inputs {
    /// Every required variable, secrets included (plan, apply).
    All,
    /// Only what is given (destroy and refresh work from the recorded state, so a secret that
    /// only creates need is not asked for).
    Given,
}

/// The tenant of a single-tenant command.
pub(crate) fn tenant(name: &str, bp: &Blueprint, args: &VarArgs, inputs: Inputs) -> Result<Tenant> {
    provisio::validate::tenant_name("--tenant", name)?;
    let mut t = Tenant::new(name);
    for (k, v) in plain_vars(args)? {
        check_plain_var(bp, &k, "--var")?;
        t = t.var(k, v);
    }
    for (k, v) in secret_vars(bp, args)? {
        t = t.secret(k, v);
    }
    if inputs == Inputs::All {
        bp.check_tenant(&t)?;
    }
    Ok(t)
}
