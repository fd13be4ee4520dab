//! What a provider found before it wrote: whether the resource an "ensure" call is about
//! existed already.
//!
//! The engine rolls back what a failed run *created*, never what existed before it. It used to
//! learn that with a read before every create, one more request per step. Providers look
//! anyway (an ensure reads before it creates, or creates and is told "already exists"), so
//! they report what they found with [`found`], and the engine, which wraps each step in
//! [`watched`], reads it from there:
//!
//! - a provider that reads first calls `found(exists)` after the read, before it writes;
//! - a provider that creates optimistically calls `found(false)` when the create succeeded
//!   and `found(true)` when the service said the resource already exists.
//!
//! Only the first report of a step counts. A report made after an earlier attempt of the same
//! step failed is weaker (that attempt may have created the resource before its answer was
//! lost); the engine treats such a step as "in doubt" and keeps what it cannot prove it
//! created. Outside a watched step, [`found`] does nothing.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use provisio::existence::{Existence, found, watched};
//! use std::sync::Arc;
//! let seen = Arc::new(Existence::default());
//! watched(seen.clone(), async {
//!     found(false); // the provider looked: not there; it creates it now
//!     found(true); // a later report (a retry that found its own create) does not count
//! })
//! .await;
//! assert_eq!(seen.get(), Some(false));
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const ABSENT: u8 = 1;
const PRESENT: u8 = 2;

/// The first existence report of one step.
#[derive(Debug, Default)]
pub struct Existence(AtomicU8);

impl Existence {
    /// Records `existed` unless something was recorded already.
    pub fn report(&self, existed: bool) {
        let v = if existed { PRESENT } else { ABSENT };
        let _ = self
            .0
            .compare_exchange(UNKNOWN, v, Ordering::SeqCst, Ordering::SeqCst);
    }
    /// The first report: `Some(true)` the resource existed, `Some(false)` it did not, `None`
    /// nothing was reported.
    pub fn get(&self) -> Option<bool> {
        match self.0.load(Ordering::SeqCst) {
            ABSENT => Some(false),
            PRESENT => Some(true),
            _ => None,
        }
    }
}

tokio::task_local! {
    static STEP: Arc<Existence>;
}

/// Runs `fut` with `existence` receiving the reports of the providers it calls.
pub async fn watched<F: Future>(existence: Arc<Existence>, fut: F) -> F::Output {
    STEP.scope(existence, fut).await
}

/// Reports whether the resource the current call is about existed when the provider looked
/// (see the module docs for when to call it).
pub fn found(existed: bool) {
    let _ = STEP.try_with(|e| e.report(existed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_report_wins_and_steps_are_separate() {
        let a = Arc::new(Existence::default());
        let b = Arc::new(Existence::default());
        tokio::join!(
            watched(a.clone(), async {
                found(true);
                found(false);
            }),
            watched(b.clone(), async {}),
        );
        assert_eq!(a.get(), Some(true));
        assert_eq!(b.get(), None);
        found(false); // outside a step: ignored
    }
}
