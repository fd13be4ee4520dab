//! Remote machines: files written into a directory, and commands run there.
//!
//! A [`Host`] is one machine reached by its provider (`ssh`, or the memory host in tests). It
//! knows four things: write a set of files into a directory, read a small file, run a command
//! in a directory, remove a directory. [`Host::inspect`] reads a file and runs a command in one
//! round trip, so that a step can tell "already deployed and running" with one request.
//!
//! Everything that names a place on the host is checked at this boundary, before anything is
//! sent ([`dir_path`], [`file_name`], [`HostCommand::validated`]): paths are absolute, have no
//! `.` or `..` components, and use a character set that needs no quoting anywhere
//! (`A-Z a-z 0-9 . _ -`). Commands are argument lists, never shell text: a provider quotes
//! every argument for the remote shell, so a value interpolated into an argument stays one
//! argument.
//!
//! ```
//! use provisio::host::{HostCommand, dir_path, file_name};
//! assert_eq!(dir_path("dir", "/srv/tenants/acme").unwrap(), "/srv/tenants/acme");
//! assert!(dir_path("dir", "/srv/../etc").is_err());
//! assert!(file_name("files", "nginx/nginx.conf").is_ok());
//! let c = HostCommand::new("/srv/tenants/acme", ["docker", "compose", "up", "-d"]);
//! assert_eq!(c.display(), "docker compose up -d");
//! assert!(c.validated().is_ok());
//! ```

use crate::{Bytes, Deleted, Error, Provider, Result};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// How much of a command's stdout and of its stderr a provider keeps (each); the rest is
/// read and dropped, and [`CommandOutput::truncated`] says so.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The largest file [`Host::read_file`] reads (1 MiB): it is for small files (a checksum, a
/// marker), not for transfers.
pub const MAX_READ_BYTES: usize = 1024 * 1024;

/// The longest directory path (bytes).
pub const MAX_PATH_BYTES: usize = 1024;

/// The longest file name relative to its directory (bytes; a tar header holds 100).
pub const MAX_FILE_NAME_BYTES: usize = 100;

/// The most arguments of one command.
pub const MAX_ARGS: usize = 256;

/// The most bytes of all arguments of one command together.
pub const MAX_ARGS_BYTES: usize = 64 * 1024;

/// A command to run in a directory of a host: an argument list (`["docker", "compose",
/// "up", "-d"]`), run without a shell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostCommand {
    /// The working directory (absolute); the command does not run when it is missing.
    pub dir: String,
    /// The program and its arguments.
    pub args: Vec<String>,
}

impl HostCommand {
    /// A command of `args` in `dir`.
    pub fn new<I, S>(dir: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        HostCommand {
            dir: dir.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Checks the directory ([`dir_path`]) and the arguments ([`command_args`]).
    pub fn validated(&self) -> Result<&Self> {
        dir_path("command dir", &self.dir)?;
        command_args("command", &self.args)?;
        Ok(self)
    }

    /// The command as one line, each argument quoted for `sh` where it needs it (for logs,
    /// errors and the memory host's answers): `docker compose up -d`, `echo 'a b'`.
    pub fn display(&self) -> String {
        display_args(&self.args)
    }
}

/// `args` as one line, each argument quoted for `sh` where it needs it.
///
/// ```
/// assert_eq!(provisio::host::display_args(&["echo".into(), "a b".into()]), "echo 'a b'");
/// ```
pub fn display_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain { a.clone() } else { shell_quote(a) }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `value` as one `sh` word: in single quotes, each `'` written as `'\''`.
///
/// ```
/// assert_eq!(provisio::host::shell_quote("it's"), r"'it'\''s'");
/// ```
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandOutput {
    /// The exit status (0: success).
    pub exit_code: i32,
    /// The first [`MAX_OUTPUT_BYTES`] of its standard output.
    pub stdout: Bytes,
    /// The first [`MAX_OUTPUT_BYTES`] of its standard error.
    pub stderr: Bytes,
    /// Whether stdout or stderr was longer than what is kept.
    pub truncated: bool,
}

impl CommandOutput {
    /// An output with exit status `exit_code` and the given stdout, nothing on stderr.
    pub fn new(exit_code: i32, stdout: impl Into<Bytes>) -> Self {
        CommandOutput {
            exit_code,
            stdout: stdout.into(),
            stderr: Bytes::new(),
            truncated: false,
        }
    }

    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// The last lines of stderr (at most 5 lines and 500 characters), for an error message.
    pub fn stderr_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
        let chars: Vec<char> = tail.chars().collect();
        if chars.len() > 500 {
            chars[chars.len() - 500..].iter().collect()
        } else {
            tail
        }
    }
}

/// What [`Host::inspect`] found in a directory that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirInspection {
    /// The file's content; `None` when it is missing.
    pub file: Option<Bytes>,
    /// How the command ended; `None` when none was asked for.
    pub command: Option<CommandOutput>,
}

