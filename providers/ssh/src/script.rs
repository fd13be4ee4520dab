//! The remote side: the `sh` scripts each request runs, and the framed answer they print.
//!
//! Every value a script uses (a directory, a file name, each argument of a command) is
//! single-quoted with [`shell_quote`], so the remote shell reads it as one word whatever it
//! holds; the values were also checked at the boundary ([`provisio::host`]) and use a
//! character set that needs no quoting at all. Uploads go through stdin, never through the
//! command line.
//!
//! A script's standard output is framed so that the answer can be told from the output of
//! the command it runs:
//!
//! ```text
//! provisio:ok | provisio:no-dir          the directory exists, or not (then nothing else)
//! provisio:file:<n> <n bytes>            the file asked for, or provisio:no-file,
//!                                        or provisio:too-large:<n>
//! provisio:run                           then the command's stdout, then
//! \nprovisio:exit:<status>\n             its exit status
//! ```

use provisio::host::{MAX_READ_BYTES, shell_quote};

/// What every script starts with: no unset variables, private files, the `PATH` prefix.
pub(crate) fn preamble(path_prefix: Option<&str>) -> String {
    let mut s = String::from("set -u\numask 077\n");
    if let Some(prefix) = path_prefix {
        s.push_str(&format!(
            "PATH={}:\"$PATH\"\nexport PATH\n",
            shell_quote(prefix)
        ));
    }
    s
}

/// Reads `file` in `dir` (when given) and runs `args` there (when given).
pub(crate) fn inspect(dir: &str, file: Option<&str>, args: Option<&[String]>) -> String {
    let mut s = format!(
        "d={}\nif [ ! -d \"$d\" ]; then printf 'provisio:no-dir\\n'; exit 0; fi\ncd -- \"$d\" || exit 93\nprintf 'provisio:ok\\n'\n",
        shell_quote(dir)
    );
    if let Some(file) = file {
        s.push_str(&format!(
            "f={}\nif [ -f \"$f\" ]; then\n  n=$(wc -c < \"$f\" | tr -d ' \\t') || exit 93\n  if [ \"$n\" -gt {MAX_READ_BYTES} ]; then printf 'provisio:too-large:%s\\n' \"$n\"\n  else printf 'provisio:file:%s\\n' \"$n\"; cat -- \"$f\" || exit 93; fi\nelse printf 'provisio:no-file\\n'; fi\n",
            shell_quote(file)
        ));
    }
    if let Some(args) = args {
        let words: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        // a subshell, so that not even `exit` as the program ends this script; no stdin
        s.push_str(&format!(
            "printf 'provisio:run\\n'\n( {} ) </dev/null\nprintf '\\nprovisio:exit:%s\\n' \"$?\"\n",
            words.join(" ")
        ));
    }
    s
}

/// Unpacks the tar stream on stdin beside `dir`'s files, then renames each of `names` into
/// place (a rename in one directory tree: atomic).
pub(crate) fn write(dir: &str, names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| shell_quote(n)).collect();
    format!(
        "LC_ALL=C\nexport LC_ALL\nd={}\nmkdir -p -- \"$d\" || exit 90\nt=$(mktemp -d \"$d/.provisio-upload.XXXXXX\") || exit 90\ntrap 'rm -rf -- \"$t\"' EXIT\ntar -x -m --no-same-owner -f - -C \"$t\" || exit 91\nfor f in {}; do\n  case \"$f\" in */*) mkdir -p -- \"$d/${{f%/*}}\" || exit 92 ;; esac\n  mv -f -- \"$t/$f\" \"$d/$f\" || exit 92\ndone\nprintf 'provisio:written\\n'\n",
        shell_quote(dir),
        quoted.join(" ")
    )
}

/// Removes `dir` with everything in it.
pub(crate) fn remove(dir: &str) -> String {
    format!(
        "LC_ALL=C\nexport LC_ALL\nd={}\nif [ ! -e \"$d\" ] && [ ! -L \"$d\" ]; then printf 'provisio:no-dir\\n'; exit 0; fi\nif [ ! -d \"$d\" ] || [ -L \"$d\" ]; then echo \"provisio: $d is not a directory\" >&2; exit 94; fi\nrm -rf -- \"$d\" || exit 94\nprintf 'provisio:removed\\n'\n",
        shell_quote(dir)
    )
}

/// The file part of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileAnswer {
    /// No file was asked for.
    NotAsked,
    /// The file is missing.
    Missing,
    /// The file is larger than [`MAX_READ_BYTES`].
    TooLarge(u64),
    /// The file's content.
    Content(Vec<u8>),
}

/// An answer of [`inspect`], parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inspected {
    /// Whether the directory exists (when not, nothing else is there).
    pub(crate) dir: bool,
    pub(crate) file: FileAnswer,
    /// The command's stdout (at most `max_output` bytes), whether it was cut, and its exit
    /// status.
    pub(crate) command: Option<(Vec<u8>, bool, i32)>,
}

const TRAILER: &[u8] = b"\nprovisio:exit:";

/// A line of `data` from `at` to the next `\n`, and the position after it.
fn line(data: &[u8], at: usize) -> Option<(&str, usize)> {
    let rest = data.get(at..)?;
    let end = rest.iter().position(|b| *b == b'\n')?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    Some((text, at + end + 1))
}

