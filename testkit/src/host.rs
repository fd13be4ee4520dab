//! Conformance cases for [`Host`].
//!
//! Every case works in a fresh directory below [`HostContext::root`] and removes it at the
//! end. A real host runs the commands; the memory host answers them from its table (exit 0 and
//! no output unless scripted), so the cases that check what a command printed run only when
//! [`HostContext::real_commands`] says the provider really runs them.

use crate::{Tracker, expect_invalid, expect_unsupported, first_error, guarded};
use bytes::Bytes;
use provisio::host::HostCommand;
use provisio::{Deleted, Host, Result};
use std::collections::BTreeMap;

/// What the host cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostContext {
    /// An absolute directory the cases may create directories in (created when missing), e.g.
    /// `/tmp/provisio-conformance`. Never removed itself.
    pub root: String,
    /// Whether commands really run (a real host), so that their output and exit status can be
    /// checked; `false` for the memory host, whose commands answer exit 0.
    pub real_commands: bool,
}

impl HostContext {
    /// Cases work below `root` on a host that really runs commands.
    pub fn new(root: impl Into<String>) -> Self {
        HostContext {
            root: root.into(),
            real_commands: true,
        }
    }

    /// The same for a host whose commands only answer (the memory host).
    pub fn scripted(mut self) -> Self {
        self.real_commands = false;
        self
    }
}

/// Every host case by name.
pub const CASES: &[crate::Case<dyn Host, HostContext>] = crate::host_conformance!(@table);

/// Generates one `#[test]` per host case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::host_conformance! {
///     provider: my_host(),
///     context: provisio_testkit::host::HostContext::new("/tmp/provisio-conformance"),
/// }
/// ```
#[macro_export]
macro_rules! host_conformance {
    (@table) => { $crate::host_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* host [
            write_and_read,
            run_commands,
            arguments_stay_whole,
            inspect_in_one_call,
            files_are_private,
            remove_is_idempotent,
            not_found,
            invalid_paths,
            capability_honesty,
        ] }
    };
    ($($setup:tt)*) => { $crate::host_conformance!(@cases @tests { $($setup)* }); };
}

fn fresh_dir(ctx: &HostContext) -> String {
    format!(
        "{}/{}",
        ctx.root.trim_end_matches('/'),
        crate::unique("host")
    )
}

fn files(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Bytes> {
    pairs
        .iter()
        .map(|(n, b)| (n.to_string(), Bytes::copy_from_slice(b)))
        .collect()
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

async fn remove_all(h: &dyn Host, made: &Tracker) -> Result<()> {
    let mut results = Vec::new();
    for dir in made.all() {
        results.push(h.remove_dir(&dir).await.map(|_| ()));
    }
    first_error(results)
}

/// Files written in one call read back byte for byte (text, binary, empty, nested); a second
/// write replaces the files it names and leaves the others.
pub async fn write_and_read(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let dir = fresh_dir(ctx);
            made.add(dir.clone());
            let first = files(&[
                ("compose.yml", b"services: {}\n"),
                ("bin.dat", &[0, 1, 255, b'\n', b'\'']),
                ("empty", b""),
                ("conf/nested/app.env", b"A=1\n"),
            ]);
            h.write_files(&dir, &first).await?;
            for (name, body) in &first {
                let read = h.read_file(&format!("{dir}/{name}")).await?;
                assert_eq!(
                    read.as_ref(),
                    Some(body),
                    "read_file of {name} after write_files"
                );
            }
            h.write_files(&dir, &files(&[("compose.yml", b"services: {web: {}}\n")]))
                .await?;
            assert_eq!(
                h.read_file(&format!("{dir}/compose.yml")).await?,
                Some(Bytes::from_static(b"services: {web: {}}\n")),
                "a second write_files replaces the file"
            );
            assert_eq!(
                h.read_file(&format!("{dir}/empty")).await?,
                Some(Bytes::new()),
                "files a write_files does not name are left as they are"
            );
            Ok(())
        },
        remove_all(h, &made),
    )
    .await
}