/// What a host provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostCapabilities {
    /// Commands can be run ([`Host::run`], and [`Host::inspect`] with a command).
    pub commands: bool,
    /// The largest file [`Host::write_files`] accepts, in bytes.
    pub max_file_bytes: u64,
}

/// One remote machine.
///
/// Files are written with restrictive modes: directories the provider creates are `0700`,
/// files `0600` (readable by the provider's user only). Each file is replaced atomically
/// (written beside its place, then renamed), so a reader sees the old or the new content,
/// never a part.
#[async_trait]
pub trait Host: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> HostCapabilities;

    /// Writes `files` (name relative to `dir` -> content) into `dir`, creating `dir` and the
    /// directories of the names when missing. Files not named are left as they are. One
    /// request for all files.
    async fn write_files(&self, dir: &str, files: &BTreeMap<String, Bytes>) -> Result<()>;

    /// Reads the file at absolute `path`; `Ok(None)` when it (or its directory) is missing.
    /// `InvalidInput` when it is larger than [`MAX_READ_BYTES`].
    async fn read_file(&self, path: &str) -> Result<Option<Bytes>>;

    /// Runs `command` in its directory and waits for it to end; `Ok(None)` when the directory
    /// is missing (nothing was run). A command that runs and fails is `Ok(Some(..))` with its
    /// exit status: what a failure means is the caller's business.
    async fn run(&self, command: &HostCommand) -> Result<Option<CommandOutput>>;

    /// Reads `file` (relative to `dir`) and, when `args` is given, runs that command in `dir`
    /// after the read: both in one request. `Ok(None)` when `dir` is missing (nothing was
    /// run). The command should only look (a status check): layers retry this call like a
    /// read.
    async fn inspect(
        &self,
        dir: &str,
        file: &str,
        args: Option<&[String]>,
    ) -> Result<Option<DirInspection>>;

    /// Removes `dir` with everything in it; [`Deleted::AlreadyGone`] when it is missing.
    /// Refuses a directory less than two levels deep (`/srv`, `/home`): `InvalidInput`.
    async fn remove_dir(&self, dir: &str) -> Result<Deleted>;
}

fn fail<T>(field: &str, rule: impl std::fmt::Display) -> Result<T> {
    Err(Error::invalid_field(field, rule))
}

/// Checks one component of a path: `A-Z a-z 0-9 . _ -`, not `.` or `..`, not starting with
/// `-`.
fn component(field: &str, value: &str, part: &str) -> Result<()> {
    if part.is_empty() {
        return fail(
            field,
            format!("{value:?} has an empty path component ('//' or a trailing '/')"),
        );
    }
    if part == "." || part == ".." {
        return fail(
            field,
            format!("{value:?} must not have '.' or '..' components"),
        );
    }
    if part.starts_with('-') {
        return fail(
            field,
            format!("{value:?} has a component starting with '-'"),
        );
    }
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return fail(
            field,
            format!(
                "{value:?} contains {c:?}; only letters, digits, '.', '_', '-' and '/' are allowed"
            ),
        );
    }
    Ok(())
}

