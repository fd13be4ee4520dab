//! Group commit of Route 53 changes, per hosted zone.
//!
//! Route 53 allows 5 requests per second per account, and one `ChangeResourceRecordSets`
//! takes up to 1,000 changes, atomically. So the changes that callers of one
//! [`Route53Dns`](crate::Route53Dns) instance make in one zone while a change request of that
//! zone is in flight, or waits for the account's rate-limit token, go out together in the next
//! request. A change that arrives alone is sent at once: there is no timer, batches only form
//! while the zone is busy.
//!
//! One task per busy zone sends the batches (spawned by the caller that found the zone idle,
//! ending when its queue is empty). Callers wait for their own answer; a caller whose future
//! is dropped leaves the others alone: its change is skipped if it has not left yet, and its
//! answer is dropped if it has. The task waits for the account's token itself
//! ([`provisio::requests::limiter`]), then sends the batch inside
//! [`paced::with_token_taken`](crate::paced::with_token_taken), counted once in the
//! [`RequestTally`] of the step of the batch's first caller.
//!
//! A batch is atomic, so a refused batch of several changes is retried without the changes
//! the refusal names, and those callers get the refusal (a `CREATE` of a set that exists, a
//! `DELETE` of one that is gone or differs): each caller gets the answer it would have got
//! alone. A refusal that names no change (a CNAME clashing with another change of the batch,
//! a batch too large) splits the batch: each change is sent alone. A failure of the request
//! itself (throttled after the SDK's retries, no such zone, no credentials) is every caller's.

use crate::error::code;
use crate::paced;
use aws_sdk_route53::Client;
use aws_sdk_route53::operation::change_resource_record_sets::{
    ChangeResourceRecordSetsError, ChangeResourceRecordSetsOutput,
};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ChangeInfo};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use provisio::requests::{RequestTally, counted};
use provisio::{ErrorKind, ProviderInfo};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// The most changes in one request (Route 53: 1,000 resource records, an `UPSERT` counts
/// twice).
const MAX_RECORDS: usize = 1_000;
/// The most characters of record values in one request (Route 53: 32,000, an `UPSERT`
/// counts twice).
const MAX_CHARS: usize = 32_000;

/// What `ChangeResourceRecordSets` answers.
pub(crate) type Sent =
    Result<ChangeResourceRecordSetsOutput, SdkError<ChangeResourceRecordSetsError, HttpResponse>>;

/// The answer to one caller's change.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Route 53's answer to a request that held this change alone: exactly what the caller
    /// would have got sending it itself (boxed: an SDK result is large).
    Alone(Box<Sent>),
    /// Applied in a batch with other changes.
    Applied(Option<ChangeInfo>),
    /// Refused in a batch with other changes: Route 53 named this change, or the request
    /// as a whole failed.
    Refused(Refusal),
    /// The task sending the zone's batches ended before it answered (its runtime shut
    /// down): whether the change was applied is unknown.
    Abandoned,
}

/// Why a batch holding the change was refused, as Route 53 said it.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    /// The kind [`crate::error::classify`] gave the failure.
    pub(crate) kind: ErrorKind,
    /// Route 53's error code (`InvalidChangeBatch`), when it sent one.
    pub(crate) code: Option<String>,
    /// The classified message (code, HTTP status and Route 53's text).
    pub(crate) message: String,
}

/// The change queues of one provider instance, one per hosted zone.
#[derive(Debug)]
pub(crate) struct ChangeBatcher {
    client: Client,
    info: ProviderInfo,
    zones: Mutex<HashMap<String, Arc<Mutex<ZoneQueue>>>>,
}

/// The changes waiting for one zone's next request.
#[derive(Debug, Default)]
struct ZoneQueue {
    waiting: VecDeque<Waiting>,
    /// Whether a task is sending this zone's batches (it takes every waiting change).
    sending: bool,
}

