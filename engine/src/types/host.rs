//! `host.stack`: files uploaded to a directory of a remote host and a command that starts
//! what they describe (a docker compose stack), kept idempotent by a checksum file.

use super::in_resource;
use super::params::{self, Phase, TypedParams};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::host::{self, CommandOutput, DirInspection, HostCommand};
use provisio::types::ownership;
use provisio::{Bytes, Deleted, Error, ErrorKind, Host, Outcome, Result, Tags};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::fmt;

/// The file `host.stack` keeps in its directory: the checksum of what it deployed last and
/// whose stack it is.
pub const MARKER_FILE: &str = ".provisio-stack";

/// Characters a command written as one string may not hold: it is split at spaces and run
/// without a shell, so shell syntax would not do what it seems to.
const SHELL_SYNTAX: &str = ";&|<>`$\\\"'(){}*?[]~#!\n\r";

/// `host.stack`: files written to a directory of a host, and a command that starts them.
///
/// Parameters:
/// - `dir` (required): the absolute directory, e.g. `/srv/tenants/${tenant.name}`; created
///   when missing (mode 0700). Changing it replaces the stack.
/// - `files` (required): `{name: text}`, names relative to `dir` (`docker-compose.yml`,
///   `conf/nginx.conf`); each written with mode 0600 and replaced atomically. Render them
///   from templates with `{ $template: ..., vars: {...} }`. Files not named are left alone.
/// - `start` (required): the command that starts the stack in `dir`, e.g.
///   `docker compose up -d`.
/// - `status` (optional): a command run in `dir` whose exit status 0 means "running".
/// - `stop` (optional): the command delete runs in `dir` before it removes the directory.
///
/// A command is a list of arguments (`[docker, compose, -p, "${tenant.name}", up, -d]`) or a
/// string split at spaces. Either way it runs without a shell: each argument reaches the
/// program as it is, so a string may not hold shell syntax (`;`, `&&`, `|`, `>`, `$`, quotes,
/// ...); put a script in `files` and run that instead.
///
/// Apply reads the checksum file it keeps in `dir` ([`MARKER_FILE`]) and runs `status` in one
/// request. When the checksum matches the files and `start` and `status` exits 0, it is
/// `Unchanged`; otherwise it uploads every file (one request), runs `start` (one request)
/// and, once `start` succeeded, writes the checksum file (one request). A run interrupted
/// between the upload and the checksum therefore deploys again the next time. The checksum
/// file also names the tenant: a directory that holds another tenant's stack is refused
/// (`Conflict`), never adopted or removed.
///
/// Delete reads the checksum file (one request; a missing directory is `AlreadyGone`), runs
/// `stop` when given (one request; a failing `stop` fails the delete and keeps the
/// directory) and removes the directory (one request).
///
/// Outputs: `dir`, `checksum` (SHA-256 over the files and `start`; no file content). `read`
/// reports the stack missing when the checksum differs or `status` fails, so a refresh plans
/// it again.
///
/// ```yaml
/// staging_stack:
///   type: host.stack
///   provider: staging          # a host provider, e.g. kind = "ssh"
///   params:
///     dir: /srv/tenants/${tenant.name}
///     files:
///       docker-compose.yml: { $template: config/docker-compose.yml, vars: { hostname: "${dns_stg.fqdn}" } }
///     start: docker compose up -d --remove-orphans
///     # `docker compose ps` exits 0 even when nothing runs: test its output
///     status: [sh, -c, 'test -n "$(docker compose ps --status running --quiet)"']
///     stop: docker compose down
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HostStack;

/// A command parameter: a string split at spaces, or a list of arguments.
enum CommandParam {
    Line(String),
    Args(Vec<String>),
}

impl<'de> serde::Deserialize<'de> for CommandParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandParam;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command: a string or a list of arguments")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<CommandParam, E> {
                Ok(CommandParam::Line(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<CommandParam, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    args.push(arg);
                }
                Ok(CommandParam::Args(args))
            }
        }
        d.deserialize_any(V)
    }
}

