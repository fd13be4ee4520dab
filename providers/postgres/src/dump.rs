//! Dump and restore of one database through `pg_dump` and `pg_restore`, streamed.
//!
//! * **Dump**: `pg_dump --format=custom --no-owner --no-password --dbname=<conninfo>` runs as
//!   a child process (an argument vector, no shell); its standard output is the
//!   [`ByteStream`], read in chunks of up to [`CHUNK`] bytes as the reader asks for them
//!   (the pipe's back-pressure slows `pg_dump` down to the upload's pace). Never a temporary
//!   file. When `pg_dump` exits with a failure, the stream's last item is an error with its
//!   exit status and standard error; dropping the stream early kills the process.
//! * **Restore**: `pg_restore --no-owner --role=<owner> --single-transaction --exit-on-error
//!   --no-password --dbname=<conninfo>` with its standard input fed from the stream chunk by
//!   chunk. One transaction: a restore that fails (or whose stream breaks off, which kills
//!   the process) leaves the database as it was before it, empty.
//! * **Connection details** travel in the child's environment (`PGHOST`, `PGPORT`, `PGUSER`,
//!   `PGPASSWORD`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`, `PGAPPNAME`), which is
//!   cleared first (no inherited `PGSERVICE` or `PGOPTIONS` can redirect it); only the
//!   database name is an argument, as a conninfo string `dbname='...'`, so a name is never
//!   read as a URL or an option. The password is never on a command line, where `ps` shows
//!   it, nor in an error (standard error of the tools never contains it).
//! * **Binaries**: [`PostgresConfig::bin_dir`](crate::PostgresConfig::bin_dir) when set,
//!   else the newest `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu packages; the
//!   newest dumps every older server, and is the real binary rather than Debian's
//!   `pg_wrapper`), else the `PATH`.

use crate::config::{PostgresConfig, SslMode};
use provisio::{ByteStream, Bytes, Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdout, Command};

/// The most a dump stream reads from `pg_dump` at a time.
pub const CHUNK: usize = 256 * 1024;
/// How much of a tool's standard error is kept for its error message (the end of it).
const STDERR_KEPT: usize = 4 * 1024;

/// Where a PostgreSQL client program is: see the [module docs](self).
pub(crate) fn find_tool(config: &PostgresConfig, tool: &str) -> Result<PathBuf> {
    if let Some(dir) = &config.bin_dir {
        let path = dir.join(tool);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::invalid_field(
                "bin_dir",
                format!("{} has no {tool}", dir.display()),
            ))
        };
    }
    if let Some(path) = newest_versioned(Path::new("/usr/lib/postgresql"), tool) {
        return Ok(path);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let path = dir.join(tool);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    Err(Error::unsupported(&format!(
        "database dump and restore need {tool}: install the PostgreSQL client programs \
         (Debian: postgresql-client) or set bin_dir in the postgres provider's configuration"
    )))
}

/// `<root>/<version>/bin/<tool>` of the highest numeric version that has it.
fn newest_versioned(root: &Path, tool: &str) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version: Option<Vec<u32>> = e
                .file_name()
                .to_str()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect();
            let path = e.path().join("bin").join(tool);
            path.is_file().then_some((version?, path))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// A conninfo string naming only the database: `dbname='...'` with `\` and `'` escaped.
pub(crate) fn conninfo_dbname(name: &str) -> String {
    let escaped = name.replace('\\', "\\\\").replace('\'', "\\'");
    format!("dbname='{escaped}'")
}

