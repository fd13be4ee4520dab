//! Persisted worlds: a [`MemoryCloud`] kept in a file that several processes share, as
//! durable and as safe across processes as the SQLite state store beside it.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use provisio::{DnsProvider, SecretStore};
//! use provisio_memory::MemoryCloud;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("memory.json");
//! // The first process creates the world (the closure prepares a new one only).
//! let a = MemoryCloud::open(7, &path, |c| async move {
//!     c.dns.add_zone("example.com");
//!     Ok(())
//! })
//! .await?;
//! // A second process (here: a second handle) opens the same file.
//! let b = MemoryCloud::open(7, &path, |_| async { Ok(()) }).await?;
//! a.secrets.put_secret("acme-db", &provisio::SecretString::new("pw"), &Default::default()).await?;
//! // on disk when put_secret returned, and seen by the other handle's next call
//! assert!(b.secrets.describe_secret("acme-db").await?.is_some());
//! assert!(b.dns.find_zone("example.com").await?.is_some());
//! # Ok::<(), provisio::Error>(())
//! # }).unwrap();
//! ```
//!
//! # How the world is kept
//!
//! The world lives in one JSON file (the [`crate::MemorySnapshot`] format, so
//! [`MemoryCloud::load`] reads it), mode 0600, beside a lock file `<name>.lock`. Every call of
//! a persisted world's providers runs this protocol, implemented in the providers' common
//! call path (the `Base::run` every operation goes through), so the nine providers, their
//! trait objects and [`MemoryCloud`] stay the same types whether persisted or not:
//!
//! 1. **Lock.** The process takes an exclusive OS file lock (`flock`) on the lock file.
//! 2. **Reload if changed.** The lock file holds a generation counter that every write bumps;
//!    the process compares it, and the world file's identity (device, inode, size, mtime:
//!    every write renames a new file into place), with what it last read or wrote. When
//!    either differs, it re-reads the file and replaces what its providers hold *in place*
//!    (the `Arc<MemoryDns>` an engine holds stays valid). Every section is parsed and
//!    checked before any is installed, so a bad file changes nothing.
//! 3. **Run** the operation against the up-to-date copy.
//! 4. **Save.** When the operation changed anything, the world is written: the generation is
//!    bumped, a temporary file is written, flushed (`fsync`) and renamed over the world file,
//!    and the directory is flushed. Only then does the operation return, so an engine's
//!    journal never records as done an effect the world could lose, and a `kill -9` leaves
//!    the old world or the new one, never a part.
//! 5. **Unlock.**
//!
//! Reads take part too (so they see what other processes wrote), but write nothing and do
//! not wait for a write: like a real service, a read may show a change of another call of
//! this process whose response (here: whose write) is still on its way.
//!
//! # Group commit
//!
//! One write per mutation would make a fleet run pay a whole-world write per step. Instead,
//! one *session* (one tenure of the lock, run by a committer thread per world) serves every
//! operation that was waiting when it opened, and any that arrive while it is open: their
//! bodies run (they are short and do not wait on anything), then the world is written once,
//! then every operation of the session returns. Operations that arrive while a write is on
//! its way to disk form the next session's batch, so the batch grows with the load, and the
//! lock is given back between sessions so other processes get their turn. An operation
//! still returns only after a write that contains its effect; a read joins even a session
//! whose write is under way. Each write serializes again only the sections (one per
//! provider) that changed, or whose running clocks (a booting instance, a running build) were
//! written more than a second ago or have run out since, and in the large ones (CI jobs, repository commits) only
//! the parts that changed; the rest is copied from the last write.
//!
//! # Time
//!
//! A persisted world's clocks (a booting instance, a running build, a secret's recovery
//! window) keep running while no process holds it, as a real service's do: the file records
//! when it was written (`written_at_ms`), and a process that reads it moves every remaining
//! time forward by the wall-clock time since. (A snapshot written with [`MemoryCloud::save`]
//! and read with [`MemoryCloud::load`] keeps its clocks standing still instead; see
//! [`crate::snapshot`].) So an instance launched by a process that was then killed is
//! running when the next process adopts it, not still booting.
//!
//! Polling waits (`wait_for_state`, `wait_for_build`) bring the copy up to date once and then
//! poll it outside any session, so they never hold the lock while they sleep, and a CI
//! build's quiet period is waited out before the build's session.
//!
//! # What is not covered
//!
//! Setup helpers that are not trait calls (`add_zone`, `insert_raw_record`, `set_boot_time`,
//! ...) change this process's copy only. Run them inside [`MemoryCloud::change`] to make them
//! durable and safe against other processes; outside it, the next session writes them unless
//! another process changed the world first (then the reload replaces them).
//! [`MemoryCloud::inventory`], [`MemoryCloud::snapshot`] and the other helpers read this
//! process's copy as of its last session (any provider call brings it up to date).
//! [`crate::Faults`] are never persisted. In-process worlds ([`MemoryCloud::new`]) have none of
//! this: no file, no lock, no thread, and the same speed as before.

mod committer;
mod lock;
pub(crate) mod sections;
mod session;

pub use session::PersistStats;

pub(crate) use sections::Section;

use crate::MemoryCloud;
use crate::snapshot::io_error;
use committer::Committer;
use provisio::Result;
pub(crate) use session::Access;
use session::Shared;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The handle every provider of a persisted world holds; the committer thread ends when the
/// last one is dropped.
#[derive(Debug)]
pub(crate) struct WorldFile {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl Drop for WorldFile {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.thread_wake.notify_one();
    }
}