impl CommandParam {
    /// The argument list; at load time, references are left for later.
    fn check(self, field: &str, phase: Phase) -> Result<Vec<String>> {
        let args = match self {
            CommandParam::Line(line) => {
                if phase.unresolved(&line) {
                    return Ok(vec![line]);
                }
                if let Some(c) = line.chars().find(|c| SHELL_SYNTAX.contains(*c)) {
                    return Err(Error::invalid_field(
                        field,
                        format!(
                            "{line:?} contains {c:?}: a command runs without a shell, so write \
                             it as a list of arguments, or put a script in `files` and run that"
                        ),
                    ));
                }
                line.split_whitespace().map(str::to_string).collect()
            }
            CommandParam::Args(args) => args,
        };
        if phase == Phase::Load && args.iter().any(|a| params::is_unresolved(a)) {
            return Ok(args);
        }
        host::command_args(field, &args)?;
        Ok(args)
    }
}

/// The parameters of `host.stack` (see [`HostStack`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StackParams {
    dir: String,
    files: BTreeMap<String, String>,
    start: CommandParam,
    status: Option<CommandParam>,
    stop: Option<CommandParam>,
}

/// What `host.stack` works with.
struct StackSpec {
    dir: String,
    files: BTreeMap<String, Bytes>,
    start: Vec<String>,
    status: Option<Vec<String>>,
    stop: Option<Vec<String>>,
}

impl TypedParams for StackParams {
    const TYPE: &'static str = "host.stack";
    const REPLACE: &'static [&'static str] = &["dir"];
    type Spec = StackSpec;

    fn check(self, phase: Phase) -> Result<StackSpec> {
        let dir = phase.name("dir", &self.dir, host::dir_path)?;
        if self.files.is_empty() {
            return Err(Error::invalid_field("files", "must name at least one file"));
        }
        for name in self.files.keys() {
            let field = params::entry("files", name);
            host::file_name(&field, name)?;
            if name == MARKER_FILE {
                return Err(Error::invalid_field(
                    &field,
                    format!("{MARKER_FILE} is the checksum file host.stack keeps itself"),
                ));
            }
        }
        Ok(StackSpec {
            dir,
            files: self
                .files
                .into_iter()
                .map(|(k, v)| (k, Bytes::from(v)))
                .collect(),
            start: self.start.check("start", phase)?,
            status: self.status.map(|c| c.check("status", phase)).transpose()?,
            stop: self.stop.map(|c| c.check("stop", phase)).transpose()?,
        })
    }
}

impl StackSpec {
    /// SHA-256 over every file (name and content, length-prefixed, in name order) and the
    /// `start` arguments, in hex.
    fn checksum(&self) -> String {
        let mut h = sha2::Sha256::new();
        let mut part = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        part(b"host.stack/1");
        for (name, body) in &self.files {
            part(name.as_bytes());
            part(body);
        }
        for arg in &self.start {
            part(arg.as_bytes());
        }
        hex::encode(h.finalize())
    }

    fn outputs(&self, checksum: &str) -> Value {
        json!({ "dir": self.dir, "checksum": checksum })
    }
}

/// The checksum file's content.
#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    checksum: String,
    tenant: String,
    blueprint: String,
    resource: String,
}

impl Marker {
    fn of(ctx: &StepContext<'_>, checksum: &str) -> Marker {
        let tag = |k: &str, default: &str| {
            ctx.ownership
                .get(k)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        Marker {
            checksum: checksum.to_string(),
            tenant: tag(ownership::TENANT, &ctx.tenant.name),
            blueprint: tag(ownership::BLUEPRINT, ctx.blueprint),
            resource: tag(ownership::RESOURCE, ctx.resource),
        }
    }

    /// The marker in a checksum file; `None` when there is none or it is not one.
    fn read(file: Option<&Bytes>) -> Option<Marker> {
        serde_json::from_slice(file?).ok()
    }

    fn tags(&self) -> Tags {
        ownership::tags(&self.tenant, &self.blueprint, &self.resource)
    }
}

/// What one inspection of the directory says about the stack.
struct Found {
    marker: Option<Marker>,
    status: Option<CommandOutput>,
}

impl Found {
    fn of(inspection: DirInspection) -> Found {
        Found {
            marker: Marker::read(inspection.file.as_ref()),
            status: inspection.command,
        }
    }

