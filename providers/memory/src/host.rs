//! An in-memory remote machine: directories and files, and commands answered from a table.

use crate::Content;
use crate::faults::{Base, Changed, Faults, Read, hash_bytes};
use crate::inventory::Inventory;
use provisio::host::{
    self, CommandOutput, DirInspection, Host, HostCapabilities, HostCommand, MAX_READ_BYTES,
};
use provisio::{Bytes, Deleted, Error, Provider, ProviderInfo, Result, async_trait};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The largest file the memory host accepts (16 MiB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// How a scripted command answers (see [`MemoryHost::answer`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandAnswer {
    /// The exit status.
    #[serde(default)]
    pub exit_code: i32,
    /// What it prints on stdout.
    #[serde(default)]
    pub stdout: String,
    /// What it prints on stderr.
    #[serde(default)]
    pub stderr: String,
}

impl CommandAnswer {
    /// An answer with exit status `exit_code` and nothing printed.
    pub fn exit(exit_code: i32) -> Self {
        CommandAnswer {
            exit_code,
            ..Default::default()
        }
    }

    fn output(&self) -> CommandOutput {
        CommandOutput {
            exit_code: self.exit_code,
            stdout: Bytes::from(self.stdout.clone()),
            stderr: Bytes::from(self.stderr.clone()),
            truncated: false,
        }
    }
}

/// One command the memory host ran (see [`MemoryHost::commands`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandRecord {
    /// The directory it ran in.
    pub dir: String,
    /// The command line ([`HostCommand::display`]).
    pub command: String,
    /// The exit status it answered.
    pub exit_code: i32,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Every directory written to (a `write_files` directory and the directories of nested
    /// file names). Their parents exist implicitly, as after `mkdir -p`.
    dirs: BTreeSet<String>,
    /// Absolute path -> content.
    files: BTreeMap<String, Bytes>,
    /// Command line -> scripted answer; a command not listed exits 0 and prints nothing.
    answers: BTreeMap<String, CommandAnswer>,
    /// Every command run, in order (not part of a snapshot: it describes a test run).
    log: Vec<CommandRecord>,
}

impl State {
    fn dir_exists(&self, dir: &str) -> bool {
        let below = format!("{dir}/");
        self.dirs.contains(dir)
            || self
                .dirs
                .range(below.clone()..)
                .next()
                .is_some_and(|d| d.starts_with(&below))
    }

    fn run(&mut self, dir: &str, args: &[String]) -> CommandOutput {
        let command = host::display_args(args);
        let out = self
            .answers
            .get(&command)
            .map(CommandAnswer::output)
            .unwrap_or_else(|| CommandOutput::new(0, Bytes::new()));
        self.log.push(CommandRecord {
            dir: dir.to_string(),
            command,
            exit_code: out.exit_code,
        });
        out
    }
}

/// An in-memory remote machine, modelled on a Linux host reached over ssh.
///
/// Directories and files live in the memory world (inventory kind `host.dir`: each directory
/// with the SHA-256 of the files directly in it). Commands do nothing but answer: from the
/// table set with [`MemoryHost::answer`] (or the fixtures' `host.answers`), exit status 0 and
/// no output for a command not in it; [`MemoryHost::commands`] lists every command run.
/// Faults apply as to every memory provider (operations `host.write_files`,
/// `host.read_file`, `host.run`, `host.inspect`, `host.remove_dir`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use provisio::Host;
/// use provisio::host::HostCommand;
/// use provisio_memory::MemoryHost;
/// use provisio_memory::host::CommandAnswer;
/// let h = MemoryHost::new();
/// let files = [("compose.yml".to_string(), provisio::Bytes::from("services: {}\n"))].into();
/// h.write_files("/srv/acme", &files).await.unwrap();
/// h.answer("docker compose ps", CommandAnswer::exit(3));
/// let out = h.run(&HostCommand::new("/srv/acme", ["docker", "compose", "ps"])).await.unwrap();
/// assert_eq!(out.unwrap().exit_code, 3);
/// assert_eq!(h.commands()[0].command, "docker compose ps");
/// assert!(h.run(&HostCommand::new("/srv/other", ["true"])).await.unwrap().is_none());
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryHost {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryHost {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-host";

    /// A host with nothing on it and no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A host using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemoryHost {
            base: Base::new(faults, Self::DEFAULT_ACCOUNT, crate::persist::Section::Host),
            state: Mutex::new(State::default()),
        }
    }

    /// The same host acting on account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Scripts the answer of `command` (a command line as [`HostCommand::display`] writes it,
    /// e.g. `docker compose ps`), wherever it runs.
    pub fn answer(&self, command: impl Into<String>, answer: CommandAnswer) {
        self.lock().answers.insert(command.into(), answer);
    }

    /// Whether `command` has a scripted answer.
    pub fn has_answer(&self, command: &str) -> bool {
        self.lock().answers.contains_key(command)
    }

    /// Adds an empty directory (a setup helper, not a call; see
    /// [`crate::MemoryCloud::change`] for a persisted world). Panics on an invalid path.
    pub fn add_dir(&self, dir: &str) {
        host::dir_path("dir", dir).expect("a valid directory path");
        self.lock().dirs.insert(dir.to_string());
    }

    /// Forgets the scripted answer of `command` (it exits 0 again).
    pub fn clear_answer(&self, command: &str) {
        self.lock().answers.remove(command);
    }

    /// Every command run so far, in order.
    pub fn commands(&self) -> Vec<CommandRecord> {
        self.lock().log.clone()
    }

    /// The content of the file at absolute `path`, without a call (for assertions).
    pub fn file(&self, path: &str) -> Option<Bytes> {
        self.lock().files.get(path).cloned()
    }

    /// Whether the directory exists, without a call (for assertions).
    pub fn has_dir(&self, dir: &str) -> bool {
        self.lock().dir_exists(dir)
    }

    /// Every directory (`host.dir`) with the SHA-256 (first 16 hex digits) of each file
    /// directly in it.
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for dir in &s.dirs {
            let prefix = format!("{dir}/");
            let files: BTreeMap<&str, String> = s
                .files
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .filter(|(p, _)| !p[prefix.len()..].contains('/'))
                .map(|(p, body)| {
                    (
                        &p[prefix.len()..],
                        hex::encode(hash_bytes(&[body]))[..16].to_string(),
                    )
                })
                .collect();
            inv.insert("host.dir", dir.clone(), json!({ "files": files }));
        }
        inv
    }

    /// Nothing is retired on a host.
    pub fn retired(&self) -> Inventory {
        Inventory::new()
    }
}

