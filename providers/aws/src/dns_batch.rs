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
//! ([`provisio::requests::limiter`]), then sends the batch inside [`wire::with_token_taken`],
//! counted once in the [`RequestTally`] of the step of the batch's first caller.
//!
//! A batch is atomic, so a refused batch of several changes is retried without the changes
//! the refusal names, and those callers get the refusal (a `CREATE` of a set that exists, a
//! `DELETE` of one that is gone or differs): each caller gets the answer it would have got
//! alone. A refusal that names no change (a CNAME clashing with another change of the batch,
//! a batch too large) splits the batch: each change is sent alone. A failure of the request
//! itself (throttled after the client's retries, no such zone, no credentials) is every
//! caller's.
//!
//! A batch is one `POST /2013-04-01/hostedzone/{Id}/rrset/` of a
//! `ChangeResourceRecordSetsRequest` document; Route 53's refusals (`InvalidChangeBatch`, and
//! moto's `InvalidInput`) are handed back by the client as answers (`expect_code`), so that the
//! batch can read which changes they name.

use crate::dns_sets::{RecordSet, zone_id};
use crate::error::{PROVIDER, kind_for, service_message};
use crate::wire::{self, Client, Element, Request, encode};
use provisio::layer::Safety;
use provisio::requests::{RequestTally, counted};
use provisio::{Error, ErrorKind, ProviderInfo};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// The most changes in one request (Route 53: 1,000 resource records, an `UPSERT` counts
/// twice).
const MAX_RECORDS: usize = 1_000;
/// The most characters of record values in one request (Route 53: 32,000, an `UPSERT`
/// counts twice).
const MAX_CHARS: usize = 32_000;

/// The namespace of Route 53's API documents.
const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// What a change does to its record set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeAction {
    /// Creates the set; refused when it exists.
    Create,
    /// Creates or replaces the set.
    Upsert,
    /// Deletes the set; refused when it is missing or its values differ.
    Delete,
}

impl ChangeAction {
    /// The action as Route 53 spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "CREATE",
            ChangeAction::Upsert => "UPSERT",
            ChangeAction::Delete => "DELETE",
        }
    }
}

/// One change of a change batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// What it does.
    pub(crate) action: ChangeAction,
    /// The record set it does it to (for a `DELETE`, exactly as Route 53 holds it).
    pub(crate) set: RecordSet,
}

/// A change accepted by Route 53, as `ChangeInfo` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangeInfo {
    /// The change's id (`/change/C2682N5HXP0BZ4`).
    pub(crate) id: String,
    /// `PENDING`, or `INSYNC` once every Route 53 server has it.
    pub(crate) status: String,
}

impl ChangeInfo {
    /// The `ChangeInfo` of a `ChangeResourceRecordSets` or `GetChange` answer, if it has one.
    pub(crate) fn of(root: &Element) -> Option<ChangeInfo> {
        let info = root.child("ChangeInfo")?;
        Some(ChangeInfo {
            id: info.text_at(&["Id"])?.to_string(),
            status: info.text_at(&["Status"]).unwrap_or_default().to_string(),
        })
    }
}

/// The `ChangeResourceRecordSetsRequest` document of `changes`, every text escaped.
pub(crate) fn change_batch_xml<'a>(
    comment: &str,
    changes: impl IntoIterator<Item = &'a Change>,
) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <ChangeResourceRecordSetsRequest xmlns=\"{XMLNS}\"><ChangeBatch><Comment>{}</Comment>\
         <Changes>",
        wire::xml::escape(comment)
    );
    for change in changes {
        xml.push_str("<Change><Action>");
        xml.push_str(change.action.as_str());
        xml.push_str("</Action><ResourceRecordSet>");
        change.set.write_xml(&mut xml);
        xml.push_str("</ResourceRecordSet></Change>");
    }
    xml.push_str("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    xml
}

/// The answer to one caller's change.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Applied, alone or in a batch with other changes; the change's id and status when
    /// Route 53 sent them.
    Applied(Option<ChangeInfo>),
    /// Refused: Route 53 refused the request that held this change alone, or named this
    /// change in a batch, or the request of the batch failed as a whole.
    Refused(Refusal),
    /// The request that held this change alone failed (no answer, or one the client does not
    /// hand back): exactly the error the caller would have got sending it itself.
    Failed(Error),
    /// The task sending the zone's batches ended before it answered (its runtime shut
    /// down): whether the change was applied is unknown.
    Abandoned,
}

