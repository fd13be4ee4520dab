//! A small pool of idle connections per database, shared by every operation of one
//! [`PostgresDatabase`](crate::PostgresDatabase).
//!
//! Why a pool: a tenant launch runs three or four operations on the administrator database
//! and a fleet run launches many tenants in one process; a fresh connection per operation
//! costs a TCP, TLS and SCRAM handshake each and shows on the server as one more backend
//! started per step.
//!
//! - **The administrator database: one shared connection.** Every statement the provider
//!   sends there is a single autocommit statement (no transaction, no `SET`, no session
//!   state), so concurrent operations share one connection: tokio-postgres pipelines their
//!   requests and the server answers them in order. A fleet run then holds one administrator
//!   session for the whole process, like a script that keeps its admin session open. The
//!   price is that the server runs those statements one after the other (a slow
//!   `CREATE DATABASE` delays the next tenant's `CREATE ROLE` by its duration), which a
//!   sequential script pays too. A broken or closed shared connection is replaced.
//! - **Other databases (seeds, which need a transaction): checked out, one operation at a
//!   time**, and kept idle for the next operation on the same database.
//!
//! What keeps it honest:
//! - **Bounded.** Open connections (idle or in use) never exceed
//!   [`PostgresConfig::max_connections`](crate::PostgresConfig::max_connections): each holds a
//!   permit of the connector's semaphore. When none is free, an idle connection is closed to
//!   make room, else the shared administrator connection is let go (closed when its current
//!   users finish).
//! - **Tenant databases are released soon.** At most one idle connection per tenant database
//!   and [`OTHER_IDLE_MAX`] in all, so a fleet run does not keep every seeded database busy;
//!   `drop_database` closes the idle connections of the database it drops first.
//! - **Never stale or dirty.** A connection goes back only when its last statement answered
//!   (no request in flight, not dropped mid-way by a timeout or cancellation), it is not inside
//!   a transaction, and its connection task is alive; it is closed after [`IDLE_TIMEOUT`] idle
//!   (server restarts, failovers, middleboxes that cut idle sessions). The shared
//!   administrator connection is replaced when its task ended, after an error below SQL, or
//!   after the same idle time with no user.

use crate::client::Conn;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a connection may stay idle before it is closed instead of reused.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most idle connections kept to databases other than the administrator's (tenant
/// databases, for seeds), in all.
pub(crate) const OTHER_IDLE_MAX: usize = 2;

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The shared administrator connection and when it was last handed out.
pub(crate) struct Shared {
    conn: Arc<Conn>,
    last_used: Instant,
}

/// The idle connections of one server, by database.
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
    /// The shared connection to the administrator database; locked while one is opened, so
    /// concurrent operations wait for it instead of opening their own.
    pub(crate) shared: tokio::sync::Mutex<Option<Shared>>,
    pub(crate) admin_db: String,
    pub(crate) permits: Arc<Semaphore>,
}

impl Pool {
    /// An empty pool whose connections share `permits`; `admin_db` is the administrator's
    /// database (kept idle up to the permits, the others up to [`OTHER_IDLE_MAX`]).
    pub(crate) fn new(admin_db: String, permits: Arc<Semaphore>) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            shared: tokio::sync::Mutex::new(None),
            admin_db,
            permits,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // A panic while holding the lock leaves a plain Vec behind: still consistent.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle, live connection to `dbname`, the most recently used first.
    pub(crate) fn take(&self, dbname: &str) -> Option<Conn> {
        let mut idle = self.idle();
        idle.retain(|i| !i.conn.client.is_closed() && i.since.elapsed() < IDLE_TIMEOUT);
        let pos = idle.iter().rposition(|i| i.conn.dbname() == dbname)?;
        Some(idle.remove(pos).conn)
    }

