//! What this process knows about one remote, and the sessions its operations share.
//!
//! Every [`GitRepository`](crate::GitRepository) with the same configuration in a process
//! shares one [`RemoteState`]: the branch heads learned from the remote (by a list, a fetch or
//! an accepted push), a lock per branch (operations on one branch take turns in the process,
//! operations on different branches run at once), and one [`Batcher`] per kind of session, so
//! that concurrent operations share their list, fetch and push sessions.

use crate::batch::{Batcher, all_failed};
use crate::cache;
use crate::config::GitConfig;
use crate::transport::{Pushed, Transport, Update};
use git2::Oid;
use provisio::{Error, ProviderInfo, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// A branch head as this process last learned it, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KnownHead {
    /// The commit at the head.
    pub head: Oid,
    /// When the remote said so (a list, a fetch or an accepted push).
    pub learned: Instant,
    /// Whether the cache holds the commit (it was fetched or built here, not only listed).
    pub local: bool,
}

impl KnownHead {
    /// Whether it was learned less than `max_age` ago.
    pub(crate) fn younger_than(&self, max_age: Duration) -> bool {
        self.learned.elapsed() < max_age
    }
}

/// One remote as seen by this process (see the module docs).
pub(crate) struct RemoteState {
    cache: PathBuf,
    transport: Transport,
    info: ProviderInfo,
    heads: Mutex<HashMap<String, KnownHead>>,
    branch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    lists: Batcher<String, Option<Oid>>,
    fetches: Batcher<String, Option<Oid>>,
    pushes: Batcher<Update, Pushed>,
}

/// Every remote state of the process, by configuration.
static REMOTES: LazyLock<Mutex<HashMap<GitConfig, Arc<RemoteState>>>> =
    LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RemoteState {
    /// The state shared by every provider of this process configured like `config`, whose
    /// cache repository is at `cache`.
    pub(crate) fn shared(config: &GitConfig, cache: &Path, info: ProviderInfo) -> Arc<Self> {
        lock(&REMOTES)
            .entry(config.clone())
            .or_insert_with(|| {
                Arc::new(RemoteState {
                    cache: cache.to_path_buf(),
                    transport: Transport::new(config, cache),
                    info,
                    heads: Mutex::new(HashMap::new()),
                    branch_locks: Mutex::new(HashMap::new()),
                    lists: Batcher::default(),
                    fetches: Batcher::default(),
                    pushes: Batcher::default(),
                })
            })
            .clone()
    }

    /// The remote as a provider: its account and request quota.
    pub(crate) fn info(&self) -> &ProviderInfo {
        &self.info
    }

    /// The cache repository's path.
    pub(crate) fn cache_path(&self) -> &Path {
        &self.cache
    }

    /// Waits until no other operation of this process works on `branch`, and keeps others
    /// out until the guard is dropped.
    pub(crate) async fn lock_branch(&self, branch: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = lock(&self.branch_locks)
            .entry(branch.to_string())
            .or_default()
            .clone();
        mutex.lock_owned().await
    }

    /// The head of `branch` as last learned, if any.
    pub(crate) fn known(&self, branch: &str) -> Option<KnownHead> {
        lock(&self.heads).get(branch).copied()
    }

    /// Records what the remote said about `branch`: its head (`local`: the cache holds it),
    /// or that it does not exist.
    fn learn(&self, branch: &str, head: Option<Oid>, local: bool) {
        let mut heads = lock(&self.heads);
        match head {
            Some(head) => {
                let local = local || heads.get(branch).is_some_and(|k| k.head == head && k.local);
                heads.insert(
                    branch.to_string(),
                    KnownHead {
                        head,
                        learned: Instant::now(),
                        local,
                    },
                );
            }
            None => {
                heads.remove(branch);
            }
        }
    }

    /// Forgets the head of `branch` (after an update whose outcome is unknown).
    pub(crate) fn forget(&self, branch: &str) {
        lock(&self.heads).remove(branch);
    }

    /// Runs `work` on the cache repository on tokio's blocking pool.
    pub(crate) async fn local<T, F>(self: &Arc<Self>, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&git2::Repository) -> Result<T> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(&cache::open(&state.cache)?))
            .await
            .unwrap_or_else(|e| Err(Error::unexpected("the git task panicked").with_source(e)))
    }

    /// Paces and counts one network session in the caller's step (not for libgit2's local
    /// transport, which sends no request).
    async fn pace(&self) {
        if self.transport.is_network() {
            provisio::requests::before_request(&self.info).await;
        }
    }

    /// The heads of `branches` (`None`: no such branch), from one list session shared with
    /// concurrent callers.
    pub(crate) async fn list(self: &Arc<Self>, branches: &[&str]) -> Result<Vec<Option<Oid>>> {
        let state = self.clone();
        let requests = branches.iter().map(|b| b.to_string()).collect();
        let answers = self
            .lists
            .submit(requests, self.pace(), move |wanted: &[String]| {
                let names = distinct(wanted);
                match state.transport.list(&names) {
                    Ok(heads) => wanted
                        .iter()
                        .map(|b| {
                            let head = heads.get(b).copied();
                            state.learn(b, head, false);
                            Ok(head)
                        })
                        .collect(),
                    Err(e) => all_failed(e, wanted.len()),
                }
            })
            .await;
        answers.into_iter().collect()
    }

    /// Fetches `branches` into the cache (`None`: no such branch) in one fetch session shared
    /// with concurrent callers; afterwards the cache holds each returned head.
    pub(crate) async fn fetch(self: &Arc<Self>, branches: &[&str]) -> Result<Vec<Option<Oid>>> {
        let state = self.clone();
        let requests = branches.iter().map(|b| b.to_string()).collect();
        let answers = self
            .fetches
            .submit(requests, self.pace(), move |wanted: &[String]| {
                let names = distinct(wanted);
                let fetched = cache::open(&state.cache).and_then(|repo| {
                    let heads = state.transport.fetch(&repo, &names)?;
                    for name in &names {
                        cache::set_tracking_ref(&repo, name, heads.get(*name).copied());
                    }
                    Ok(heads)
                });
                match fetched {
                    Ok(heads) => wanted
                        .iter()
                        .map(|b| {
                            let head = heads.get(b).copied();
                            state.learn(b, head, true);
                            Ok(head)
                        })
                        .collect(),
                    Err(e) => all_failed(e, wanted.len()),
                }
            })
            .await;
        answers.into_iter().collect()
    }

    /// Applies `update` in one push session shared with concurrent callers. An accepted (or
    /// up-to-date) update is learned as the branch's head; an error leaves it unknown.
    pub(crate) async fn push(self: &Arc<Self>, update: Update) -> Result<Pushed> {
        let state = self.clone();
        let branch = update.branch.clone();
        let mut answers = self
            .pushes
            .submit(vec![update], self.pace(), move |updates: &[Update]| {
                push_batch(&state, updates)
            })
            .await;
        let answer = answers
            .pop()
            .unwrap_or_else(|| Err(Error::unexpected("a git push gave no answer")));
        if answer.is_err() {
            // The push may or may not have happened.
            self.forget(&branch);
        }
        answer
    }
}

