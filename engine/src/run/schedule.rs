//! The ready queue: runs the nodes of a run as their dependencies succeed, in parallel.

use super::{Engine, NodeOutcome, Run};
use crate::events::EventKind;
use crate::plan::Action;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use provisio::requests::RequestTally;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The nodes of a schedule and how far they got.
struct ReadyQueue<'w> {
    /// How many nodes each node still waits for.
    remaining: BTreeMap<&'w str, usize>,
    /// The nodes waiting for each node.
    waiters: BTreeMap<&'w str, Vec<&'w str>>,
    /// Nodes whose waits are over, in the order they became ready.
    ready: VecDeque<String>,
    /// How each finished node ended.
    results: BTreeMap<String, NodeOutcome>,
    /// The finished nodes, in the order they finished.
    finished: Vec<String>,
}

impl<'w> ReadyQueue<'w> {
    /// The queue of `waits` (node → the nodes it waits for); the nodes that wait for nothing
    /// are ready.
    fn new(waits: &'w BTreeMap<String, BTreeSet<String>>) -> Self {
        let remaining: BTreeMap<&str, usize> =
            waits.iter().map(|(n, w)| (n.as_str(), w.len())).collect();
        let mut waiters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (n, w) in waits {
            for d in w {
                waiters.entry(d.as_str()).or_default().push(n.as_str());
            }
        }
        let ready: VecDeque<String> = remaining
            .iter()
            .filter(|(_, c)| **c == 0)
            .map(|(n, _)| n.to_string())
            .collect();
        ReadyQueue {
            remaining,
            waiters,
            ready,
            results: BTreeMap::new(),
            finished: Vec::new(),
        }
    }

    /// Records how `name` ended: when it succeeded, what waited only for it becomes ready;
    /// otherwise everything that (transitively) waits on it is skipped, the reason starting
    /// with `phase_label`.
    fn finish(&mut self, run: &Run<'_>, phase_label: &str, name: String, outcome: NodeOutcome) {
        let ok = outcome.ok();
        self.results.insert(name.clone(), outcome);
        self.finished.push(name.clone());
        let next = self.waiters.get(name.as_str()).cloned().unwrap_or_default();
        if ok {
            for w in next {
                if let Some(c) = self.remaining.get_mut(w) {
                    *c -= 1;
                    if *c == 0 && !self.results.contains_key(w) {
                        self.ready.push_back(w.to_string());
                    }
                }
            }
        } else {
            // skip everything that (transitively) waits on it
            let mut stack: Vec<(&str, String)> =
                next.into_iter().map(|w| (w, name.clone())).collect();
            while let Some((w, because)) = stack.pop() {
                if self.results.contains_key(w) {
                    continue;
                }
                let reason = format!("{phase_label}{because:?} did not succeed");
                run.emit(|| EventKind::StepSkipped {
                    resource: w.to_string(),
                    reason: reason.clone(),
                });
                self.results.insert(
                    w.to_string(),
                    NodeOutcome::Skipped {
                        action: Action::NoOp,
                        reason,
                        protected: false,
                    },
                );
                self.finished.push(w.to_string());
                for x in self.waiters.get(w).cloned().unwrap_or_default() {
                    stack.push((x, w.to_string()));
                }
            }
        }
    }
}

impl Engine {
    /// Runs nodes from a ready queue: a node starts when every node it waits for succeeded;
    /// when one fails or is skipped, everything waiting on it (transitively) is skipped.
    pub(super) async fn schedule<'a>(
        &self,
        run: &Run<'_>,
        waits: &BTreeMap<String, BTreeSet<String>>,
        cancel: &CancellationToken,
        phase_label: &str,
        mut start: impl FnMut(
            &str,
            &BTreeMap<String, NodeOutcome>,
        ) -> (Action, BoxFuture<'a, NodeOutcome>),
    ) -> (Vec<String>, BTreeMap<String, NodeOutcome>) {
        let mut queue = ReadyQueue::new(waits);
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < self.inner.concurrency
                && let Some(n) = queue.ready.pop_front()
            {
                if queue.results.contains_key(&n) {
                    continue;
                }
                if cancel.is_cancelled() {
                    let reason = if run.lease_lost.load(Ordering::SeqCst) {
                        "the lease was lost".to_string()
                    } else {
                        "cancelled".to_string()
                    };
                    run.emit(|| EventKind::StepSkipped {
                        resource: n.clone(),
                        reason: reason.clone(),
                    });
                    queue.finish(
                        run,
                        phase_label,
                        n,
                        NodeOutcome::Skipped {
                            action: Action::NoOp,
                            reason,
                            protected: false,
                        },
                    );
                    continue;
                }
                let (action, fut) = start(&n, &queue.results);
                let span = tracing::info_span!("provisio.step", resource = %n, action = %action);
                let tally = Arc::new(RequestTally::default());
                running.push(
                    async move {
                        let outcome = provisio::requests::counted(tally.clone(), fut).await;
                        run.requests.merge(&tally);
                        (n, outcome)
                    }
                    .instrument(span),
                );
            }
            match running.next().await {
                None => break,
                Some((n, outcome)) => queue.finish(run, phase_label, n, outcome),
            }
        }
        (queue.finished, queue.results)
    }
}
