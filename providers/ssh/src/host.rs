//! [`SshHost`]: the [`Host`] capability over the system OpenSSH client.

use crate::client::{Raw, SshClient};
use crate::config::SshConfig;
use crate::script::{self, FileAnswer, Inspected};
use provisio::host::{
    self, CommandOutput, DirInspection, Host, HostCapabilities, HostCommand, MAX_OUTPUT_BYTES,
    MAX_READ_BYTES,
};
use provisio::{Bytes, Deleted, Error, ErrorKind, Provider, ProviderInfo, Result};
use std::collections::BTreeMap;

/// The provider name in [`ProviderInfo`], errors and request counts.
pub const PROVIDER: &str = "ssh";

/// The largest file [`SshHost`] uploads (64 MiB): an upload is held in memory once.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Room for the framing lines of an answer.
const FRAMING: usize = 256;

/// A remote host reached with the system `ssh` client (see the [crate docs](crate)).
#[derive(Debug)]
pub struct SshHost {
    client: SshClient,
}

impl SshHost {
    /// A host as `config` describes it. Checks the configuration (`InvalidInput` naming the
    /// setting) and, for a pinned `host_key`, writes its private known_hosts file; connects to
    /// nothing.
    pub fn new(config: SshConfig) -> Result<SshHost> {
        config.check()?;
        let mut info = ProviderInfo::new(PROVIDER, config.account());
        info.quota = config
            .rate_limit
            .as_ref()
            .map(|l| l.quota("rate_limit"))
            .transpose()?;
        Ok(SshHost {
            client: SshClient::new(&config, info)?,
        })
    }

    fn error(&self, e: Error, op: &str, resource: &str) -> Error {
        let e = e.in_context(PROVIDER, op);
        if e.resource().is_none() {
            e.with_resource(resource)
        } else {
            e
        }
    }

    /// Runs the inspect script: one request.
    async fn inspect_raw(
        &self,
        what: &str,
        dir: &str,
        file: Option<&str>,
        args: Option<&[String]>,
    ) -> Result<(Inspected, Raw)> {
        let limit = FRAMING
            + if file.is_some() { MAX_READ_BYTES } else { 0 }
            + if args.is_some() { MAX_OUTPUT_BYTES } else { 0 };
        let raw = self
            .client
            .call(
                what,
                &script::inspect(dir, file, args),
                None,
                limit,
                MAX_OUTPUT_BYTES,
            )
            .await?;
        if raw.status != Some(0) {
            return Err(self.client.failure(&raw, what));
        }
        let parsed = script::parse_inspect(
            &raw.head,
            &raw.tail,
            raw.complete,
            file.is_some(),
            args.is_some(),
            MAX_OUTPUT_BYTES,
        )
        .map_err(|why| {
            Error::new(
                ErrorKind::Transient,
                format!(
                    "{what}: a broken answer from {}: {why}",
                    self.client.account
                ),
            )
        })?;
        Ok((parsed, raw))
    }

    fn output(&self, parsed: &Inspected, raw: &Raw) -> Option<CommandOutput> {
        parsed
            .command
            .as_ref()
            .map(|(stdout, cut, status)| CommandOutput {
                exit_code: *status,
                stdout: Bytes::from(stdout.clone()),
                stderr: Bytes::from(raw.stderr.clone()),
                truncated: *cut || raw.stderr_cut,
            })
    }

    fn file(&self, answer: &FileAnswer, path: &str) -> Result<Option<Bytes>> {
        match answer {
            FileAnswer::NotAsked | FileAnswer::Missing => Ok(None),
            FileAnswer::Content(b) => Ok(Some(Bytes::from(b.clone()))),
            FileAnswer::TooLarge(n) => Err(Error::invalid_field(
                "path",
                format!("{path:?} is {n} bytes; read_file reads at most {MAX_READ_BYTES}"),
            )),
        }
    }
}

impl Provider for SshHost {
    fn info(&self) -> ProviderInfo {
        self.client.info.clone()
    }
}

#[provisio::async_trait]
impl Host for SshHost {
    fn capabilities(&self) -> HostCapabilities {
        HostCapabilities {
            commands: true,
            max_file_bytes: MAX_FILE_BYTES,
        }
    }

    async fn write_files(&self, dir: &str, files: &BTreeMap<String, Bytes>) -> Result<()> {
        let op = "host.write_files";
        async {
            host::check_files(dir, files, MAX_FILE_BYTES)?;
            let what = format!("upload to {dir}");
            let names: Vec<&str> = files.keys().map(String::as_str).collect();
            let archive = crate::tar::archive(files);
            let raw = self
                .client
                .call(
                    &what,
                    &script::write(dir, &names),
                    Some(archive),
                    FRAMING,
                    MAX_OUTPUT_BYTES,
                )
                .await?;
            if raw.status == Some(0) && raw.head.starts_with(b"provisio:written\n") {
                Ok(())
            } else {
                Err(self.client.failure(&raw, &what))
            }
        }
        .await
        .map_err(|e| self.error(e, op, dir))
    }

    async fn read_file(&self, path: &str) -> Result<Option<Bytes>> {
        let op = "host.read_file";
        async {
            host::dir_path("path", path)?;
            let (dir, name) = path.rsplit_once('/').expect("an absolute path");
            let dir = if dir.is_empty() { "/" } else { dir };
            let what = format!("read {path}");
            let (parsed, _) = self.inspect_raw(&what, dir, Some(name), None).await?;
            if !parsed.dir {
                return Ok(None);
            }
            self.file(&parsed.file, path)
        }
        .await
        .map_err(|e| self.error(e, op, path))
    }

    async fn run(&self, command: &HostCommand) -> Result<Option<CommandOutput>> {
        let op = "host.run";
        async {
            command.validated()?;
            let what = format!("run `{}` in {}", command.display(), command.dir);
            let (parsed, raw) = self
                .inspect_raw(&what, &command.dir, None, Some(&command.args))
                .await?;
            if !parsed.dir {
                return Ok(None);
            }
            Ok(self.output(&parsed, &raw))
        }
        .await
        .map_err(|e| self.error(e, op, &command.dir))
    }

    async fn inspect(
        &self,
        dir: &str,
        file: &str,
        args: Option<&[String]>,
    ) -> Result<Option<DirInspection>> {
        let op = "host.inspect";
        async {
            host::dir_path("dir", dir)?;
            host::file_name("file", file)?;
            if let Some(a) = args {
                host::command_args("command", a)?;
            }
            let what = format!("inspect {dir}");
            let (parsed, raw) = self.inspect_raw(&what, dir, Some(file), args).await?;
            if !parsed.dir {
                return Ok(None);
            }
            Ok(Some(DirInspection {
                file: self.file(&parsed.file, &format!("{dir}/{file}"))?,
                command: self.output(&parsed, &raw),
            }))
        }
        .await
        .map_err(|e| self.error(e, op, dir))
    }

    async fn remove_dir(&self, dir: &str) -> Result<Deleted> {
        let op = "host.remove_dir";
        async {
            host::check_removable(dir)?;
            let what = format!("remove {dir}");
            let raw = self
                .client
                .call(&what, &script::remove(dir), None, FRAMING, MAX_OUTPUT_BYTES)
                .await?;
            match (raw.status, raw.head.as_slice()) {
                (Some(0), b"provisio:removed\n") => Ok(Deleted::Deleted),
                (Some(0), b"provisio:no-dir\n") => Ok(Deleted::AlreadyGone),
                _ => Err(self.client.failure(&raw, &what)),
            }
        }
        .await
        .map_err(|e| self.error(e, op, dir))
    }
}
