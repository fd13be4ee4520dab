//! Group commit of network sessions: concurrent operations on one remote share one session.
//!
//! An ssh session costs far more (key exchange, a server process, the ref advertisement) than
//! the few refs one operation lists, fetches or pushes. So operations do not open their own:
//! each queues its request in the remote's [`Batcher`] for that kind of session, and whoever
//! gets the batcher's session lock first takes every queued request and serves them all in one
//! session, while the others wait for their answer. Requests that arrive during a session go
//! into the next one. With one session in flight per kind, a burst of N operations costs about
//! two sessions, not N; a lone operation costs one, without waiting for a timer.

use provisio::{Error, Result};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

/// Queued requests of one kind (list, fetch or push) for one remote, and the lock that allows
/// one session of that kind at a time.
pub(crate) struct Batcher<Req, Resp> {
    queue: std::sync::Mutex<Vec<Pending<Req, Resp>>>,
    session: Arc<tokio::sync::Mutex<()>>,
    next_id: AtomicU64,
}

/// One caller's requests (served in one session) and where their answers go.
struct Pending<Req, Resp> {
    id: u64,
    requests: Vec<Req>,
    reply: oneshot::Sender<Vec<Result<Resp>>>,
}

impl<Req, Resp> Default for Batcher<Req, Resp> {
    fn default() -> Self {
        Batcher {
            queue: std::sync::Mutex::new(Vec::new()),
            session: Arc::new(tokio::sync::Mutex::new(())),
            next_id: AtomicU64::new(0),
        }
    }
}

/// Takes the request out of the queue if its caller gives up before a session took it (a
/// cancelled step must not leave work behind for the next session).
struct Unqueue<'a, Req, Resp> {
    batcher: &'a Batcher<Req, Resp>,
    id: u64,
}

impl<Req, Resp> Drop for Unqueue<'_, Req, Resp> {
    fn drop(&mut self) {
        self.batcher.lock_queue().retain(|p| p.id != self.id);
    }
}

impl<Req, Resp> Batcher<Req, Resp> {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending<Req, Resp>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Queues `requests` and returns their answers, in order.
    ///
    /// If no session of this kind is running, or when the running one ends without having
    /// taken these requests, the caller leads the next session: it awaits `pace` (the
    /// account's rate limit and the request count of its step, so one session is counted
    /// once), then takes every queued request and runs `serve` on them on tokio's blocking
    /// pool. `serve` returns one answer per request, in order. The session lock and the
    /// delivery of the answers live in the blocking task, so a caller that is dropped midway
    /// neither leaves the others waiting nor lets a second session start early.
    pub(crate) async fn submit<P, S>(
        &self,
        requests: Vec<Req>,
        pace: P,
        serve: S,
    ) -> Vec<Result<Resp>>
    where
        P: Future<Output = ()>,
        S: FnOnce(&[Req]) -> Vec<Result<Resp>> + Send + 'static,
    {
        let wanted = requests.len();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, mut answer) = oneshot::channel();
        self.lock_queue().push(Pending {
            id,
            requests,
            reply,
        });
        let _unqueue = Unqueue { batcher: self, id };
        let session = tokio::select! {
            biased;
            done = &mut answer => return lost(done, wanted),
            session = self.session.clone().lock_owned() => session,
        };
        // The session that just ended may have served these requests.
        match answer.try_recv() {
            Ok(done) => return done,
            Err(oneshot::error::TryRecvError::Closed) => return lost(Err(()), wanted),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        // Let callers that became ready at the same moment (sibling steps polled by one
        // task, other tenants' tasks) queue their requests first: they join this session.
        tokio::task::yield_now().await;
        pace.await;
        // Only a session holder takes requests, so these are still queued and served now.
        let batch = std::mem::take(&mut *self.lock_queue());
        let worker = tokio::task::spawn_blocking(move || {
            let _session = session;
            let mut counts = Vec::with_capacity(batch.len());
            let mut replies = Vec::with_capacity(batch.len());
            let mut all = Vec::new();
            for p in batch {
                counts.push(p.requests.len());
                replies.push(p.reply);
                all.extend(p.requests);
            }
            let mut answers = serve(&all);
            if answers.len() != all.len() {
                let err = Error::unexpected(format!(
                    "a git session answered {} of {} requests",
                    answers.len(),
                    all.len()
                ));
                answers = all_failed(err, all.len());
            }
            let mut answers = answers.into_iter();
            for (reply, n) in replies.into_iter().zip(counts) {
                // A caller that gave up has dropped its receiver; nothing to tell it.
                let _ = reply.send(answers.by_ref().take(n).collect());
            }
        });
        drop(worker);
        lost(answer.await, wanted)
    }
}