/// One caller's change, waiting for a request.
#[derive(Debug)]
struct Waiting {
    change: Change,
    /// The step of the caller, which counts the request when the change leads a batch.
    tally: Option<Arc<RequestTally>>,
    /// Sent in a request of its own (a batch holding it was refused without naming a change).
    alone: bool,
    reply: oneshot::Sender<Answer>,
}

impl Waiting {
    /// (name, type) of the record set the change is about.
    fn key(&self) -> (String, String) {
        let set = self.change.resource_record_set();
        (
            set.map(|s| s.name().to_string()).unwrap_or_default(),
            set.map(|s| s.r#type().as_str().to_string())
                .unwrap_or_default(),
        )
    }

    /// Resource records and characters this change counts for in Route 53's batch limits.
    fn weight(&self) -> (usize, usize) {
        let set = self.change.resource_record_set();
        let records = set.map(|s| s.resource_records().len()).unwrap_or(0).max(1);
        let chars: usize = set
            .map(|s| s.resource_records().iter().map(|r| r.value().len()).sum())
            .unwrap_or(0);
        let factor = if self.change.action() == &ChangeAction::Upsert {
            2
        } else {
            1
        };
        (records * factor, chars * factor)
    }
}

impl ChangeBatcher {
    /// Queues for changes sent with `client` on the account `info` describes.
    pub(crate) fn new(client: Client, info: ProviderInfo) -> Self {
        ChangeBatcher {
            client,
            info,
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// Applies `change` in hosted zone `zone_id`, alone or with the changes other callers
    /// make there meanwhile.
    pub(crate) async fn submit(self: &Arc<Self>, zone_id: &str, change: Change) -> Answer {
        let queue = lock(&self.zones)
            .entry(zone_id.to_string())
            .or_default()
            .clone();
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = lock(&queue);
            q.waiting.push_back(Waiting {
                change,
                tally: provisio::requests::current_tally(),
                alone: false,
                reply,
            });
            !std::mem::replace(&mut q.sending, true)
        };
        if start {
            let sender = ZoneSender {
                batcher: self.clone(),
                zone_id: zone_id.to_string(),
                queue,
                finished: false,
            };
            tokio::spawn(sender.run());
        }
        answer.await.unwrap_or(Answer::Abandoned)
    }
}

/// The task that sends one zone's batches while its queue is not empty.
struct ZoneSender {
    batcher: Arc<ChangeBatcher>,
    zone_id: String,
    queue: Arc<Mutex<ZoneQueue>>,
    /// Set when the task ended by itself, having marked the zone idle.
    finished: bool,
}

impl Drop for ZoneSender {
    /// Marks the zone idle when the task is dropped midway (its runtime shut down): the
    /// changes still waiting are answered [`Answer::Abandoned`] by dropping them.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut q = lock(&self.queue);
        q.sending = false;
        q.waiting.clear();
    }
}

impl ZoneSender {
    async fn run(mut self) {
        loop {
            {
                // Under the lock a caller takes to queue a change: either it sees the zone
                // busy and this task takes its change, or it sees it idle and starts a task.
                let mut q = lock(&self.queue);
                q.waiting.retain(|w| !w.reply.is_closed());
                if q.waiting.is_empty() {
                    q.sending = false;
                    self.finished = true;
                    return;
                }
            }
            // Callers that arrive while this waits join the batch.
            if self.batcher.info.quota.is_some() {
                provisio::requests::limiter()
                    .acquire(&self.batcher.info)
                    .await;
            }
            let batch = self.take_batch();
            if !batch.is_empty() {
                self.send(batch).await;
            }
        }
    }

