//! A minimal ustar writer: the upload of [`write_files`](provisio::Host::write_files) is one
//! tar stream on the ssh client's stdin, unpacked by the remote `tar`.
//!
//! Only what an upload needs: regular files, names of at most 100 bytes (checked by
//! [`provisio::host::file_name`] before), mode 0600, owner 0 (the remote `tar` runs with
//! `--no-same-owner`), and the current time as the modification time.

use provisio::Bytes;
use std::collections::BTreeMap;

const BLOCK: usize = 512;

/// Writes `value` as `width - 1` octal digits and a NUL into `field`.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    field[..width].copy_from_slice(&digits.as_bytes()[digits.len() - width..]);
    field[width] = 0;
}

fn header(name: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o600);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // the checksum is computed with its own field as spaces
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let digits = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(digits.as_bytes());
    h
}

/// The tar archive of `files` (name -> content), in name order.
pub(crate) fn archive(files: &BTreeMap<String, Bytes>) -> Vec<u8> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let size: usize = files
        .values()
        .map(|b| BLOCK + b.len().div_ceil(BLOCK) * BLOCK)
        .sum();
    let mut out = Vec::with_capacity(size + 2 * BLOCK);
    for (name, body) in files {
        debug_assert!(name.len() <= 100, "names are checked before");
        out.extend_from_slice(&header(name, body.len() as u64, mtime));
        out.extend_from_slice(body);
        let pad = body.len().div_ceil(BLOCK) * BLOCK - body.len();
        out.resize(out.len() + pad, 0);
    }
    // the end of the archive: two empty blocks
    out.resize(out.len() + 2 * BLOCK, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_tar_reads_it() {
        let files: BTreeMap<String, Bytes> = [
            ("a.txt".to_string(), Bytes::from("hello\n")),
            ("conf/b.conf".to_string(), Bytes::from(vec![0u8, 255, 10])),
            ("empty".to_string(), Bytes::new()),
            ("big".to_string(), Bytes::from(vec![7u8; 1500])),
        ]
        .into();
        let data = archive(&files);
        assert_eq!(data.len() % BLOCK, 0);
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("x.tar");
        std::fs::write(&tar, &data).unwrap();
        let out = std::process::Command::new("tar")
            .args(["-x", "-m", "--no-same-owner", "-f"])
            .arg(&tar)
            .arg("-C")
            .arg(dir.path())
            .output()
            .expect("tar runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (name, body) in &files {
            assert_eq!(
                &std::fs::read(dir.path().join(name)).unwrap()[..],
                &body[..],
                "{name}"
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("a.txt"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
