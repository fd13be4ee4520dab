//! A small pool of idle connections per database, shared by every operation of one
//! [`PostgresDatabase`](crate::PostgresDatabase).
//!
//! Why a pool: a tenant launch runs three or four operations on the administrator database
//! and a fleet run launches many tenants in one process; a fresh connection per operation
//! costs a TCP, TLS and SCRAM handshake each and shows on the server as one more backend
//! started per step. The pool keeps that to about one administrator connection per
//! concurrent step for the whole process, like a script that keeps its admin session open.
//!
//! What keeps it honest:
//! - **Bounded.** Open connections (idle or in use) never exceed
//!   [`PostgresConfig::max_connections`](crate::PostgresConfig::max_connections): each holds a
//!   permit of the connector's semaphore. When none is free, an idle connection of another
//!   database is closed to make room.
//! - **Tenant databases are released soon.** At most one idle connection per tenant database
//!   and [`OTHER_IDLE_MAX`] in all, so a fleet run does not keep every seeded database busy;
//!   `drop_database` closes the idle connections of the database it drops first.
//! - **Never stale or dirty.** A connection goes back only when its last statement answered
//!   (no request in flight, not dropped mid-way by a timeout or cancellation), it is not inside
//!   a transaction, and its connection task is alive; it is closed after [`IDLE_TIMEOUT`] idle
//!   (server restarts, failovers, middleboxes that cut idle sessions).

use crate::client::Conn;
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

/// The idle connections of one server, by database.
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
    admin_db: String,
    pub(crate) permits: Arc<Semaphore>,
}

impl Pool {
    /// An empty pool whose connections share `permits`; `admin_db` is the administrator's
    /// database (kept idle up to the permits, the others up to [`OTHER_IDLE_MAX`]).
    pub(crate) fn new(admin_db: String, permits: Arc<Semaphore>) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
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

    /// Closes the longest-idle connection (of any database) to free its permit; false when
    /// nothing is idle.
    pub(crate) fn evict_one(&self) -> bool {
        let evicted = {
            let mut idle = self.idle();
            if idle.is_empty() {
                None
            } else {
                Some(idle.remove(0))
            }
        };
        // Dropped outside the lock: closing ends the connection task and frees the permit.
        evicted.is_some()
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

/// A connection checked out of the [`Pool`]; it goes back (or is closed) when dropped.
pub(crate) struct PooledConn {
    conn: Option<Conn>,
    pool: Arc<Pool>,
}

impl PooledConn {
    pub(crate) fn new(conn: Conn, pool: Arc<Pool>) -> Self {
        PooledConn {
            conn: Some(conn),
            pool,
        }
    }
}

impl std::ops::Deref for PooledConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}
