//! The fake's model: users, sessions, the item tree, the queue and builds.

use crate::xml;
use crate::{AnonymousAccess, Fault, Permission, RequestRecord};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// The root element of a folder's config.xml.
pub(crate) const FOLDER_ROOT: &str = "com.cloudbees.hudson.plugins.folder.Folder";

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub password: Option<String>,
    pub tokens: Vec<String>,
    pub permissions: BTreeSet<Permission>,
}

#[derive(Debug, Clone)]
pub(crate) struct Build {
    pub number: u64,
    pub queue_id: u64,
    pub started: Instant,
    pub started_wall_ms: u128,
    pub duration: Duration,
    pub result: String,
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Folder {
        config: String,
    },
    Job {
        config: String,
        next_build: u64,
        builds: Vec<Build>,
    },
}

impl Item {
    pub(crate) fn config(&self) -> &str {
        match self {
            Item::Folder { config } | Item::Job { config, .. } => config,
        }
    }
    pub(crate) fn is_folder(&self) -> bool {
        matches!(self, Item::Folder { .. })
    }
}

#[derive(Debug, Clone)]
pub(crate) enum QueueState {
    Waiting,
    Left {
        left_at: Instant,
        executable: Option<u64>,
        cancelled: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct QueueItem {
    pub id: u64,
    pub job: String,
    pub parameters: Vec<(String, String)>,
    /// `PROVISIO_FAKE_*` controls given with the build request.
    pub controls: Vec<(String, String)>,
    pub enqueued_wall_ms: u128,
    pub due: Instant,
    pub state: QueueState,
}

/// Timings of the simulated server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub queue_delay: Duration,
    pub build_duration: Duration,
    pub left_item_ttl: Duration,
}

#[derive(Debug)]
pub(crate) struct State {
    pub base_url: String,
    pub users: BTreeMap<String, User>,
    pub anonymous: AnonymousAccess,
    pub csrf: bool,
    /// session id -> user name ("" for anonymous).
    pub sessions: HashMap<String, String>,
    pub session_counter: u64,
    pub crumb_salt: String,
    pub items: BTreeMap<String, Item>,
    pub queue: BTreeMap<u64, QueueItem>,
    pub next_queue_id: u64,
    pub timing: Timing,
    pub default_result: String,
    pub results: BTreeMap<String, String>,
    pub faults: Vec<Fault>,
    pub log: Vec<RequestRecord>,
}

pub(crate) fn wall_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

impl State {
    pub(crate) fn new(timing: Timing) -> Self {
        let salt = hex::encode(Sha256::digest(format!("{:?}{}", Instant::now(), wall_ms())));
        State {
            base_url: String::new(),
            users: BTreeMap::new(),
            anonymous: AnonymousAccess::Denied,
            csrf: true,
            sessions: HashMap::new(),
            session_counter: 0,
            crumb_salt: salt[..16].to_string(),
            items: BTreeMap::new(),
            queue: BTreeMap::new(),
            next_queue_id: 1,
            timing,
            default_result: "SUCCESS".into(),
            results: BTreeMap::new(),
            faults: Vec::new(),
            log: Vec::new(),
        }
    }

    /// The crumb of a user's session: bound to both, as DefaultCrumbIssuer does.
    pub(crate) fn crumb(&self, user: &str, session: &str) -> String {
        let digest = Sha256::digest(format!("{}:{user}:{session}", self.crumb_salt));
        hex::encode(&digest[..16])
    }

    pub(crate) fn new_session(&mut self, user: &str) -> String {
        self.session_counter += 1;
        let id = hex::encode(
            &Sha256::digest(format!(
                "{}:session:{}",
                self.crumb_salt, self.session_counter
            ))[..12],
        );
        self.sessions.insert(id.clone(), user.to_string());
        id
    }

    /// The URL path of an item, `job/a/job/b/` (no leading slash).
    pub(crate) fn item_url(&self, path: &str) -> String {
        let mut url = format!("{}/", self.base_url);
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            url.push_str("job/");
            url.push_str(&crate::server::encode_segment(seg));
            url.push('/');
        }
        url
    }

    /// Adds an item, with its parents as folders when `parents` is set.
    pub(crate) fn insert(&mut self, path: &str, config: &str) -> Result<(), String> {
        let facts = xml::facts(config).map_err(|e| format!("malformed config.xml: {e}"))?;
        let item = if facts.root == FOLDER_ROOT {
            Item::Folder {
                config: config.to_string(),
            }
        } else {
            Item::Job {
                config: config.to_string(),
                next_build: 1,
                builds: Vec::new(),
            }
        };
        self.items.insert(path.to_string(), item);
        Ok(())
    }

    /// Deletes an item and everything below it; queue items of deleted jobs are cancelled.
    pub(crate) fn remove(&mut self, path: &str) -> bool {
        if self.items.remove(path).is_none() {
            return false;
        }
        let below = format!("{path}/");
        self.items.retain(|k, _| !k.starts_with(&below));
        let now = Instant::now();
        for q in self.queue.values_mut() {
            if matches!(q.state, QueueState::Waiting)
                && (q.job == path || q.job.starts_with(&below))
            {
                q.state = QueueState::Left {
                    left_at: now,
                    executable: None,
                    cancelled: true,
                };
            }
        }
        true
    }

    /// Moves due queue items out of the queue (assigning build numbers in queue order) and
    /// forgets left items older than the left-item time to live.
    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> = self
            .queue
            .values()
            .filter(|q| matches!(q.state, QueueState::Waiting) && q.due <= now)
            .map(|q| q.id)
            .collect();
        for id in due {
            let Some(q) = self.queue.get(&id).cloned() else {
                continue;
            };
            let control = |name: &str| {
                q.controls
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let result = control(crate::FAKE_RESULT_PARAM)
                .or_else(|| self.results.get(&q.job).cloned())
                .unwrap_or_else(|| self.default_result.clone());
            let duration = control(crate::FAKE_DURATION_PARAM)
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis)
                .unwrap_or(self.timing.build_duration);
            let started_wall_ms =
                wall_ms().saturating_sub(now.saturating_duration_since(q.due).as_millis());
            let executable = match self.items.get_mut(&q.job) {
                Some(Item::Job {
                    next_build, builds, ..
                }) => {
                    let number = *next_build;
                    *next_build += 1;
                    builds.push(Build {
                        number,
                        queue_id: id,
                        started: q.due,
                        started_wall_ms,
                        duration,
                        result,
                        parameters: q.parameters.clone(),
                    });
                    Some(number)
                }
                _ => None,
            };
            if let Some(item) = self.queue.get_mut(&id) {
                item.state = QueueState::Left {
                    left_at: q.due,
                    executable,
                    cancelled: executable.is_none(),
                };
            }
        }
        let ttl = self.timing.left_item_ttl;
        self.queue.retain(|_, q| match q.state {
            QueueState::Waiting => true,
            QueueState::Left { left_at, .. } => left_at + ttl > now,
        });
    }

    /// Whether a user (`None`: anonymous) holds a permission.
    pub(crate) fn allowed(&self, user: Option<&str>, perm: Permission) -> bool {
        match user {
            Some(u) => self
                .users
                .get(u)
                .is_some_and(|u| u.permissions.contains(&perm)),
            None => self.anonymous == AnonymousAccess::Allowed,
        }
    }
}