/// Why a request holding the change was refused, as Route 53 said it.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    /// The kind [`crate::error::kind_for`] gives the failure.
    pub(crate) kind: ErrorKind,
    /// Route 53's error code (`InvalidChangeBatch`), when it sent one.
    pub(crate) code: Option<String>,
    /// The message of the failure (code, HTTP status and Route 53's text).
    pub(crate) message: String,
}

/// What one `ChangeResourceRecordSets` request came to.
enum Sent {
    Accepted(Option<ChangeInfo>),
    Refused(Refusal),
    Failed(Error),
}

impl Sent {
    /// Reads the client's result of a change request.
    fn of(sent: provisio::Result<wire::Answer>) -> Sent {
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => return Sent::Failed(e),
        };
        if answer.ok() {
            return match answer.xml() {
                Ok(root) => Sent::Accepted(ChangeInfo::of(&root)),
                // A truncated or garbled answer: as if the request had failed (retryable).
                Err(e) => Sent::Failed(
                    e.context("ChangeResourceRecordSets")
                        .with_provider(PROVIDER)
                        .with_operation(OPERATION),
                ),
            };
        }
        // One of the refusals the request said it expected.
        let (code, message) = wire::xml_error_of(&answer.body);
        let code = answer.code.or(code);
        Sent::Refused(Refusal {
            kind: kind_for(code.as_deref(), Some(answer.status)),
            message: service_message(code.as_deref(), message.as_deref(), answer.status),
            code,
        })
    }
}

/// The operation a change request is sent as (each caller's error names its own).
const OPERATION: &str = "dns.change_batch";

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
        let set = &self.change.set;
        (set.name.clone(), set.rtype.clone())
    }

    /// Resource records and characters this change counts for in Route 53's batch limits.
    fn weight(&self) -> (usize, usize) {
        let set = &self.change.set;
        let records = set.values.len().max(1);
        let chars: usize = set.values.iter().map(String::len).sum();
        let factor = if self.change.action == ChangeAction::Upsert {
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
        let path = format!(
            "/2013-04-01/hostedzone/{}/rrset/",
            encode(&zone_id(&self.zone_id), false)
        );
        let request = Request::new(reqwest::Method::POST, path)
            .xml_body(change_batch_xml(
                "provisio",
                batch.iter().map(|w| &w.change),
            ))
            .expect_code("InvalidChangeBatch")
            .expect_code("InvalidInput")
            // A change that may have been applied is not sent again (a CREATE would be
            // refused, a DELETE find nothing); a refused one may be.
            .safety(Safety::OnlyIfRefused);
        let call = self.batcher.client.send(&request, OPERATION, &self.zone_id);
        let call = wire::with_token_taken(call);
        let sent = Sent::of(match tally {
            Some(tally) => counted(tally, call).await,
            None => call.await,
        });
        if batch.len() == 1 {
            if let Some(w) = batch.into_iter().next() {
                let _ = w.reply.send(match sent {
                    Sent::Accepted(info) => Answer::Applied(info),
                    Sent::Refused(refusal) => Answer::Refused(refusal),
                    Sent::Failed(e) => Answer::Failed(e),
                });
            }
            return;
        }
        let refusal = match sent {
            Sent::Accepted(info) => {
                for w in batch {
                    let _ = w.reply.send(Answer::Applied(info.clone()));
                }
                return;
            }
            Sent::Refused(refusal) => refusal,
            Sent::Failed(e) => Refusal {
                kind: e.kind().clone(),
                code: None,
                message: e.message().to_string(),
            },
        };
        if !matches!(
            refusal.code.as_deref(),
            Some("InvalidChangeBatch" | "InvalidInput")
        ) {
            for w in batch {
                let _ = w.reply.send(Answer::Refused(refusal.clone()));
            }
            return;
        }
        let (named, others): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|w| names_change(&refusal.message, w));
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
