//! Reading a file's text within the size limit.

use crate::failure::{Failure, Position};
use crate::limits::Limits;
use provisio::{Error, ErrorKind, Result};
use std::io::Read;
use std::path::Path;

/// Reads `path` as UTF-8 text of at most [`Limits::max_bytes`].
///
/// The size is checked from the file's metadata before reading, and the read itself is
/// bounded, so a file that grows meanwhile, a FIFO or a device is cut off at the limit instead
/// of filling memory. Errors name the path: `NotFound` when it does not exist,
/// `PermissionDenied` when it may not be read, `InvalidInput` for a directory, a file over
/// the limit, or bytes that are not UTF-8 (with the line and column of the first one).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("vars.yaml");
/// std::fs::write(&path, "size: large\n").unwrap();
/// let mut limits = provisio_loader::Limits::default();
/// assert_eq!(provisio_loader::read_text(&path, &limits).unwrap(), "size: large\n");
/// limits.max_bytes = 4;
/// let e = provisio_loader::read_text(&path, &limits).unwrap_err();
/// assert!(e.message().contains("larger than the limit of 4 bytes"), "{e}");
/// ```
pub fn read_text(path: &Path, limits: &Limits) -> Result<String> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| io_error(&shown, e))?;
    if meta.is_dir() {
        return Err(Error::invalid_input(format!(
            "{shown}: is a directory, not a file"
        )));
    }
    if meta.len() > limits.max_bytes {
        return Err(too_large(&shown, Some(meta.len()), limits));
    }
    let file = std::fs::File::open(path).map_err(|e| io_error(&shown, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&shown, e))?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(too_large(&shown, None, limits));
    }
    text_of(bytes, &shown)
}

/// Checks that `text` is within the size limit (for documents handed over as strings).
pub(crate) fn check_size(text: &str, origin: &str, limits: &Limits) -> Result<()> {
    if text.len() as u64 > limits.max_bytes {
        return Err(too_large(origin, Some(text.len() as u64), limits));
    }
    Ok(())
}

/// The bytes as text, or an error naming the first byte that is not UTF-8.
fn text_of(bytes: Vec<u8>, origin: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let good = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        Failure::new(format!("not UTF-8 text (byte {})", valid + 1))
            .at(Some(Position::at_offset(good, valid)))
            .into_error(origin)
    })
}

fn too_large(origin: &str, size: Option<u64>, limits: &Limits) -> Error {
    let size = size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
    Error::invalid_input(format!(
        "{origin}: file is larger than the limit of {} bytes{size}",
        limits.max_bytes
    ))
}

fn io_error(origin: &str, e: std::io::Error) -> Error {
    let err = match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found(format!("{origin} does not exist")),
        std::io::ErrorKind::PermissionDenied => Error::new(
            ErrorKind::PermissionDenied,
            format!("{origin}: permission denied"),
        ),
        _ => Error::invalid_input(format!("{origin}: cannot be read: {e}")),
    };
    err.with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_missing_large_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let e = read_text(&dir.path().join("none.yaml"), &limits).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert!(e.message().contains("none.yaml does not exist"), "{e}");
        let e = read_text(dir.path(), &limits).unwrap_err();
        assert!(e.message().contains("is a directory"), "{e}");

        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; 1025]).unwrap();
        let small = Limits {
            max_bytes: 1024,
            ..Limits::default()
        };
        let e = read_text(&big, &small).unwrap_err();
        assert!(e.message().contains("1024 bytes (1025 bytes)"), "{e}");

        let bin = dir.path().join("bin.yaml");
        std::fs::write(&bin, b"a: 1\nb: \xff\xfe\n").unwrap();
        let e = read_text(&bin, &limits).unwrap_err();
        assert!(
            e.message()
                .ends_with("bin.yaml:2:4: not UTF-8 text (byte 9)"),
            "{e}"
        );
        assert!(
            check_size(
                "abc",
                "<x>",
                &Limits {
                    max_bytes: 2,
                    ..limits
                }
            )
            .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_cut_off_at_the_limit() {
        let limits = Limits {
            max_bytes: 1 << 16,
            ..Limits::default()
        };
        let e = read_text(Path::new("/dev/zero"), &limits).unwrap_err();
        assert!(e.message().contains("larger than the limit"), "{e}");
    }
}