/// A command for `tool` with a cleared environment holding the connection details.
pub(crate) fn command(config: &PostgresConfig, tool: &Path) -> Command {
    let mut cmd = Command::new(tool);
    cmd.env_clear();
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    // the tools' messages in English, as the classification below reads them
    cmd.env("LC_ALL", "C")
        .env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &config.user)
        .env("PGSSLMODE", config.sslmode.as_str())
        .env(
            "PGCONNECT_TIMEOUT",
            config.connect_timeout_secs.max(1).to_string(),
        )
        .env("PGAPPNAME", &config.application_name);
    match (&config.ca_file, config.sslmode) {
        (Some(ca), _) => {
            cmd.env("PGSSLROOTCERT", ca);
        }
        // libpq 16+: the operating system's roots, as the provider's own connections use
        (None, SslMode::VerifyFull) => {
            cmd.env("PGSSLROOTCERT", "system");
        }
        (None, _) => {}
    }
    if let Some(pw) = config.admin_password() {
        cmd.env("PGPASSWORD", pw.expose());
    }
    cmd.kill_on_drop(true);
    cmd
}

/// Reads a pipe to its end (so the child never blocks on it), keeping the last
/// [`STDERR_KEPT`] bytes.
async fn read_tail(mut pipe: impl AsyncRead + Unpin) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_KEPT {
                    kept.drain(..kept.len() - STDERR_KEPT);
                }
            }
        }
    }
    if kept.len() > STDERR_KEPT {
        kept.drain(..kept.len() - STDERR_KEPT);
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

/// The kind of a tool's failure, from its (English) standard error.
fn kind_of(stderr: &str) -> ErrorKind {
    let s = stderr.to_ascii_lowercase();
    if s.contains("does not exist") {
        ErrorKind::NotFound
    } else if s.contains("password authentication failed") || s.contains("no password supplied") {
        ErrorKind::Unauthenticated
    } else if s.contains("permission denied") || s.contains("must be owner") {
        ErrorKind::PermissionDenied
    } else if s.contains("server version mismatch") {
        ErrorKind::Unsupported
    } else if s.contains("connection to server")
        || s.contains("could not connect")
        || s.contains("server closed the connection")
        || s.contains("terminating connection")
    {
        ErrorKind::Transient
    } else if s.contains("input file does not appear to be a valid archive")
        || s.contains("unsupported version")
        || s.contains("did not find magic string")
    {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Unexpected
    }
}

/// The error of a tool that exited with `status`.
fn failed(what: &str, status: std::process::ExitStatus, stderr: &str) -> Error {
    let detail = if stderr.is_empty() {
        "no message".to_string()
    } else {
        stderr.replace('\n', " | ")
    };
    Error::new(
        kind_of(stderr),
        format!("{what} failed ({status}): {detail}"),
    )
}

fn spawn_failed(tool: &Path, e: std::io::Error) -> Error {
    Error::unexpected(format!("{} could not be started: {e}", tool.display()))
}

/// A running `pg_dump` whose standard output is being read.
struct Running {
    child: Child,
    stdout: ChildStdout,
    stderr: tokio::task::JoinHandle<String>,
    what: String,
}

/// Starts `pg_dump` of `name` and hands out its output as a stream.
pub(crate) fn dump(config: &PostgresConfig, name: &str) -> Result<ByteStream> {
    let tool = find_tool(config, "pg_dump")?;
    let mut cmd = command(config, &tool);
    cmd.arg("--format=custom")
        .arg("--no-owner")
        .arg("--no-password")
        .arg(format!("--dbname={}", conninfo_dbname(name)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| spawn_failed(&tool, e))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let running = Running {
        child,
        stdout,
        stderr: tokio::spawn(read_tail(stderr)),
        what: format!("pg_dump of database {name:?}"),
    };
    let stream = futures::stream::unfold(Some(running), |state| async move {
        let mut r = state?;
        let mut buf = bytes::BytesMut::with_capacity(CHUNK);
        match r.stdout.read_buf(&mut buf).await {
            Ok(0) => {
                let status = match r.child.wait().await {
                    Ok(s) => s,
                    Err(e) => {
                        let e = Error::unexpected(format!("{}: waiting for it: {e}", r.what));
                        return Some((Err(e), None));
                    }
                };
                let stderr = r.stderr.await.unwrap_or_default();
                if status.success() {
                    None
                } else {
                    Some((Err(failed(&r.what, status, &stderr)), None))
                }
            }
            Ok(_) => Some((Ok(buf.freeze()), Some(r))),
            Err(e) => {
                let _ = r.child.start_kill();
                let e = Error::transient(format!("{}: reading its output: {e}", r.what));
                Some((Err(e), None))
            }
        }
    });
    Ok(Box::pin(stream))
}

/// Runs `pg_restore` into `name` as `owner`, feeding it `body`; returns the bytes fed.
pub(crate) async fn restore(
    config: &PostgresConfig,
    name: &str,
    owner: &str,
    mut body: ByteStream,
) -> Result<u64> {
    use futures::StreamExt;
    let tool = find_tool(config, "pg_restore")?;
    let mut cmd = command(config, &tool);
    cmd.arg("--no-owner")
        .arg(format!("--role={owner}"))
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .arg("--no-password")
        .arg(format!("--dbname={}", conninfo_dbname(name)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let what = format!("pg_restore into database {name:?}");
    let mut child = cmd.spawn().map_err(|e| spawn_failed(&tool, e))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stderr = tokio::spawn(read_tail(child.stderr.take().expect("stderr is piped")));
    let mut fed = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk: Bytes = match chunk {
            Ok(c) => c,
            Err(e) => {
                // the transaction is rolled back when the process dies
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(e.context(format!("reading the dump for {what}")));
            }
        };
        if stdin.write_all(&chunk).await.is_err() {
            // pg_restore stopped reading: its exit status says why
            break;
        }
        fed += chunk.len() as u64;
    }
    drop(stdin);
    let status = child
        .wait()
        .await
        .map_err(|e| Error::unexpected(format!("{what}: waiting for it: {e}")))?;
    let stderr = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(failed(&what, status, &stderr));
    }
    Ok(fed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_is_quoted() {
        assert_eq!(conninfo_dbname("acme"), "dbname='acme'");
        assert_eq!(
            conninfo_dbname("it's a\\b host=evil"),
            "dbname='it\\'s a\\\\b host=evil'"
        );
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            kind_of(
                "pg_dump: error: connection to server at \"127.0.0.1\", port 1 failed: FATAL:  database \"x\" does not exist"
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(
                "pg_dump: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused"
            ),
            ErrorKind::Transient
        );
        assert_eq!(
            kind_of("pg_restore: error: input file does not appear to be a valid archive"),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind_of("FATAL:  password authentication failed for user \"x\""),
            ErrorKind::Unauthenticated
        );
        assert_eq!(kind_of("something else"), ErrorKind::Unexpected);
    }

    #[test]
    fn newest_version_wins() {
        let root = std::env::temp_dir().join(format!("provisio-pgbin-{}", std::process::id()));
        for v in ["9.6", "16", "13"] {
            let bin = root.join(v).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("pg_dump"), "").unwrap();
        }
        std::fs::create_dir_all(root.join("17").join("bin")).unwrap();
        assert_eq!(
            newest_versioned(&root, "pg_dump").unwrap(),
            root.join("16").join("bin").join("pg_dump")
        );
        assert_eq!(newest_versioned(&root, "pg_restore"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_password_is_in_the_environment_only() {
        let mut c = PostgresConfig::from_url("postgres://admin@db.example:5433/postgres").unwrap();
        c.password = Some(provisio::SecretString::new("hunter2-secret"));
        let cmd = command(&c, Path::new("/bin/true"));
        let std = cmd.as_std();
        assert!(
            std.get_args()
                .all(|a| !a.to_string_lossy().contains("hunter2"))
        );
        let env: Vec<(String, String)> = std
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.into(), v?.to_str()?.into())))
            .collect();
        assert!(env.contains(&("PGPASSWORD".into(), "hunter2-secret".into())));
        assert!(env.contains(&("PGPORT".into(), "5433".into())));
    }
}