/// The answers, or an error for each request when the session that took them died without
/// answering (a panic in the blocking task).
fn lost<Resp, E>(
    done: std::result::Result<Vec<Result<Resp>>, E>,
    wanted: usize,
) -> Vec<Result<Resp>> {
    done.unwrap_or_else(|_| {
        all_failed(
            Error::unexpected("the git session ended without answering this request"),
            wanted,
        )
    })
}

/// The same error for every request of a session that failed as a whole (the remote could not
/// be reached, say).
pub(crate) fn all_failed<T>(err: Error, requests: usize) -> Vec<Result<T>> {
    (0..requests).map(|_| Err(err.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    fn one<T>(mut answers: Vec<Result<T>>) -> Result<T> {
        assert_eq!(answers.len(), 1);
        answers.remove(0)
    }

    /// Requests that arrive while a session runs share the next one: 9 concurrent callers,
    /// the first served alone, the other 8 (one of them with two requests) in one more
    /// session.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_sessions() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let sessions = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(tokio::sync::Notify::new());
        let serve = |sessions: Arc<AtomicUsize>, started: Arc<tokio::sync::Notify>| {
            move |reqs: &[u32]| {
                sessions.fetch_add(1, Ordering::SeqCst);
                started.notify_one();
                std::thread::sleep(Duration::from_millis(500));
                reqs.iter().map(|r| Ok(r * 10)).collect::<Vec<_>>()
            }
        };
        let first = {
            let (b, s, n) = (batcher.clone(), sessions.clone(), started.clone());
            tokio::spawn(async move { one(b.submit(vec![0], async {}, serve(s, n)).await) })
        };
        started.notified().await;
        let mut rest = Vec::new();
        for i in 1..8 {
            let (b, s, n) = (batcher.clone(), sessions.clone(), started.clone());
            rest.push(tokio::spawn(async move {
                one(b.submit(vec![i], async {}, serve(s, n)).await)
            }));
        }
        let pair = batcher
            .submit(
                vec![8, 9],
                async {},
                serve(sessions.clone(), started.clone()),
            )
            .await;
        assert_eq!(first.await.unwrap().unwrap(), 0);
        for (i, t) in rest.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), (i as u32 + 1) * 10);
        }
        let pair: Vec<u32> = pair.into_iter().map(Result::unwrap).collect();
        assert_eq!(pair, [80, 90]);
        assert_eq!(sessions.load(Ordering::SeqCst), 2);
    }

    /// A caller dropped while it waits for pacing leaves no request behind and does not block
    /// the next caller; a failed session fails each of its requests.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_leaders_and_failed_sessions() {
        let batcher = Batcher::<u32, u32>::default();
        let never = std::future::pending::<()>();
        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            batcher.submit(vec![1], never, |r: &[u32]| {
                r.iter().map(|_| Ok(1)).collect()
            }),
        )
        .await;
        assert!(
            cancelled.is_err(),
            "the pacing never ends, so the call times out"
        );
        assert!(
            batcher.lock_queue().is_empty(),
            "the cancelled request stayed queued"
        );
        let served = batcher
            .submit(vec![2, 3], async {}, |r: &[u32]| {
                assert_eq!(r, [2, 3], "only the live requests are served");
                all_failed(Error::transient("connection refused"), r.len())
            })
            .await;
        assert_eq!(served.len(), 2);
        for answer in served {
            assert_eq!(answer.unwrap_err().kind(), &provisio::ErrorKind::Transient);
        }
    }
}