    /// Deployed with `checksum` and, when there is a status command, running.
    fn is_current(&self, checksum: &str) -> bool {
        self.marker.as_ref().is_some_and(|m| m.checksum == checksum)
            && self.status.as_ref().is_none_or(CommandOutput::success)
    }
}

/// Reads the checksum file and runs `status`, in one request; `None` when `dir` is missing.
async fn inspect(
    host: &dyn Host,
    dir: &str,
    status: Option<&Vec<String>>,
) -> Result<Option<Found>> {
    Ok(host
        .inspect(dir, MARKER_FILE, status.map(Vec::as_slice))
        .await?
        .map(Found::of))
}

/// Refuses a directory whose checksum file names another tenant.
fn check_owner(ctx: &StepContext<'_>, found: &Found, dir: &str) -> Result<()> {
    match &found.marker {
        Some(m) => super::check_owner(ctx, &m.tags(), &format!("host directory {dir:?}")),
        None => Ok(()),
    }
}

/// Runs `args` in `dir` and fails unless it exits 0.
async fn run_ok(host: &dyn Host, field: &str, dir: &str, args: &[String]) -> Result<()> {
    let command = HostCommand::new(dir, args.iter().cloned());
    match host.run(&command).await? {
        None => Err(Error::not_found(format!(
            "cannot run the {field} command: the directory {dir:?} does not exist"
        ))),
        Some(out) if out.success() => Ok(()),
        Some(out) => Err(Error::new(
            ErrorKind::Unexpected,
            format!(
                "the {field} command `{}` exited with status {} in {dir}: {}",
                command.display(),
                out.exit_code,
                out.stderr_tail()
            ),
        )),
    }
}

#[provisio::async_trait]
impl ResourceType for HostStack {
    fn name(&self) -> &str {
        "host.stack"
    }

    fn capability(&self) -> Capability {
        Capability::Host
    }

    fn validate(&self, params: &Value) -> Result<()> {
        StackParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        StackParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["dir", "checksum"]
    }

