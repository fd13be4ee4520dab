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
    /// A JSON file the world is restored from before a run and saved to after it
    /// ([`crate::Connection::save`]). It holds the memory secret store's values: keep it
    /// private (it is written with mode 0600). `None`: the world lives in this process only.
    pub persist: Option<PathBuf>,
    /// A fixtures file (YAML, JSON or TOML; see `provisio_memory::MemoryFixtures`) applied
    /// when a new world is created (not when one is restored from `persist`): the zones,
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

    /// Restores the persisted world, or creates a new one prepared with the fixtures.
    ///
    /// Fixtures describe the world *before the first run*: a restored world already had them
    /// applied, and applying them again would undo what runs changed since (an umbrella job's
    /// downstream list, say).
    pub async fn open(&self) -> Result<MemoryCloud> {
        let restored = match &self.persist {
            Some(path) => MemoryCloud::load(self.seed, path)?,
            None => None,
        };
        if let Some(cloud) = restored {
            return Ok(cloud);
        }
        let cloud = MemoryCloud::new(self.seed);
        if let Some(path) = &self.fixtures {
            let fixtures = read_fixtures(path)?;
            cloud.apply_fixtures(&fixtures).await.map_err(|e| {
                Error::new(
                    e.kind().clone(),
                    format!("memory fixtures {}: {}", path.display(), e.message()),
                )
            })?;
        }
        Ok(cloud)
    }
}

/// Reads a fixtures file (`.yaml`/`.yml`, `.json` or `.toml`; by content without extension)
/// within the default [`provisio_loader::Limits`]. Errors name the file, line, column and
/// field.
pub fn read_fixtures(path: &Path) -> Result<MemoryFixtures> {
    provisio_loader::load_file(path, &provisio_loader::Limits::default())
}

/// Saves the world (creating the directory).
pub(crate) fn save(cloud: &MemoryCloud, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::unexpected(format!("cannot create {}", dir.display())).with_source(e)
        })?;
    }
    cloud.save(path)
}