/// The host's part of a [`crate::MemorySnapshot`]: directories, files and scripted answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostSnapshot {
    dirs: Vec<String>,
    files: BTreeMap<String, Content>,
    answers: BTreeMap<String, CommandAnswer>,
}

impl MemoryHost {
    /// Everything this host holds but the command log.
    pub(crate) fn snapshot(&self) -> HostSnapshot {
        let s = self.lock();
        HostSnapshot {
            dirs: s.dirs.iter().cloned().collect(),
            files: s
                .files
                .iter()
                .map(|(p, b)| (p.clone(), Content(b.clone())))
                .collect(),
            answers: s.answers.clone(),
        }
    }

    /// Checks `snap` and builds the state it describes; the command log is kept.
    pub(crate) fn prepare_restore(&self, snap: HostSnapshot) -> Result<State> {
        use crate::snapshot::corrupt;
        let mut dirs = BTreeSet::new();
        for d in snap.dirs {
            host::dir_path("host dir", &d).map_err(|e| corrupt(e.message()))?;
            if !dirs.insert(d.clone()) {
                return Err(corrupt(format!("host dir {d} appears twice")));
            }
        }
        for path in snap.files.keys() {
            host::dir_path("host file", path).map_err(|e| corrupt(e.message()))?;
            let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
            if !dirs.contains(parent) {
                return Err(corrupt(format!(
                    "host file {path} is in no directory of the snapshot"
                )));
            }
        }
        Ok(State {
            dirs,
            files: snap.files.into_iter().map(|(p, c)| (p, c.0)).collect(),
            answers: snap.answers,
            log: self.lock().log.clone(),
        })
    }

    /// Installs a state made by [`MemoryHost::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.lock() = state;
    }
}

impl crate::snapshot::SnapshotSection for MemoryHost {
    type JsonCache = ();
    type Snapshot = HostSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> HostSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: HostSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
}

impl Provider for MemoryHost {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }
}

#[async_trait]
impl Host for MemoryHost {
    fn capabilities(&self) -> HostCapabilities {
        HostCapabilities {
            commands: true,
            max_file_bytes: MAX_FILE_BYTES,
        }
    }

    async fn write_files(&self, dir: &str, files: &BTreeMap<String, Bytes>) -> Result<()> {
        self.base
            .run("host.write_files", dir, async {
                host::check_files(dir, files, MAX_FILE_BYTES)?;
                let mut s = self.lock();
                s.dirs.insert(dir.to_string());
                for (name, body) in files {
                    let path = format!("{dir}/{name}");
                    // the directories of a nested name, as `mkdir -p` makes them
                    let mut parent = path.as_str();
                    while let Some((p, _)) = parent.rsplit_once('/') {
                        if p.len() <= dir.len() {
                            break;
                        }
                        s.dirs.insert(p.to_string());
                        parent = p;
                    }
                    s.files.insert(path, body.clone());
                }
                Ok(Changed(()))
            })
            .await
    }

    async fn read_file(&self, path: &str) -> Result<Option<Bytes>> {
        self.base
            .run("host.read_file", path, async {
                host::dir_path("path", path)?;
                let body = self.lock().files.get(path).cloned();
                if let Some(b) = &body
                    && b.len() > MAX_READ_BYTES
                {
                    return Err(Error::invalid_field(
                        "path",
                        format!(
                            "{path:?} is {} bytes; read_file reads at most {MAX_READ_BYTES}",
                            b.len()
                        ),
                    ));
                }
                Ok(Read(body))
            })
            .await
    }

