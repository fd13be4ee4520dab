//! The memory world behind every `memory` entry: one [`MemoryCloud`], optionally persisted
//! between runs and prepared from a fixtures file.

use provisio::{Error, Result};
use provisio_memory::{MemoryCloud, MemoryFixtures};
use std::path::{Path, PathBuf};

/// Settings of the memory world.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySettings {
    /// The seed of the memory providers' randomness (ids, addresses, injected faults).
    pub seed: u64,
    /// A JSON file the world is kept in, shared by every process that opens it: each provider
    /// call reloads what other processes wrote (when they wrote anything) and is written to
    /// the file before it returns, under an exclusive lock on `<file>.lock` (see
    /// `provisio_memory::persist`). It holds the memory secret store's values: keep it
    /// private (it is written with mode 0600). `None`: the world lives in this process only.
    pub persist: Option<PathBuf>,
    /// A fixtures file (YAML, JSON or TOML; see `provisio_memory::MemoryFixtures`) applied
    /// when a new world is created (not when `persist` names an existing one): the zones,
    /// buckets, umbrella jobs... that exist before the first launch.
    pub fixtures: Option<PathBuf>,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            seed: 7,
            persist: None,
            fixtures: None,
        }
    }
}

impl MemorySettings {
    /// The same with relative paths made relative to `base`.
    pub fn relative_to(mut self, base: &Path) -> Self {
        let fix = |p: Option<PathBuf>| p.map(|p| if p.is_relative() { base.join(p) } else { p });
        self.persist = fix(self.persist.take());
        self.fixtures = fix(self.fixtures.take());
        self
    }

    /// Opens the persisted world, or creates a new one prepared with the fixtures.
    ///
    /// With [`MemorySettings::persist`], the world is opened with
    /// `provisio_memory::MemoryCloud::open`: every provider call sees what other processes
    /// (other CLI commands, other bindings) wrote to the file and is on disk before it returns,
    /// under an exclusive lock on `<persist>.lock`. A new file is prepared with the fixtures
    /// under that lock, so two processes starting at once never both prepare it.
    ///
    /// Fixtures describe the world *before the first run*: an existing world already had them
    /// applied, and applying them again would undo what runs changed since (an umbrella job's
    /// downstream list, say).
    pub async fn open(&self) -> Result<MemoryCloud> {
        let fixtures = self.fixtures.clone();
        let prepare = |cloud: MemoryCloud| async move {
            match fixtures {
                Some(path) => apply_fixtures_file(&cloud, &path).await,
                None => Ok(()),
            }
        };
        match &self.persist {
            Some(path) => MemoryCloud::open(self.seed, path, prepare).await,
            None => {
                let cloud = MemoryCloud::new(self.seed);
                prepare(cloud.clone()).await?;
                Ok(cloud)
            }
        }
    }
}

/// Reads the fixtures file at `path` and applies it to `cloud`; errors name the file.
async fn apply_fixtures_file(cloud: &MemoryCloud, path: &Path) -> Result<()> {
    let fixtures = read_fixtures(path)?;
    cloud
        .apply_fixtures(&fixtures)
        .await
        .map_err(|e| e.context(format_args!("memory fixtures {}", path.display())))
}

/// Reads a fixtures file (`.yaml`/`.yml`, `.json` or `.toml`; by content without extension)
/// within the default [`provisio_loader::Limits`]. Errors name the file, line, column and
/// field.
pub fn read_fixtures(path: &Path) -> Result<MemoryFixtures> {
    provisio_loader::load_file(path, &provisio_loader::Limits::default())
}

/// Saves the world: a persisted world is written now (every provider call already was; this
/// covers setup helpers called outside `MemoryCloud::change`); any other is written to `path`
/// as a snapshot (creating the directory).
pub(crate) fn save(cloud: &MemoryCloud, path: &Path) -> Result<()> {
    if cloud.persist_path().is_some() {
        return cloud.flush();
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::unexpected(format!("cannot create {}", dir.display())).with_source(e)
        })?;
    }
    cloud.save(path)
}
