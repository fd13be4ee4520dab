//! Sessions: how the operations of one process share the world lock and its commits.
//!
//! A *session* is one tenure of the OS lock by this process: the committer thread takes the
//! lock, brings the process's copy of the world up to date, lets the operations that were
//! waiting run their bodies, and when the last of them has left, writes the world once if any
//! of them changed it, and gives the lock back. An operation that changed the world returns
//! only after that write. Operations that arrive while a session is open join it; reads also
//! join one being written; other operations that arrive while it is being written wait for
//! the next one, and form its batch: under load, one write covers every change made while the
//! previous write was on its way to disk.

use super::sections::Section;
use provisio::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How many failed sessions are remembered for the operations that still have to read their
/// outcome.
const REMEMBERED_FAILURES: u64 = 1024;

/// Where the session protocol stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Phase {
    /// This process does not hold the lock.
    #[default]
    Closed,
    /// The lock is held and the copy is current: operations may enter.
    Open,
    /// No more entries: the session's changes are being written.
    Closing,
}

/// An error kept for every operation that has to report it (errors are not `Clone`).
#[derive(Debug, Clone)]
pub(crate) struct StoredError {
    kind: ErrorKind,
    message: String,
    resource: Option<String>,
}

impl StoredError {
    pub(crate) fn of(e: &Error) -> StoredError {
        StoredError {
            kind: e.kind().clone(),
            message: e.message().to_string(),
            resource: e.resource().map(str::to_string),
        }
    }

    pub(crate) fn to_error(&self) -> Error {
        let e = Error::new(self.kind.clone(), self.message.clone());
        match &self.resource {
            Some(r) => e.with_resource(r.clone()),
            None => e,
        }
    }
}

/// Counters of one process's use of a persisted world (see [`crate::MemoryCloud::persist_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersistStats {
    /// Sessions: times this process took the world lock.
    pub sessions: u64,
    /// Writes of the world file by this process.
    pub commits: u64,
    /// Times this process re-read the world file because another process had changed it.
    pub reloads: u64,
    /// Operations that ran inside a session.
    pub operations: u64,
    /// The size in bytes of the last world file this process wrote or read.
    pub file_bytes: u64,
}

/// The protocol state, under [`Shared::state`].
#[derive(Debug, Default)]
pub(crate) struct Coord {
    pub(crate) phase: Phase,
    /// The current (or last) session's number, from 1.
    pub(crate) session: u64,
    /// The ticket the next waiting operation gets.
    pub(crate) next_ticket: u64,
    /// Waiting operations with a ticket below this were admitted to the open session.
    pub(crate) admit_below: u64,
    /// Waiting operations with a ticket below this get [`Coord::refusal`] (the lock or the
    /// world file could not be read).
    pub(crate) refuse_below: u64,
    pub(crate) refusal: Option<StoredError>,
    /// Operations registered and not yet admitted, refused or gone.
    pub(crate) waiting: usize,
    /// Admitted operations that have not entered yet.
    pub(crate) admitted_pending: usize,
    /// Operations inside the session.
    pub(crate) active: usize,
    /// The sections the session's operations changed (a bit per [`Section`]).
    pub(crate) dirty: super::sections::Mask,
    /// The last session that is over (and written, when it changed anything).
    pub(crate) finished: u64,
    /// Sessions whose write failed.
    pub(crate) failures: BTreeMap<u64, StoredError>,
    /// Whether the world file existed when the current session began.
    pub(crate) found_file: bool,
    /// Set when no provider of the world is left: the committer thread ends.
    pub(crate) shutdown: bool,
    pub(crate) stats: PersistStats,
}