    /// Closes the longest-idle connection (of any database) to free its permit, else lets
    /// the shared administrator connection go (its permit is freed when its current users
    /// finish); false when there was neither.
    pub(crate) fn evict_one(&self, may_release_shared: bool) -> bool {
        let evicted = {
            let mut idle = self.idle();
            if idle.is_empty() {
                None
            } else {
                Some(idle.remove(0))
            }
        };
        // Dropped outside the lock: closing ends the connection task and frees the permit.
        if evicted.is_some() {
            return true;
        }
        if !may_release_shared {
            return false;
        }
        // Someone holding the slot is opening a connection: nothing to let go now.
        match self.shared.try_lock() {
            Ok(mut slot) => slot.take().is_some(),
            Err(_) => false,
        }
    }

    /// The shared administrator connection when it is still usable: alive, not broken, and
    /// not left idle (no other user) for longer than [`IDLE_TIMEOUT`].
    pub(crate) fn shared_usable(slot: &mut Option<Shared>) -> Option<Arc<Conn>> {
        let shared = slot.as_mut()?;
        let idle = Arc::strong_count(&shared.conn) == 1;
        let stale = idle && shared.last_used.elapsed() >= IDLE_TIMEOUT;
        if shared.conn.client.is_closed() || shared.conn.broken.load(Ordering::SeqCst) || stale {
            return None;
        }
        shared.last_used = Instant::now();
        Some(shared.conn.clone())
    }

    /// Makes `conn` the shared administrator connection.
    pub(crate) fn share(slot: &mut Option<Shared>, conn: Conn) -> Arc<Conn> {
        let conn = Arc::new(conn);
        *slot = Some(Shared {
            conn: conn.clone(),
            last_used: Instant::now(),
        });
        conn
    }

    /// Closes every idle connection to `dbname` (before dropping that database).
    pub(crate) fn forget(&self, dbname: &str) {
        let gone: Vec<Idle> = {
            let mut idle = self.idle();
            let (gone, kept) = idle.drain(..).partition(|i| i.conn.dbname() == dbname);
            *idle = kept;
            gone
        };
        drop(gone);
    }

    /// Takes `conn` back when it is reusable (see the module docs); closes it otherwise.
    pub(crate) fn put_back(&self, conn: Conn) {
        if !conn.reusable() || conn.client.is_closed() {
            return;
        }
        let mut closed = Vec::new();
        let mut idle = self.idle();
        if conn.dbname() != self.admin_db {
            // One per tenant database, and OTHER_IDLE_MAX in all: the oldest go first.
            if let Some(pos) = idle.iter().position(|i| i.conn.dbname() == conn.dbname()) {
                closed.push(idle.remove(pos));
            }
            while idle
                .iter()
                .filter(|i| i.conn.dbname() != self.admin_db)
                .count()
                >= OTHER_IDLE_MAX
            {
                let pos = idle
                    .iter()
                    .position(|i| i.conn.dbname() != self.admin_db)
                    .expect("counted above");
                closed.push(idle.remove(pos));
            }
        }
        idle.push(Idle {
            conn,
            since: Instant::now(),
        });
        drop(idle);
        drop(closed);
    }
}

/// A connection from the [`Pool`]: the shared administrator connection, or one checked out
/// for this operation alone, which goes back (or is closed) when dropped.
pub(crate) enum PooledConn {
    /// The administrator database's connection, shared by concurrent operations: autocommit
    /// statements only.
    Shared(Arc<Conn>),
    /// A connection to another database, this operation's alone.
    Own {
        /// Present until dropped (boxed: a connection is much larger than an `Arc`).
        conn: Option<Box<Conn>>,
        /// Where it goes back.
        pool: Arc<Pool>,
    },
}

impl PooledConn {
    pub(crate) fn own(conn: Conn, pool: Arc<Pool>) -> Self {
        PooledConn::Own {
            conn: Some(Box::new(conn)),
            pool,
        }
    }
}

impl std::ops::Deref for PooledConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match self {
            PooledConn::Shared(conn) => conn,
            PooledConn::Own { conn, .. } => conn.as_ref().expect("present until dropped"),
        }
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let PooledConn::Own { conn, pool } = self
            && let Some(conn) = conn.take()
        {
            pool.put_back(*conn);
        }
    }
}