/// Pushes a batch: one session for every branch updated once; a second update of a branch in
/// the same batch (never made by this crate, which locks branches) is refused, as git cannot
/// move one ref twice in one push.
fn push_batch(state: &RemoteState, updates: &[Update]) -> Vec<Result<Pushed>> {
    let mut seen = BTreeSet::new();
    let (first, repeated): (Vec<usize>, Vec<usize>) =
        (0..updates.len()).partition(|&i| seen.insert(updates[i].branch.as_str()));
    let batch: Vec<Update> = first.iter().map(|&i| updates[i].clone()).collect();
    let pushed = cache::open(&state.cache).and_then(|repo| {
        let answers = state.transport.push(&repo, &batch)?;
        for (u, answer) in batch.iter().zip(&answers) {
            if matches!(answer, Ok(Pushed::Accepted | Pushed::UpToDate)) {
                state.learn(&u.branch, u.new, true);
                cache::set_tracking_ref(&repo, &u.branch, u.new);
            }
        }
        Ok(answers)
    });
    let answers = pushed.unwrap_or_else(|e| all_failed(e, batch.len()));
    let mut out: Vec<Option<Result<Pushed>>> = (0..updates.len()).map(|_| None).collect();
    for (&i, answer) in first.iter().zip(answers) {
        out[i] = Some(answer);
    }
    for i in repeated {
        out[i] = Some(Ok(Pushed::Rejected(format!(
            "branch {} was updated twice in one push",
            updates[i].branch
        ))));
    }
    out.into_iter()
        .map(|a| a.unwrap_or_else(|| Err(Error::unexpected("a push update got no answer"))))
        .collect()
}

/// The distinct names of `wanted`, for one command line.
fn distinct(wanted: &[String]) -> Vec<&str> {
    let set: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    set.into_iter().collect()
}