    fn reports_existence(&self) -> bool {
        // `apply` reports whether the directory was there
        true
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "host stack {}",
            StackParams::parse(params, Phase::Resolved)?.dir
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = StackParams::parse(params, Phase::Resolved)?;
        let host = ctx.providers.host(ctx.provider)?;
        let checksum = spec.checksum();
        let found = inspect(host.as_ref(), &spec.dir, spec.status.as_ref())
            .await
            .map_err(in_resource(ctx))?;
        Ok(found
            .filter(|f| f.is_current(&checksum))
            .map(|_| spec.outputs(&checksum)))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = StackParams::parse(params, Phase::Resolved)?;
        let host = ctx.providers.host(ctx.provider)?;
        let checksum = spec.checksum();
        let found = inspect(host.as_ref(), &spec.dir, spec.status.as_ref())
            .await
            .map_err(in_resource(ctx))?;
        provisio::existence::found(found.is_some());
        if let Some(found) = &found {
            check_owner(ctx, found, &spec.dir)?;
            if found.is_current(&checksum) {
                return Ok(Applied {
                    outputs: spec.outputs(&checksum),
                    outcome: Outcome::Unchanged,
                });
            }
        }
        host.write_files(&spec.dir, &spec.files)
            .await
            .map_err(in_resource(ctx))?;
        run_ok(host.as_ref(), "start", &spec.dir, &spec.start)
            .await
            .map_err(in_resource(ctx))?;
        // only now: a failed start leaves the old checksum, so the next apply starts again
        let marker = serde_json::to_vec(&Marker::of(ctx, &checksum))
            .map_err(|e| Error::unexpected("cannot write the checksum file").with_source(e))?;
        let marker_file = BTreeMap::from([(MARKER_FILE.to_string(), Bytes::from(marker))]);
        host.write_files(&spec.dir, &marker_file)
            .await
            .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: spec.outputs(&checksum),
            outcome: if found.is_some() {
                Outcome::Updated
            } else {
                Outcome::Created
            },
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = StackParams::parse(params, Phase::Resolved)?;
        let host = ctx.providers.host(ctx.provider)?;
        let Some(found) = inspect(host.as_ref(), &spec.dir, None)
            .await
            .map_err(in_resource(ctx))?
        else {
            return Ok(Deleted::AlreadyGone);
        };
        check_owner(ctx, &found, &spec.dir)?;
        if let Some(stop) = &spec.stop {
            // a stack that cannot be stopped keeps its directory (and its compose file)
            run_ok(host.as_ref(), "stop", &spec.dir, stop)
                .await
                .map_err(in_resource(ctx))?;
        }
        host.remove_dir(&spec.dir).await.map_err(in_resource(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, check_outputs, lifecycle, rejects};
    use provisio_memory::host::CommandAnswer;

    fn params() -> Value {
        json!({
            "dir": "/srv/tenants/acme",
            "files": {"docker-compose.yml": "services: {}\n", "conf/app.env": "A=1\n"},
            "start": "docker compose up -d",
            "status": ["docker", "compose", "ps", "--quiet"],
            "stop": "docker compose down",
        })
    }

    #[test]
    fn validates_params() {
        HostStack.validate(&params()).unwrap();
        HostStack
            .validate(&json!({
                "dir": "/srv/${tenant.name}",
                "files": {"a": "${web.public_ip}"},
                "start": ["run", "${tenant.name}"],
                "status": "check ${tenant.name}",
            }))
            .unwrap();
        let with = |k: &str, v: Value| {
            let mut p = params();
            p[k] = v;
            p
        };
        rejects(HostStack.validate(&with("dir", json!("srv/acme"))), "dir");
        rejects(
            HostStack.validate(&with("dir", json!("/srv/../etc"))),
            "dir",
        );
        rejects(HostStack.validate(&with("dir", json!("/srv/a b"))), "dir");
        rejects(HostStack.validate(&with("files", json!({}))), "files");
        rejects(
            HostStack.validate(&with("files", json!({"../x": "a"}))),
            r#"files["../x"]"#,
        );
        rejects(
            HostStack.validate(&with("files", json!({".provisio-stack": "a"}))),
            r#"files[".provisio-stack"]"#,
        );
        rejects(
            HostStack.validate(&with("files", json!({"a": 3}))),
            "files.a",
        );
        rejects(
            HostStack.validate(&with("start", json!("docker compose up -d && rm -rf /"))),
            "start",
        );
        rejects(
            HostStack.validate(&with("start", json!("echo $HOME"))),
            "start",
        );
        rejects(HostStack.validate(&with("start", json!([]))), "start");
        rejects(HostStack.validate(&with("start", json!(""))), "start");
        rejects(
            HostStack.validate(&with("stop", json!(["a", 1]))),
            "stop[1]",
        );
        rejects(HostStack.validate(&with("status", json!(7))), "status");
        rejects(
            HostStack.validate(&with("password", json!("x"))),
            "password",
        );
        // a list keeps arguments whole, shell syntax included
        HostStack
            .validate(&with("start", json!(["sh", "-c", "a && b"])))
            .unwrap();
        // resolved: a reference that resolved to shell syntax is refused
        let e = StackParams::parse(&with("start", json!("echo ${x}")), Phase::Resolved);
        assert!(e.is_err());
    }

    #[tokio::test]
    async fn stack_lifecycle_on_the_memory_host() {
        let h = Harness::new();
        let ctx = h.ctx("stack", "tok");
        let out = lifecycle(&HostStack, &ctx, &params()).await;
        assert_eq!(out["dir"], "/srv/tenants/acme");
        assert_eq!(out["checksum"].as_str().unwrap().len(), 64);
        let commands: Vec<String> = h
            .cloud
            .host
            .commands()
            .into_iter()
            .map(|c| c.command)
            .collect();
        assert_eq!(
            commands,
            [
                // apply: status (dir missing: not run), start; apply again: status;
                // read: status; delete: stop
                "docker compose up -d",
                "docker compose ps --quiet",
                "docker compose ps --quiet",
                "docker compose down",
            ]
        );
        assert!(!h.cloud.host.has_dir("/srv/tenants/acme"));
    }

    #[tokio::test]
    async fn requests_changes_status_and_owner() {
        let h = Harness::new();
        let ctx = h.ctx("stack", "tok");
        let faults = h.cloud.host.faults().clone();
        let a = HostStack.apply(&ctx, &params(), None).await.unwrap();
        assert_eq!(a.outcome, Outcome::Created);
        // inspect, upload, start, checksum
        assert_eq!(faults.calls("host.*"), 4);
        let marker = h
            .cloud
            .host
            .file("/srv/tenants/acme/.provisio-stack")
            .unwrap();
        let m: Marker = serde_json::from_slice(&marker).unwrap();
        assert_eq!(m.checksum, a.outputs["checksum"]);
        assert_eq!((m.tenant.as_str(), m.resource.as_str()), ("acme", "stack"));
        assert_eq!(
            h.cloud.host.file("/srv/tenants/acme/conf/app.env").unwrap(),
            Bytes::from("A=1\n")
        );

        // unchanged: one request
        faults.reset_counters();
        let b = HostStack.apply(&ctx, &params(), None).await.unwrap();
        assert_eq!(b.outcome, Outcome::Unchanged);
        assert_eq!(faults.calls("host.*"), 1);

        // the stack stopped: started again
        h.cloud
            .host
            .answer("docker compose ps --quiet", CommandAnswer::exit(1));
        assert_eq!(HostStack.read(&ctx, &params(), None).await.unwrap(), None);
        let c = HostStack.apply(&ctx, &params(), None).await.unwrap();
        assert_eq!(c.outcome, Outcome::Updated);
        h.cloud.host.clear_answer("docker compose ps --quiet");

        // a changed file: a new checksum, uploaded and started
        let mut changed = params();
        changed["files"]["docker-compose.yml"] = json!("services: {web: {}}\n");
        let d = HostStack.apply(&ctx, &changed, None).await.unwrap();
        assert_eq!(d.outcome, Outcome::Updated);
        assert_ne!(d.outputs["checksum"], a.outputs["checksum"]);
        check_outputs(&HostStack, &d.outputs);

        // a start that fails keeps the old checksum: the next apply starts again
        h.cloud.host.answer(
            "docker compose up -d",
            CommandAnswer {
                exit_code: 1,
                stdout: String::new(),
                stderr: "pull access denied\n".into(),
            },
        );
        let e = HostStack.apply(&ctx, &params(), None).await.unwrap_err();
        assert!(e.message().contains("exited with status 1"), "{e}");
        assert!(e.message().contains("pull access denied"), "{e}");
        h.cloud.host.clear_answer("docker compose up -d");
        let again = HostStack.apply(&ctx, &params(), None).await.unwrap();
        assert_eq!(again.outcome, Outcome::Updated);

        // another tenant's stack in the same directory is neither adopted nor removed
        let other = Harness::for_tenant("globex");
        let octx = StepContext {
            providers: &h.providers,
            ..other.ctx("stack", "tok")
        };
        let e = HostStack.apply(&octx, &params(), None).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
        let e = HostStack
            .delete(&octx, &params(), &Value::Null)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
        assert!(h.cloud.host.has_dir("/srv/tenants/acme"));

        // a stop that fails keeps the directory
        h.cloud
            .host
            .answer("docker compose down", CommandAnswer::exit(2));
        let e = HostStack
            .delete(&ctx, &params(), &Value::Null)
            .await
            .unwrap_err();
        assert!(e.message().contains("stop command"), "{e}");
        assert!(h.cloud.host.has_dir("/srv/tenants/acme"));
        h.cloud.host.clear_answer("docker compose down");
        faults.reset_counters();
        assert_eq!(
            HostStack
                .delete(&ctx, &params(), &Value::Null)
                .await
                .unwrap(),
            Deleted::Deleted
        );
        // inspect, stop, remove
        assert_eq!(faults.calls("host.*"), 3);
    }
}