impl WorldFile {
    /// Opens the lock file of `path` and starts the committer thread for `cloud`.
    fn start(path: &Path, cloud: &MemoryCloud) -> Result<Arc<WorldFile>> {
        let lock = lock::WorldLock::open(path)
            .map_err(|e| io_error("create the lock file of", path, e))?;
        let shared = Arc::new(Shared::new());
        let committer = Committer {
            shared: shared.clone(),
            lock,
            path: path.to_path_buf(),
            world: sections::LiveWorld::of(cloud),
            stamp: None,
            sections: Default::default(),
            json: Default::default(),
        };
        std::thread::Builder::new()
            .name("provisio-memory-world".into())
            .spawn(move || committer.run())
            .map_err(|e| io_error("start the committer thread of", path, e))?;
        Ok(Arc::new(WorldFile {
            shared,
            path: path.to_path_buf(),
        }))
    }

    /// Runs one operation's body in a session. `changed` tells from the body's result
    /// whether it may have changed `section`. Returns once the change (if any) is on disk;
    /// a failed write replaces the body's result with the write's error.
    pub(crate) async fn run<T>(
        &self,
        section: Section,
        access: Access,
        body: impl Future<Output = Result<T>>,
        changed: impl FnOnce(&Result<T>) -> bool,
    ) -> Result<T> {
        let entry = self.shared.enter(access).await?;
        let result = body.await;
        let sections: &[Section] = if changed(&result) { &[section] } else { &[] };
        if let Some(session) = entry.leave(sections) {
            self.shared.written(session).await?;
        }
        result
    }

    /// Brings the copy up to date (for operations that then read it outside a session).
    pub(crate) async fn refresh(&self) -> Result<()> {
        let entry = self.shared.enter(Access::Read).await?;
        match entry.leave(&[]) {
            Some(session) => self.shared.written(session).await,
            None => Ok(()),
        }
    }
}

impl MemoryCloud {
    /// Opens the world kept in the file `path`, shared with every other process (and handle)
    /// that opens it: each provider call of the returned cloud sees what the others wrote and
    /// is on disk before it returns (see [`crate::persist`]). When the file does not exist,
    /// `prepare` makes the new world (apply fixtures, add zones...) and it is written before
    /// `open` returns, all under the lock, so two processes starting at once never both
    /// prepare one. Faults are fresh, seeded with `seed`.
    ///
    /// Errors: `InvalidInput` naming the path when the file is not a valid snapshot (see
    /// [`MemoryCloud::load`]), the I/O error when the file or its lock cannot be used, or what
    /// `prepare` returned (then nothing is written).
    pub async fn open<F, Fut>(seed: u64, path: impl AsRef<Path>, prepare: F) -> Result<MemoryCloud>
    where
        F: FnOnce(MemoryCloud) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let path = path.as_ref();
        let cloud = MemoryCloud::new(seed);
        let world = WorldFile::start(path, &cloud)?;
        let entry = world.shared.enter(Access::Write).await?;
        let created = !entry.found_file();
        if created {
            // The providers are not attached yet: what `prepare` does is written once, below.
            if let Err(e) = prepare(cloud.clone()).await {
                entry.leave(&[]);
                return Err(e);
            }
        }
        let sections: &[Section] = if created { &Section::ALL } else { &[] };
        if let Some(session) = entry.leave(sections) {
            world.shared.written(session).await?;
        }
        cloud.attach(world);
        Ok(cloud)
    }

    fn attach(&self, world: Arc<WorldFile>) {
        self.dns.base.attach(world.clone());
        self.storage.base.attach(world.clone());
        self.compute.base.attach(world.clone());
        self.ci.base.attach(world.clone());
        self.secrets.base.attach(world.clone());
        self.database.base.attach(world.clone());
        self.repo.base.attach(world.clone());
        self.mail.base.attach(world.clone());
        self.probe.base.attach(world.clone());
        self.host.base.attach(world);
    }

    fn world(&self) -> Option<&Arc<WorldFile>> {
        self.dns.base.world()
    }

    /// The file this world is kept in, when it was opened with [`MemoryCloud::open`].
    pub fn persist_path(&self) -> Option<&Path> {
        self.world().map(|w| w.path.as_path())
    }

    /// This process's counters of the persisted world (sessions, writes, reloads), or `None`
    /// for an in-process world.
    pub fn persist_stats(&self) -> Option<PersistStats> {
        self.world().map(|w| w.shared.lock().stats)
    }

    /// Runs `f` as one durable change of the world: on a persisted world, under the lock with
    /// the copy up to date, and written before `change` returns; on an in-process world, it
    /// just runs `f`. Use it for the setup helpers that are not trait calls
    /// (`dns.add_zone`, `compute.set_boot_time`, ...). `f` must not call the providers'
    /// async operations (it is synchronous for that reason).
    pub async fn change<R>(&self, f: impl FnOnce(&MemoryCloud) -> R) -> Result<R> {
        let Some(world) = self.world() else {
            return Ok(f(self));
        };
        let entry = world.shared.enter(Access::Write).await?;
        let out = f(self);
        if let Some(session) = entry.leave(&Section::ALL) {
            world.shared.written(session).await?;
        }
        Ok(out)
    }

    /// Writes a persisted world now, blocking the thread (a no-op for an in-process world).
    /// Every provider call is written before it returns, so this is only needed after setup
    /// helpers called outside [`MemoryCloud::change`]. Do not call it from async code while
    /// operations of this world are in flight on the same thread; use `change` there.
    pub fn flush(&self) -> Result<()> {
        let Some(world) = self.world() else {
            return Ok(());
        };
        let entry = world.shared.enter_blocking()?;
        match entry.leave(&Section::ALL) {
            Some(session) => world.shared.written_blocking(session),
            None => Ok(()),
        }
    }
}
