//! The committer thread of a persisted world: it takes the OS lock when operations wait,
//! brings the process's copy up to date, opens the session, and writes the world once when
//! the session's operations are done.
//!
//! A thread rather than a task: the OS lock is taken with a blocking call, and the thread
//! works the same under any runtime (or none, for [`crate::MemoryCloud::flush`]).

use super::lock::{FileId, Stamp, WorldLock};
use super::sections::{COUNT, JsonCaches, LiveWorld, Mask, Section, SectionJson};
use super::session::{Phase, Shared, StoredError};
use crate::snapshot::{in_file, io_error, write_atomically};
use provisio::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything the thread owns.
pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) lock: WorldLock,
    pub(crate) path: PathBuf,
    pub(crate) world: LiveWorld,
    /// What the process's copy is of: `None` when unknown (never read, or a write failed),
    /// which makes the next session read the file.
    pub(crate) stamp: Option<Stamp>,
    /// Every section as last written or read (`None`: never yet).
    pub(crate) sections: [Option<SectionJson>; COUNT],
    /// What the large sections reuse from their last serialization.
    pub(crate) json: JsonCaches,
}

impl Committer {
    /// Runs until every provider of the world is gone.
    pub(crate) fn run(mut self) {
        loop {
            {
                let mut c = self.shared.lock();
                while c.waiting == 0 && !c.shutdown {
                    c = self
                        .shared
                        .thread_wake
                        .wait(c)
                        .unwrap_or_else(|p| p.into_inner());
                }
                if c.waiting == 0 {
                    return;
                }
            }
            let contended = match self.open() {
                Ok((found, contended)) => {
                    let mut c = self.shared.lock();
                    c.phase = Phase::Open;
                    c.session += 1;
                    c.stats.sessions += 1;
                    c.admit_below = c.next_ticket;
                    c.admitted_pending = c.waiting;
                    c.found_file = found;
                    drop(c);
                    self.shared.wake_ops();
                    contended
                }
                Err(e) => {
                    let _ = self.lock.unlock();
                    let mut c = self.shared.lock();
                    c.refusal = Some(StoredError::of(&e));
                    c.refuse_below = c.next_ticket;
                    c.waiting = 0;
                    drop(c);
                    self.shared.wake_ops();
                    continue;
                }
            };
            let (session, dirty) = {
                let mut c = self.shared.lock();
                while c.admitted_pending > 0 || c.active > 0 {
                    c = self
                        .shared
                        .thread_wake
                        .wait(c)
                        .unwrap_or_else(|p| p.into_inner());
                }
                c.phase = Phase::Closing;
                (c.session, std::mem::take(&mut c.dirty))
            };
            // Waiting reads may ride along while the session is written.
            self.shared.wake_ops();
            let written = if dirty != 0 {
                Some(self.commit(dirty))
            } else {
                None
            };
            // No rider may join once the lock is given back: it would read a copy another
            // process may already have changed.
            self.shared.lock().phase = Phase::Closed;
            let _ = self.lock.unlock();
            {
                let mut c = self.shared.lock();
                match written {
                    Some(Ok(bytes)) => {
                        c.stats.commits += 1;
                        c.stats.file_bytes = bytes;
                    }
                    Some(Err(e)) => Shared::record_failure(&mut c, session, StoredError::of(&e)),
                    None => {}
                }
                c.finished = session;
            }
            self.shared.wake_ops();
            if contended {
                // Another process waited for the lock: let it have a turn before we ask again.
                std::thread::yield_now();
            }
        }
    }

    /// Takes the lock and brings the copy up to date. Returns whether the world file exists,
    /// and whether another process held the lock when we asked.
    fn open(&mut self) -> Result<(bool, bool)> {
        let contended = self
            .lock
            .lock()
            .map_err(|e| io_error("lock", self.lock.path(), e))?;
        let found = self.refresh()?;
        Ok((found, contended))
    }

    /// Re-reads the world file when another process changed it since the copy was made.
    fn refresh(&mut self) -> Result<bool> {
        let generation = self
            .lock
            .generation()
            .map_err(|e| io_error("read", self.lock.path(), e))?;
        let file = FileId::at(&self.path).map_err(|e| io_error("read", &self.path, e))?;
        let now = Stamp { generation, file };
        if self.stamp == Some(now) {
            return Ok(file.is_some());
        }
        if file.is_none() {
            // No world file (yet, or deleted): the copy stands and the next write creates it.
            self.stamp = Some(now);
            return Ok(false);
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.stamp = Some(Stamp {
                    generation,
                    file: None,
                });
                return Ok(false);
            }
            Err(e) => return Err(io_error("read", &self.path, e)),
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            in_file(
                &self.path,
                Error::invalid_input(format!("not a valid memory snapshot: {e}")),
            )
        })?;
        let sections = self
            .world
            .restore(text)
            .map_err(|e| in_file(&self.path, e))?;
        let had_copy = self.stamp.is_some() || self.sections.iter().any(Option::is_some);
        self.sections = sections.map(Some);
        self.stamp = Some(now);
        let mut c = self.shared.lock();
        if had_copy {
            c.stats.reloads += 1;
        }
        c.stats.file_bytes = bytes.len() as u64;
        Ok(true)
    }

    /// Writes the world: the changed sections (and those whose running clocks were written
    /// more than [`super::sections::CLOCK_STALENESS`] ago) serialized again, the others as
    /// they were. The generation is bumped *before* the file is
    /// replaced: a crash in between leaves a generation that no process's copy has, so every
    /// process re-reads the file, never the other way round. Returns the file's size.
    fn commit(&mut self, dirty: Mask) -> Result<u64> {
        let result = self.write(dirty);
        if result.is_err() {
            // The copy holds changes the file does not: read the file again next time.
            self.stamp = None;
        }
        result
    }

    fn write(&mut self, dirty: Mask) -> Result<u64> {
        for s in Section::ALL {
            let slot = &mut self.sections[s.index()];
            let stale = dirty & (1 << s.index()) != 0
                || slot.as_ref().is_none_or(SectionJson::clocks_stale);
            if stale && let Some(fresh) = self.world.serialize(s, &mut self.json) {
                *slot = Some(fresh?);
            }
        }
        let mut refs: [&str; COUNT] = [""; COUNT];
        for s in Section::ALL {
            refs[s.index()] = match &self.sections[s.index()] {
                Some(j) => j.json.as_str(),
                None => {
                    return Err(Error::unexpected(format!(
                        "the memory world's {} provider was dropped before its first write",
                        s.key()
                    )));
                }
            };
        }
        let text = self.world.assemble(&refs);
        let generation = self.stamp.and_then(|s| s.generation).unwrap_or(0) + 1;
        self.lock
            .set_generation(generation)
            .map_err(|e| io_error("write", self.lock.path(), e))?;
        write_atomically(&self.path, text.as_bytes())
            .map_err(|e| io_error("write", &self.path, e))?;
        let file = FileId::at(&self.path).map_err(|e| io_error("read", &self.path, e))?;
        self.stamp = Some(Stamp {
            generation: Some(generation),
            file,
        });
        Ok(text.len() as u64)
    }
}