/// An absolute directory or file path on a host: starts with `/`, at most
/// [`MAX_PATH_BYTES`], components of `A-Z a-z 0-9 . _ -` that are not `.` or `..` and do not
/// start with `-`, no `//`, no trailing `/`, not `/` itself.
///
/// ```
/// use provisio::host::dir_path;
/// assert!(dir_path("dir", "/srv/acme").is_ok());
/// for bad in ["srv/acme", "/", "/srv//acme", "/srv/acme/", "/srv/a b", "/srv/$(id)", "/srv/-rf"] {
///     let e = dir_path("dir", bad).unwrap_err();
///     assert!(e.message().starts_with("invalid dir: "), "{e}");
/// }
/// ```
pub fn dir_path(field: &str, value: &str) -> Result<String> {
    if value.is_empty() || value.len() > MAX_PATH_BYTES {
        return fail(
            field,
            format!(
                "must be 1 to {MAX_PATH_BYTES} bytes long, got {}",
                value.len()
            ),
        );
    }
    let Some(rest) = value.strip_prefix('/') else {
        return fail(
            field,
            format!("{value:?} must be an absolute path (start with '/')"),
        );
    };
    if rest.is_empty() {
        return fail(field, "must not be '/' itself");
    }
    for part in rest.split('/') {
        component(field, value, part)?;
    }
    Ok(value.to_string())
}

/// A file name relative to its directory: at most [`MAX_FILE_NAME_BYTES`], `/`-separated
/// components of `A-Z a-z 0-9 . _ -` that are not `.` or `..` and do not start with `-`; not
/// absolute.
///
/// ```
/// use provisio::host::file_name;
/// assert!(file_name("files", "docker-compose.yml").is_ok());
/// assert!(file_name("files", "conf/nginx.conf").is_ok());
/// assert!(file_name("files", "/etc/passwd").is_err());
/// assert!(file_name("files", "../x").is_err());
/// ```
pub fn file_name(field: &str, value: &str) -> Result<String> {
    if value.is_empty() || value.len() > MAX_FILE_NAME_BYTES {
        return fail(
            field,
            format!(
                "must be 1 to {MAX_FILE_NAME_BYTES} bytes long, got {}",
                value.len()
            ),
        );
    }
    if value.starts_with('/') {
        return fail(
            field,
            format!("{value:?} must be relative to the directory"),
        );
    }
    for part in value.split('/') {
        component(field, value, part)?;
    }
    Ok(value.to_string())
}

/// A command's arguments: 1 to [`MAX_ARGS`] of them, together at most [`MAX_ARGS_BYTES`],
/// none holding NUL, the program (the first) not empty and not starting with `-`.
///
/// ```
/// use provisio::host::command_args;
/// assert!(command_args("start", &["docker".into(), "compose".into()]).is_ok());
/// assert!(command_args("start", &[]).is_err());
/// assert!(command_args("start", &["".into()]).is_err());
/// ```
pub fn command_args(field: &str, args: &[String]) -> Result<()> {
    let Some(program) = args.first() else {
        return fail(field, "must name a program to run");
    };
    if program.trim().is_empty() {
        return fail(field, "the program (first argument) must not be empty");
    }
    if program.starts_with('-') {
        return fail(
            field,
            format!("the program {program:?} must not start with '-'"),
        );
    }
    if args.len() > MAX_ARGS {
        return fail(
            field,
            format!(
                "has {} arguments; at most {MAX_ARGS} are allowed",
                args.len()
            ),
        );
    }
    let total: usize = args.iter().map(String::len).sum();
    if total > MAX_ARGS_BYTES {
        return fail(
            field,
            format!("its arguments are {total} bytes; at most {MAX_ARGS_BYTES} are allowed"),
        );
    }
    if let Some(i) = args.iter().position(|a| a.contains('\0')) {
        return fail(field, format!("argument {i} contains NUL"));
    }
    Ok(())
}