    async fn run(&self, command: &HostCommand) -> Result<Option<CommandOutput>> {
        self.base
            .run("host.run", &command.dir, async {
                command.validated()?;
                let mut s = self.lock();
                if !s.dir_exists(&command.dir) {
                    return Ok(Changed(None));
                }
                Ok(Changed(Some(s.run(&command.dir, &command.args))))
            })
            .await
    }

    async fn inspect(
        &self,
        dir: &str,
        file: &str,
        args: Option<&[String]>,
    ) -> Result<Option<DirInspection>> {
        self.base
            .run("host.inspect", dir, async {
                host::dir_path("dir", dir)?;
                host::file_name("file", file)?;
                if let Some(args) = args {
                    host::command_args("command", args)?;
                }
                let mut s = self.lock();
                if !s.dir_exists(dir) {
                    return Ok(Read(None));
                }
                let file = s.files.get(&format!("{dir}/{file}")).cloned();
                let command = args.map(|a| s.run(dir, a));
                Ok(Read(Some(DirInspection { file, command })))
            })
            .await
    }

    async fn remove_dir(&self, dir: &str) -> Result<Deleted> {
        self.base
            .run("host.remove_dir", dir, async {
                host::check_removable(dir)?;
                let mut s = self.lock();
                if !s.dir_exists(dir) {
                    return Ok(Deleted::AlreadyGone);
                }
                let below = format!("{dir}/");
                s.dirs.retain(|d| d != dir && !d.starts_with(&below));
                s.files.retain(|p, _| !p.starts_with(&below));
                Ok(Deleted::Deleted)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::ErrorKind;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Bytes> {
        pairs
            .iter()
            .map(|(n, b)| (n.to_string(), Bytes::from(b.to_string())))
            .collect()
    }

    #[tokio::test]
    async fn files_commands_and_removal() {
        let h = MemoryHost::new();
        h.write_files("/srv/acme", &files(&[("a.txt", "1"), ("conf/n.conf", "2")]))
            .await
            .unwrap();
        assert_eq!(
            h.read_file("/srv/acme/conf/n.conf").await.unwrap(),
            Some(Bytes::from("2"))
        );
        assert_eq!(h.read_file("/srv/acme/none").await.unwrap(), None);
        let inv = h.inventory();
        assert_eq!(inv.ids("host.dir"), vec!["/srv/acme", "/srv/acme/conf"]);
        // the parent exists implicitly
        assert!(h.has_dir("/srv"));
        let seen = h
            .inspect("/srv/acme", "a.txt", Some(&["status".to_string()]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.file, Some(Bytes::from("1")));
        assert_eq!(seen.command.unwrap().exit_code, 0);
        assert_eq!(h.inspect("/srv/none", "a.txt", None).await.unwrap(), None);
        h.answer("status", CommandAnswer::exit(3));
        let out = h
            .run(&HostCommand::new("/srv/acme", ["status"]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.exit_code, 3);
        assert_eq!(h.commands().len(), 2);
        assert_eq!(h.remove_dir("/srv/acme").await.unwrap(), Deleted::Deleted);
        assert_eq!(
            h.remove_dir("/srv/acme").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert!(h.inventory().is_empty());
        let e = h.remove_dir("/srv").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        let e = h
            .write_files("/srv/x", &files(&[("../y", "1")]))
            .await
            .unwrap_err();
        assert!(e.message().contains("invalid files"), "{e}");
        assert_eq!(h.faults().calls("host.*"), 10);
    }

    #[tokio::test]
    async fn faults_apply() {
        let faults = Faults::new(1);
        faults.error_on_call("host.write_files", 1, ErrorKind::Transient);
        let h = MemoryHost::with_faults(faults);
        let f = files(&[("a", "1")]);
        assert!(h.write_files("/srv/a", &f).await.unwrap_err().retryable());
        assert!(!h.has_dir("/srv/a"));
        h.write_files("/srv/a", &f).await.unwrap();
        assert!(h.has_dir("/srv/a"));
    }

    #[test]
    fn snapshots_round_trip_and_check() {
        let h = MemoryHost::new();
        {
            let mut s = h.lock();
            s.dirs.insert("/srv/a".into());
            s.files
                .insert("/srv/a/x".into(), Bytes::from_static(&[0, 255]));
            s.answers.insert("ps".into(), CommandAnswer::exit(1));
        }
        let snap = h.snapshot();
        let json = serde_json::to_string(&snap).unwrap();
        let back: HostSnapshot = serde_json::from_str(&json).unwrap();
        let other = MemoryHost::new();
        other.install(other.prepare_restore(back).unwrap());
        assert_eq!(other.inventory(), h.inventory());
        let mut bad = snap.clone();
        bad.files.insert("/elsewhere/f".into(), Content::from("x"));
        assert!(h.prepare_restore(bad).is_err());
    }
}