    /// The next batch: every waiting change whose caller still waits, up to Route 53's
    /// limits, at most one change per record set (the rest wait for the next one); a change
    /// marked `alone` goes by itself.
    fn take_batch(&self) -> Vec<Waiting> {
        let mut q = lock(&self.queue);
        q.waiting.retain(|w| !w.reply.is_closed());
        if q.waiting.front().is_some_and(|w| w.alone) {
            return q.waiting.pop_front().into_iter().collect();
        }
        let mut batch = Vec::new();
        let mut keys = HashSet::new();
        let (mut records, mut chars) = (0, 0);
        let mut rest = VecDeque::new();
        while let Some(w) = q.waiting.pop_front() {
            let (r, c) = w.weight();
            let next_batch = !batch.is_empty()
                && (records + r > MAX_RECORDS || chars + c > MAX_CHARS || keys.contains(&w.key()));
            if w.alone || next_batch {
                rest.push_back(w);
                continue;
            }
            records += r;
            chars += c;
            keys.insert(w.key());
            batch.push(w);
        }
        q.waiting = rest;
        batch
    }

    /// Puts changes back at the front of the queue, in their order.
    fn requeue(&self, changes: Vec<Waiting>) {
        let mut q = lock(&self.queue);
        for w in changes.into_iter().rev() {
            q.waiting.push_front(w);
        }
    }

    async fn send(&self, batch: Vec<Waiting>) {
        let tally = batch.iter().find_map(|w| w.tally.clone());
        let request = ChangeBatch::builder()
            .comment("provisio")
            .set_changes(Some(batch.iter().map(|w| w.change.clone()).collect()))
            .build();
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                // Only a batch without changes fails to build, and none is sent empty.
                let refusal = Refusal {
                    kind: ErrorKind::Unexpected,
                    code: None,
                    message: format!("cannot build the change batch: {e}"),
                };
                for w in batch {
                    let _ = w.reply.send(Answer::Refused(refusal.clone()));
                }
                return;
            }
        };
        let call = self
            .batcher
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(request)
            .send();
        let call = paced::with_token_taken(call);
        let sent = match tally {
            Some(tally) => counted(tally, call).await,
            None => call.await,
        };
        if batch.len() == 1 {
            if let Some(w) = batch.into_iter().next() {
                let _ = w.reply.send(Answer::Alone(Box::new(sent)));
            }
            return;
        }
        let err = match sent {
            Ok(out) => {
                let info = out.change_info().cloned();
                for w in batch {
                    let _ = w.reply.send(Answer::Applied(info.clone()));
                }
                return;
            }
            Err(err) => err,
        };
        let code = code(&err).map(str::to_string);
        let text = err.message().unwrap_or_default().to_string();
        let classified = crate::error::classify(err, "dns.change_batch", &self.zone_id);
        let refusal = Refusal {
            kind: classified.kind().clone(),
            code: code.clone(),
            message: classified.message().to_string(),
        };
        if !matches!(code.as_deref(), Some("InvalidChangeBatch" | "InvalidInput")) {
            for w in batch {
                let _ = w.reply.send(Answer::Refused(refusal.clone()));
            }
            return;
        }
        let (named, others): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|w| names_change(&text, w));
        if named.is_empty() {
            // The refusal names no change: each is sent alone.
            self.requeue(
                others
                    .into_iter()
                    .map(|w| Waiting { alone: true, ..w })
                    .collect(),
            );
            return;
        }
        for w in named {
            let _ = w.reply.send(Answer::Refused(refusal.clone()));
        }
        self.requeue(others);
    }
}

/// Whether Route 53's refusal `text` names the record set `w` changes: Route 53 says
/// `[name='www.example.com.', type='A']` (moto adds a dot), moto's refused `DELETE` says
/// `Name=www.example.com., Type=A,`.
fn names_change(text: &str, w: &Waiting) -> bool {
    let (name, rtype) = w.key();
    [
        format!("name='{name}', type='{rtype}'"),
        format!("name='{name}.', type='{rtype}'"),
        format!("Name={name}, Type={rtype},"),
    ]
    .iter()
    .any(|pattern| text.contains(pattern.as_str()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