/// Commands run in their directory and answer their exit status (and, on a real host, what
/// they printed); a command in a missing directory is not run (`None`).
pub async fn run_commands(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    if !h.capabilities().commands {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let dir = fresh_dir(ctx);
            made.add(dir.clone());
            h.write_files(&dir, &files(&[("a.txt", b"in the dir\n")]))
                .await?;
            let cat = h
                .run(&HostCommand::new(&dir, args(&["cat", "a.txt"])))
                .await?
                .expect("run in an existing directory answers");
            assert!(cat.success(), "cat a.txt: {cat:?}");
            if ctx.real_commands {
                assert_eq!(
                    &cat.stdout[..],
                    b"in the dir\n",
                    "a command runs in its directory"
                );
                let failing = h
                    .run(&HostCommand::new(
                        &dir,
                        args(&["sh", "-c", "echo out; echo err >&2; exit 3"]),
                    ))
                    .await?
                    .expect("run answers");
                assert_eq!(failing.exit_code, 3, "the exit status of a failing command");
                assert_eq!(&failing.stdout[..], b"out\n", "its stdout");
                assert!(
                    String::from_utf8_lossy(&failing.stderr).contains("err"),
                    "its stderr: {failing:?}"
                );
                assert!(!failing.truncated);
                // no input: a command that reads stdin gets end-of-file at once
                let read = h
                    .run(&HostCommand::new(&dir, args(&["cat"])))
                    .await?
                    .expect("run answers");
                assert_eq!((read.exit_code, &read.stdout[..]), (0, &b""[..]));
            }
            let missing = format!("{dir}/missing");
            assert_eq!(
                h.run(&HostCommand::new(&missing, args(&["true"]))).await?,
                None,
                "a command in a missing directory"
            );
            Ok(())
        },
        remove_all(h, &made),
    )
    .await
}

/// Arguments reach the program exactly as given, shell syntax included: quoting is the
/// provider's job, and nothing is interpreted by a shell (a real host only).
pub async fn arguments_stay_whole(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    if !h.capabilities().commands || !ctx.real_commands {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let dir = fresh_dir(ctx);
            made.add(dir.clone());
            h.write_files(&dir, &files(&[("x", b"")])).await?;
            let tricky = [
                "a b",
                "it's",
                "$HOME",
                "`id`",
                "$(touch pwned)",
                ";",
                "&&",
                "\"",
                "\\",
                "*",
                "line\nbreak",
                "",
            ];
            let mut words = vec!["printf", "[%s]"];
            words.extend(tricky);
            let out = h
                .run(&HostCommand::new(&dir, args(&words)))
                .await?
                .expect("run answers");
            let want: String = tricky.iter().map(|t| format!("[{t}]")).collect();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                want,
                "every argument reaches the program as one, unchanged"
            );
            let pwned = h.read_file(&format!("{dir}/pwned")).await?;
            assert!(pwned.is_none(), "an argument was run by a shell");
            Ok(())
        },
        remove_all(h, &made),
    )
    .await
}

/// `inspect` reads a file and runs a command in one call; a missing file is `None`, a
/// missing directory is `None` as a whole.
pub async fn inspect_in_one_call(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let dir = fresh_dir(ctx);
            made.add(dir.clone());
            assert_eq!(
                h.inspect(&dir, "marker", None).await?,
                None,
                "inspect of a missing directory"
            );
            h.write_files(&dir, &files(&[("marker", b"sum-1")])).await?;
            let seen = h
                .inspect(&dir, "marker", None)
                .await?
                .expect("the directory exists");
            assert_eq!(
                seen.file,
                Some(Bytes::from_static(b"sum-1")),
                "the file inspect read"
            );
            assert_eq!(seen.command, None, "no command was asked for");
            let seen = h
                .inspect(&dir, "other", None)
                .await?
                .expect("the directory exists");
            assert_eq!(seen.file, None, "a missing file");
            if h.capabilities().commands {
                let status = if ctx.real_commands {
                    args(&["sh", "-c", "cat marker; exit 4"])
                } else {
                    args(&["true"])
                };
                let seen = h
                    .inspect(&dir, "marker", Some(&status))
                    .await?
                    .expect("the directory exists");
                assert_eq!(seen.file, Some(Bytes::from_static(b"sum-1")));
                let out = seen.command.expect("the command ran");
                if ctx.real_commands {
                    assert_eq!(out.exit_code, 4, "the status command's exit status");
                    assert_eq!(&out.stdout[..], b"sum-1", "it ran in the directory");
                } else {
                    assert!(out.success());
                }
            }
            Ok(())
        },
        remove_all(h, &made),
    )
    .await
}

/// Files are readable by their owner only (0600) and the directories made for them are
/// private (0700) (a real host only: checked with `ls -l` there).
pub async fn files_are_private(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    if !h.capabilities().commands || !ctx.real_commands {
        return Ok(());
    }
    let made = Tracker::default();
    guarded(
        async {
            let dir = fresh_dir(ctx);
            made.add(dir.clone());
            h.write_files(&dir, &files(&[("secret.env", b"K=v\n"), ("sub/f", b"x")]))
                .await?;
            let out = h
                .run(&HostCommand::new(
                    &dir,
                    args(&["ls", "-ld", ".", "secret.env", "sub", "sub/f"]),
                ))
                .await?
                .expect("run answers");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let modes: Vec<&str> = text.lines().map(|l| &l[..10]).collect();
            assert_eq!(
                modes,
                ["drwx------", "-rw-------", "drwx------", "-rw-------"],
                "modes of the directory, a file, a nested directory and its file:\n{text}"
            );
            let listing = h
                .run(&HostCommand::new(&dir, args(&["ls", "-A"])))
                .await?
                .expect("run answers");
            assert_eq!(
                String::from_utf8_lossy(&listing.stdout),
                "secret.env\nsub\n",
                "an upload leaves nothing else behind"
            );
            Ok(())
        },
        remove_all(h, &made),
    )
    .await
}