/// What the operations and the committer thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<Coord>,
    /// Wakes the committer thread.
    pub(crate) thread_wake: Condvar,
    /// Wakes operations waiting for a session or a write.
    ops_wake: tokio::sync::Notify,
    /// Wakes blocking (non-async) waiters.
    blocking_wake: Condvar,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            state: Mutex::new(Coord::default()),
            thread_wake: Condvar::new(),
            ops_wake: tokio::sync::Notify::new(),
            blocking_wake: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Coord> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every waiting operation (after the phase or `finished` changed).
    pub(crate) fn wake_ops(&self) {
        self.ops_wake.notify_waiters();
        self.blocking_wake.notify_all();
    }

    /// Waits (async) until `ready` returns `Some`, re-checking after every wake-up.
    async fn wait_until<T>(&self, mut ready: impl FnMut(&mut Coord) -> Option<T>) -> T {
        loop {
            let notified = self.ops_wake.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a wake-up between the check and the await is
            // not lost.
            notified.as_mut().enable();
            if let Some(v) = ready(&mut self.lock()) {
                return v;
            }
            notified.await;
        }
    }

    /// Waits (blocking the thread) until `ready` returns `Some`.
    fn wait_until_blocking<T>(&self, mut ready: impl FnMut(&mut Coord) -> Option<T>) -> T {
        let mut c = self.lock();
        loop {
            if let Some(v) = ready(&mut c) {
                return v;
            }
            c = self
                .blocking_wake
                .wait(c)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Joins the open session at once (a read also joins one being written), or registers a
    /// waiting ticket.
    fn register(self: &Arc<Self>, access: Access) -> std::result::Result<Entry, Waiter> {
        let mut c = self.lock();
        if let Some(entry) = self.join(&mut c, access) {
            return Ok(entry);
        }
        let ticket = c.next_ticket;
        c.next_ticket += 1;
        c.waiting += 1;
        self.thread_wake.notify_one();
        Err(Waiter {
            shared: self.clone(),
            ticket,
            access,
            settled: false,
        })
    }

    /// Enters the current session without waiting, when `access` may: any operation while it
    /// is open; a read also while it is being written (the copy is current and the lock held,
    /// and the read changes nothing the write could miss). Such a *rider* is not waited for
    /// by the committer thread.
    fn join(self: &Arc<Self>, c: &mut Coord, access: Access) -> Option<Entry> {
        match (c.phase, access) {
            (Phase::Open, _) => {
                c.active += 1;
                c.stats.operations += 1;
                Some(Entry::new(self.clone(), c.session, c.found_file, false))
            }
            (Phase::Closing, Access::Read) => {
                c.stats.operations += 1;
                Some(Entry::new(self.clone(), c.session, c.found_file, true))
            }
            _ => None,
        }
    }

    /// Enters a session: at once when one is open, else when the committer thread opens the
    /// next one. Fails when the lock or the world file cannot be read.
    pub(crate) async fn enter(self: &Arc<Self>, access: Access) -> Result<Entry> {
        match self.register(access) {
            Ok(entry) => Ok(entry),
            Err(mut waiter) => self.wait_until(|c| waiter.try_settle(c)).await,
        }
    }

    /// [`Shared::enter`] for code that cannot await (blocks the thread).
    pub(crate) fn enter_blocking(self: &Arc<Self>) -> Result<Entry> {
        match self.register(Access::Write) {
            Ok(entry) => Ok(entry),
            Err(mut waiter) => self.wait_until_blocking(|c| waiter.try_settle(c)),
        }
    }

    /// Waits until session `session` is over; its write's error, if it failed.
    pub(crate) async fn written(&self, session: u64) -> Result<()> {
        self.wait_until(|c| outcome(c, session)).await
    }

    /// [`Shared::written`] blocking the thread.
    pub(crate) fn written_blocking(&self, session: u64) -> Result<()> {
        self.wait_until_blocking(|c| outcome(c, session))
    }

    /// Records a failed write of `session`.
    pub(crate) fn record_failure(c: &mut Coord, session: u64, e: StoredError) {
        c.failures.insert(session, e);
        let keep_from = session.saturating_sub(REMEMBERED_FAILURES);
        c.failures = c.failures.split_off(&keep_from);
    }
}

fn outcome(c: &mut Coord, session: u64) -> Option<Result<()>> {
    if c.finished < session {
        return None;
    }
    Some(match c.failures.get(&session) {
        Some(e) => Err(e.to_error()),
        None => Ok(()),
    })
}

/// An operation waiting to enter a session. Dropping it (the operation was cancelled) gives
/// its place up.
#[derive(Debug)]
struct Waiter {
    shared: Arc<Shared>,
    ticket: u64,
    access: Access,
    /// Entered or refused: nothing to give up any more.
    settled: bool,
}

impl Waiter {
    fn try_settle(&mut self, c: &mut Coord) -> Option<Result<Entry>> {
        // Refusal first: a refused ticket is no longer counted as waiting, whatever sessions
        // opened since.
        if self.ticket < c.refuse_below {
            // The committer thread has already taken refused tickets off `waiting`.
            self.settled = true;
            let e = c.refusal.as_ref().map(StoredError::to_error);
            return Some(Err(e.unwrap_or_else(|| {
                Error::unexpected("the memory world file could not be opened")
            })));
        }
        let admitted = c.phase == Phase::Open;
        let entry = self.shared.join(c, self.access)?;
        c.waiting -= 1;
        if admitted {
            // Every waiting ticket was admitted when the session opened.
            debug_assert!(self.ticket < c.admit_below);
            c.admitted_pending -= 1;
        }
        self.settled = true;
        Some(Ok(entry))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut c = self.shared.lock();
        if self.ticket < c.refuse_below {
            return;
        }
        c.waiting -= 1;
        if c.phase == Phase::Open && self.ticket < c.admit_below {
            c.admitted_pending -= 1;
        }
        self.shared.thread_wake.notify_one();
    }
}

/// An operation inside a session. [`Entry::leave`] ends it; dropping it without leaving (the
/// operation was cancelled in the middle) counts as a change of every section.
#[derive(Debug)]
pub(crate) struct Entry {
    shared: Arc<Shared>,
    session: u64,
    found_file: bool,
    /// A read that joined the session while it was being written (see [`Shared::join`]).
    rider: bool,
    left: bool,
}

impl Entry {
    fn new(shared: Arc<Shared>, session: u64, found_file: bool, rider: bool) -> Entry {
        Entry {
            shared,
            session,
            found_file,
            rider,
            left: false,
        }
    }

    /// Whether the world file existed when the session began.
    pub(crate) fn found_file(&self) -> bool {
        self.found_file
    }

    /// Leaves the session, marking `changed` sections as changed. Returns the session whose
    /// write the operation must wait for: its own, when it changed anything. An operation that
    /// changed nothing returns at once, even when it saw a change of another operation of this
    /// process still on its way to disk (as a real service shows a change before the response
    /// of the request that made it arrives).
    pub(crate) fn leave(mut self, changed: &[Section]) -> Option<u64> {
        self.left = true;
        self.exit(Section::mask(changed))
    }

    fn exit(&self, changed: super::sections::Mask) -> Option<u64> {
        if self.rider {
            debug_assert_eq!(changed, 0, "a rider only reads");
            return None;
        }
        let mut c = self.shared.lock();
        c.active -= 1;
        c.dirty |= changed;
        if c.active == 0 {
            self.shared.thread_wake.notify_one();
        }
        (changed != 0).then_some(self.session)
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if !self.left && !self.rider {
            self.exit(Section::mask(&Section::ALL));
        }
    }
}

/// Whether an operation may change the world (a read may join a session being written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads only.
    Read,
    /// May change something.
    Write,
}
