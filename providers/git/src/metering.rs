//! Pacing and counting of the remote's network operations.
//!
//! Each `git ls-remote`, `git fetch` and `git push` against a remote that is not on this machine
//! is one request for [`provisio::requests`]: paced by the repository's quota (none unless
//! [`GitConfig::rate_limit`](crate::GitConfig::rate_limit) sets one) and counted in the step
//! that runs it. The git work runs on tokio's blocking pool, where the step's task-local tally
//! is not visible, so [`Meter::capture`] takes it (and the runtime) before the work leaves the
//! async task, and [`Meter::run`] makes it the current meter of the blocking thread for the
//! duration of the work; [`network_request`] is called right before each `git` subprocess.
//! Operations on a local path (libgit2 on this machine) are not requests and are not counted.

use provisio::ProviderInfo;
use provisio::requests::RequestTally;
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    static CURRENT: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// What one piece of blocking git work counts its requests against.
#[derive(Clone)]
pub(crate) struct Meter {
    info: ProviderInfo,
    tally: Option<Arc<RequestTally>>,
    runtime: tokio::runtime::Handle,
}

impl Meter {
    /// The meter of the calling async task: its step's tally and its runtime.
    pub(crate) fn capture(info: &ProviderInfo) -> Meter {
        Meter {
            info: info.clone(),
            tally: provisio::requests::current_tally(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Runs blocking `work` with this meter current on the calling thread.
    pub(crate) fn run<T>(self, work: impl FnOnce() -> T) -> T {
        CURRENT.with(|c| *c.borrow_mut() = Some(self));
        let out = work();
        CURRENT.with(|c| *c.borrow_mut() = None);
        out
    }
}

/// Called on a blocking thread right before one network operation: waits for the repository's
/// quota (when it has one) and counts the request in the step that started the work.
pub(crate) fn network_request() {
    let Some(meter) = CURRENT.with(|c| c.borrow().clone()) else {
        return;
    };
    if meter.info.quota.is_some() {
        meter
            .runtime
            .block_on(provisio::requests::limiter().acquire(&meter.info));
    }
    if let Some(tally) = &meter.tally {
        tally.add(&meter.info.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_work_counts_in_the_step() {
        let info = ProviderInfo::new("git", "metering-test");
        let tally = Arc::new(RequestTally::default());
        provisio::requests::counted(tally.clone(), async {
            let meter = Meter::capture(&info);
            tokio::task::spawn_blocking(move || {
                meter.run(|| {
                    network_request();
                    network_request();
                })
            })
            .await
            .unwrap();
        })
        .await;
        assert_eq!(tally.by_service()["git"], 2);
        // outside any meter: nothing counted, nothing panics
        network_request();
        assert_eq!(tally.total(), 2);
    }
}