/// `remove_dir` removes the directory with everything in it: `Deleted`, then `AlreadyGone`.
pub async fn remove_is_idempotent(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let dir = fresh_dir(ctx);
            made.add(dir.clone());
            h.write_files(&dir, &files(&[("a", b"1"), ("sub/b", b"2")]))
                .await?;
            assert_eq!(h.remove_dir(&dir).await?, Deleted::Deleted, "remove_dir");
            assert_eq!(h.read_file(&format!("{dir}/sub/b")).await?, None);
            assert_eq!(
                h.inspect(&dir, "a", None).await?,
                None,
                "the directory is gone"
            );
            assert_eq!(
                h.remove_dir(&dir).await?,
                Deleted::AlreadyGone,
                "a second remove_dir"
            );
            Ok(())
        },
        remove_all(h, &made),
    )
    .await
}

/// What was never written: `read_file` is `None`, `remove_dir` is `AlreadyGone`.
pub async fn not_found(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    let dir = fresh_dir(ctx);
    assert_eq!(
        h.read_file(&format!("{dir}/f")).await?,
        None,
        "read_file in a missing directory"
    );
    assert_eq!(
        h.remove_dir(&dir).await?,
        Deleted::AlreadyGone,
        "remove_dir of a missing directory"
    );
    assert_eq!(
        h.inspect(&dir, "f", None).await?,
        None,
        "inspect of a missing directory"
    );
    Ok(())
}

/// Bad paths, names and commands are `InvalidInput` naming the field, and change nothing.
pub async fn invalid_paths(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    let dir = fresh_dir(ctx);
    let ok = files(&[("a", b"1")]);
    for bad in [
        "relative/dir",
        "/",
        "/tmp/../etc",
        "/tmp/a b",
        "/tmp/$(id)",
        "/tmp//x",
    ] {
        expect_invalid(
            h.write_files(bad, &ok).await,
            "dir",
            &format!("write_files({bad:?})"),
        );
        expect_invalid(
            h.remove_dir(bad).await,
            "dir",
            &format!("remove_dir({bad:?})"),
        );
    }
    for bad in ["../x", "/etc/passwd", "a/../../b", "a b", "", "-rf"] {
        expect_invalid(
            h.write_files(&dir, &files(&[(bad, b"1")])).await,
            "files",
            &format!("write_files with the name {bad:?}"),
        );
    }
    expect_invalid(
        h.write_files(&dir, &BTreeMap::new()).await,
        "files",
        "write_files of nothing",
    );
    expect_invalid(
        h.read_file("etc/passwd").await,
        "path",
        "read_file of a relative path",
    );
    expect_invalid(
        h.remove_dir("/tmp").await,
        "dir",
        "remove_dir of a top-level directory",
    );
    expect_invalid(
        h.inspect(&dir, "../x", None).await,
        "file",
        "inspect of ../x",
    );
    if h.capabilities().commands {
        expect_invalid(
            h.run(&HostCommand::new(&dir, Vec::<String>::new())).await,
            "command",
            "run of no program",
        );
        expect_invalid(
            h.run(&HostCommand::new("rel", args(&["true"]))).await,
            "dir",
            "run in a relative dir",
        );
    }
    assert_eq!(
        h.inspect(&dir, "a", None).await?,
        None,
        "a refused call created {dir}"
    );
    Ok(())
}

/// What the capabilities deny is `Unsupported`; what they promise works.
pub async fn capability_honesty(h: &dyn Host, ctx: &HostContext) -> Result<()> {
    let caps = h.capabilities();
    assert!(
        caps.max_file_bytes >= 1024 * 1024,
        "a host takes files of 1 MiB at least"
    );
    let made = Tracker::default();
    guarded(
        async {
            let dir = fresh_dir(ctx);
            made.add(dir.clone());
            h.write_files(&dir, &files(&[("a", b"1")])).await?;
            let run = h.run(&HostCommand::new(&dir, args(&["true"]))).await;
            let inspect = h.inspect(&dir, "a", Some(&args(&["true"]))).await;
            if caps.commands {
                assert!(run?.is_some(), "run in an existing directory");
                assert!(
                    inspect?.is_some_and(|i| i.command.is_some()),
                    "inspect with a command"
                );
            } else {
                expect_unsupported(run, "run");
                expect_unsupported(inspect, "inspect with a command");
            }
            Ok(())
        },
        remove_all(h, &made),
    )
    .await
}