fn exit_status(trailer: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(trailer).ok()?;
    text.strip_suffix('\n')?.parse().ok()
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// Parses an answer of [`inspect`]: `head` holds the first bytes of stdout, all of them when
/// `complete`; otherwise `tail` holds its last bytes. `Err` says what was wrong with it.
pub(crate) fn parse_inspect(
    head: &[u8],
    tail: &[u8],
    complete: bool,
    file: bool,
    command: bool,
    max_output: usize,
) -> Result<Inspected, String> {
    let (first, mut at) = line(head, 0).ok_or("no answer line")?;
    match first {
        "provisio:no-dir" => {
            return Ok(Inspected {
                dir: false,
                file: FileAnswer::NotAsked,
                command: None,
            });
        }
        "provisio:ok" => {}
        other => return Err(format!("unexpected answer line {other:?}")),
    }
    let mut file_answer = FileAnswer::NotAsked;
    if file {
        let (l, next) = line(head, at).ok_or("no file line")?;
        at = next;
        file_answer = if l == "provisio:no-file" {
            FileAnswer::Missing
        } else if let Some(n) = l.strip_prefix("provisio:too-large:") {
            FileAnswer::TooLarge(n.parse().map_err(|_| format!("bad size {n:?}"))?)
        } else if let Some(n) = l.strip_prefix("provisio:file:") {
            let n: usize = n.parse().map_err(|_| format!("bad size {n:?}"))?;
            let body = head
                .get(at..at + n)
                .ok_or("the file is shorter than announced")?;
            at += n;
            FileAnswer::Content(body.to_vec())
        } else {
            return Err(format!("unexpected file line {l:?}"));
        };
    }
    let mut command_answer = None;
    if command {
        let (l, next) =
            line(head, at).ok_or("no command line (the file changed while it was read?)")?;
        if l != "provisio:run" {
            return Err(format!("unexpected command line {l:?}"));
        }
        at = next;
        let rest = &head[at..];
        command_answer = Some(if complete {
            let t = rfind(rest, TRAILER).ok_or("the command's session ended before it did")?;
            let status = exit_status(&rest[t + TRAILER.len()..]).ok_or("a bad exit status")?;
            let out = &rest[..t];
            let cut = out.len() > max_output;
            (out[..out.len().min(max_output)].to_vec(), cut, status)
        } else {
            let t = rfind(tail, TRAILER).ok_or("the command's session ended before it did")?;
            let status = exit_status(&tail[t + TRAILER.len()..]).ok_or("a bad exit status")?;
            (rest[..rest.len().min(max_output)].to_vec(), true, status)
        });
    }
    Ok(Inspected {
        dir: true,
        file: file_answer,
        command: command_answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a script with the system `sh` (as the remote side would), stdin from `input`.
    fn sh(script: &str, input: &[u8]) -> (i32, Vec<u8>, Vec<u8>) {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{}{script}", preamble(None)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
    }

    #[test]
    fn scripts_run_under_sh_and_parse_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("stack").to_string_lossy().into_owned();
        // missing directory
        let (code, out, _) = sh(&inspect(&dir, Some("m"), Some(&["true".into()])), b"");
        assert_eq!(code, 0);
        let a = parse_inspect(&out, &[], true, true, true, 100).unwrap();
        assert!(!a.dir);
        // upload two files through a tar stream
        let files = [
            ("m".to_string(), provisio::Bytes::from("sum\n")),
            ("sub/x y".to_string(), provisio::Bytes::from("it's")),
        ]
        .into();
        let (code, out, err) = sh(
            &write(&dir, &["m", "sub/x y"]),
            &crate::tar::archive(&files),
        );
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
        assert_eq!(out, b"provisio:written\n");
        assert_eq!(std::fs::read(format!("{dir}/sub/x y")).unwrap(), b"it's");
        // no upload directory left behind
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2);
        // read the file and run a command whose output looks like the framing
        let args: Vec<String> = [
            "sh",
            "-c",
            "printf 'provisio:exit:0\\nout'; echo err >&2; exit 7",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (code, out, err) = sh(&inspect(&dir, Some("m"), Some(&args)), b"");
        assert_eq!(code, 0);
        assert_eq!(err, b"err\n");
        let a = parse_inspect(&out, &[], true, true, true, 100).unwrap();
        assert_eq!(a.file, FileAnswer::Content(b"sum\n".to_vec()));
        assert_eq!(
            a.command,
            Some((b"provisio:exit:0\nout".to_vec(), false, 7))
        );
        // `exit` as the program ends only its subshell
        let (_, out, _) = sh(
            &inspect(&dir, None, Some(&["exit".into(), "3".into()])),
            b"",
        );
        let a = parse_inspect(&out, &[], true, false, true, 100).unwrap();
        assert_eq!(a.command.unwrap().2, 3);
        // output cut at the limit, exit status from the tail
        let a = parse_inspect(
            b"provisio:ok\nprovisio:run\n0123456789",
            b"89\nprovisio:exit:4\n",
            false,
            false,
            true,
            4,
        )
        .unwrap();
        assert_eq!(a.command, Some((b"0123".to_vec(), true, 4)));
        // a missing file, and removal
        let (_, out, _) = sh(&inspect(&dir, Some("none"), None), b"");
        assert_eq!(
            parse_inspect(&out, &[], true, true, false, 1).unwrap().file,
            FileAnswer::Missing
        );
        let (code, out, _) = sh(&remove(&dir), b"");
        assert_eq!((code, out.as_slice()), (0, &b"provisio:removed\n"[..]));
        let (code, out, _) = sh(&remove(&dir), b"");
        assert_eq!((code, out.as_slice()), (0, &b"provisio:no-dir\n"[..]));
        // broken answers are errors, not guesses
        assert!(parse_inspect(b"hello\n", &[], true, false, false, 1).is_err());
        assert!(
            parse_inspect(b"provisio:ok\nprovisio:run\nout", &[], true, false, true, 9).is_err()
        );
        assert!(
            parse_inspect(
                b"provisio:ok\nprovisio:file:9\nab",
                &[],
                true,
                true,
                false,
                9
            )
            .is_err()
        );
    }
}