/// Checks the arguments of [`Host::write_files`]: `dir` ([`dir_path`]), every name
/// ([`file_name`]) and every size (at most `max_file_bytes`); at least one file.
pub fn check_files(dir: &str, files: &BTreeMap<String, Bytes>, max_file_bytes: u64) -> Result<()> {
    dir_path("dir", dir)?;
    if files.is_empty() {
        return fail("files", "must name at least one file");
    }
    for (name, body) in files {
        file_name("files", name)?;
        if body.len() as u64 > max_file_bytes {
            return fail(
                "files",
                format!(
                    "{name:?} is {} bytes; at most {max_file_bytes} are allowed",
                    body.len()
                ),
            );
        }
    }
    Ok(())
}

/// Checks the argument of [`Host::remove_dir`]: [`dir_path`], at least two levels deep.
pub fn check_removable(dir: &str) -> Result<()> {
    dir_path("dir", dir)?;
    if dir.matches('/').count() < 2 {
        return fail(
            "dir",
            format!("{dir:?} is a top-level directory; refusing to remove it"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names() {
        for ok in ["/srv/acme", "/a", "/srv/tenants/acme-1/stack_v2.d"] {
            assert_eq!(dir_path("dir", ok).unwrap(), ok);
        }
        for (bad, rule) in [
            ("", "1 to"),
            ("relative", "absolute"),
            ("/", "'/' itself"),
            ("/srv/../etc", "'..'"),
            ("/srv/./x", "'.'"),
            ("/srv//x", "empty"),
            ("/srv/x/", "empty"),
            ("/srv/a b", "' '"),
            ("/srv/a;rm", "';'"),
            ("/srv/$HOME", "'$'"),
            ("/srv/a\nb", "'\\n'"),
            ("/srv/-x", "'-'"),
            ("/srv/caf\u{e9}", "only letters"),
        ] {
            let e = dir_path("dir", bad).unwrap_err();
            assert!(e.message().starts_with("invalid dir: "), "{bad:?}: {e}");
            assert!(e.message().contains(rule), "{bad:?}: {e}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
        assert!(dir_path("dir", &long).is_err());
        assert!(file_name("files", &"a".repeat(MAX_FILE_NAME_BYTES)).is_ok());
        assert!(file_name("files", &"a".repeat(MAX_FILE_NAME_BYTES + 1)).is_err());
        for bad in ["", "/x", "a/../b", "a//b", ".", "a b", "-x"] {
            let e = file_name("files", bad).unwrap_err();
            assert!(e.message().starts_with("invalid files: "), "{bad:?}: {e}");
        }
        assert!(check_removable("/srv/acme").is_ok());
        let e = check_removable("/srv").unwrap_err();
        assert!(e.message().contains("top-level"), "{e}");
    }

    #[test]
    fn commands() {
        let c = HostCommand::new("/srv/a", ["sh", "-c", "echo 'hi' > x"]);
        assert!(c.validated().is_ok());
        assert_eq!(c.display(), r"sh -c 'echo '\''hi'\'' > x'");
        assert!(HostCommand::new("srv", ["true"]).validated().is_err());
        assert!(HostCommand::new("/srv", ["-rf"]).validated().is_err());
        assert!(HostCommand::new("/srv", ["a\0b"]).validated().is_err());
        let many: Vec<String> = (0..=MAX_ARGS).map(|i| i.to_string()).collect();
        assert!(command_args("start", &many).is_err());
        assert_eq!(display_args(&["".into()]), "''");
    }

    #[test]
    fn files_and_output() {
        let mut files = BTreeMap::new();
        assert!(check_files("/srv/a", &files, 10).is_err());
        files.insert("a.txt".to_string(), Bytes::from_static(b"12345"));
        assert!(check_files("/srv/a", &files, 10).is_ok());
        let e = check_files("/srv/a", &files, 4).unwrap_err();
        assert!(e.message().contains("at most 4"), "{e}");
        let out = CommandOutput {
            exit_code: 2,
            stdout: Bytes::new(),
            stderr: Bytes::from("one\n\ntwo\nthree\nfour\nfive\nsix\n"),
            truncated: false,
        };
        assert!(!out.success());
        assert_eq!(out.stderr_tail(), "two | three | four | five | six");
        assert!(CommandOutput::new(0, "x").success());
    }
}
