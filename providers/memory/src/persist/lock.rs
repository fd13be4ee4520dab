//! The lock file beside a persisted world: the OS lock that serialises processes, and the
//! generation counter that tells a process whether the world file changed since it last read
//! or wrote it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// How many bytes of the lock file hold the generation: 20 decimal digits and a newline.
const GENERATION_LEN: usize = 21;

/// `memory.json` -> `memory.json.lock`.
pub(crate) fn lock_path(world: &Path) -> PathBuf {
    let mut name = world.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    world.with_file_name(name)
}

/// The lock file of one world, open for the life of the process.
///
/// The exclusive lock is an advisory OS lock (`flock` on unix, `LockFileEx` on Windows) on
/// this file, never on the world file itself: the world file is replaced by a rename at every
/// commit, so a lock on it would guard a file that no longer has the name.
#[derive(Debug)]
pub(crate) struct WorldLock {
    path: PathBuf,
    file: File,
}

impl WorldLock {
    /// Opens (creating it, mode 0600, with its directory) the lock file of `world`.
    pub(crate) fn open(world: &Path) -> io::Result<WorldLock> {
        let path = lock_path(world);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_lock_file(&path)?;
        Ok(WorldLock { path, file })
    }

    /// The lock file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive lock, waiting for other processes. Returns whether another process
    /// held it when we asked (contention).
    ///
    /// A lock file deleted or replaced while we waited would leave us holding a lock nobody
    /// else asks for, so after locking we check that the path still names the file we hold,
    /// and start again on the new file when it does not.
    pub(crate) fn lock(&mut self) -> io::Result<bool> {
        let mut contended = false;
        loop {
            match self.file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    contended = true;
                    self.file.lock()?;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
            if self.still_named()? {
                return Ok(contended);
            }
            let _ = self.file.unlock();
            self.file = open_lock_file(&self.path)?;
        }
    }

    /// Releases the lock.
    pub(crate) fn unlock(&self) -> io::Result<()> {
        self.file.unlock()
    }

    /// Whether the lock file's path still names the open file.
    fn still_named(&self) -> io::Result<bool> {
        let on_disk = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(FileId::of(&on_disk) == FileId::of(&self.file.metadata()?))
    }

    /// The generation written by the last commit, `None` when the file holds none (new, or
    /// written by something else).
    pub(crate) fn generation(&self) -> io::Result<Option<u64>> {
        let mut buf = [0u8; GENERATION_LEN];
        let n = read_at(&self.file, &mut buf)?;
        Ok(std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|s| s.trim_end().parse().ok()))
    }

    /// Records `generation` (hold the lock). Not flushed to disk: the generation only has to
    /// outlive processes, not the machine, because every process's cache of the world dies
    /// with the machine too.
    pub(crate) fn set_generation(&self, generation: u64) -> io::Result<()> {
        let text = format!("{generation:020}\n");
        debug_assert_eq!(text.len(), GENERATION_LEN);
        write_at(&self.file, text.as_bytes())
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt as _;
    file.read_at(buf, 0)
}

#[cfg(unix)]
fn write_at(file: &File, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    file.write_all_at(data, 0)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::{Read as _, Seek as _};
    let mut f = file;
    f.seek(io::SeekFrom::Start(0))?;
    f.read(buf)
}

#[cfg(not(unix))]
fn write_at(file: &File, data: &[u8]) -> io::Result<()> {
    use std::io::{Seek as _, Write as _};
    let mut f = file;
    f.seek(io::SeekFrom::Start(0))?;
    f.write_all(data)
}

/// Which file a path or handle is, and the version of its content as far as metadata tells:
/// every commit renames a new file into place, so a changed world file has another identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    device: u64,
    inode: u64,
    len: u64,
    modified_ns: i128,
}

impl FileId {
    /// The identity in `meta`.
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileId {
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(-1);
        #[cfg(unix)]
        let (device, inode) = {
            use std::os::unix::fs::MetadataExt as _;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (device, inode) = (0, 0);
        FileId {
            device,
            inode,
            len: meta.len(),
            modified_ns,
        }
    }

    /// The identity of the file at `path`, `None` when there is none.
    pub(crate) fn at(path: &Path) -> io::Result<Option<FileId>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileId::of(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What a process last knew of the world on disk: the generation in the lock file and the
/// world file's identity. Equal stamps mean the process's copy is the world on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) generation: Option<u64>,
    pub(crate) file: Option<FileId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_round_trips_and_garbage_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("w").join("memory.json");
        let mut lock = WorldLock::open(&world).unwrap();
        assert_eq!(lock.path(), dir.path().join("w").join("memory.json.lock"));
        assert_eq!(lock.generation().unwrap(), None);
        assert!(!lock.lock().unwrap(), "nobody else holds it");
        lock.set_generation(42).unwrap();
        assert_eq!(lock.generation().unwrap(), Some(42));
        lock.set_generation(7).unwrap();
        assert_eq!(lock.generation().unwrap(), Some(7));
        lock.unlock().unwrap();
        std::fs::write(lock.path(), "not a number").unwrap();
        assert_eq!(lock.generation().unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let fresh = dir.path().join("x").join("memory.json");
            let l = WorldLock::open(&fresh).unwrap();
            let mode = std::fs::metadata(l.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn the_lock_excludes_other_handles_and_follows_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("memory.json");
        let mut a = WorldLock::open(&world).unwrap();
        let mut b = WorldLock::open(&world).unwrap();
        a.lock().unwrap();
        assert!(matches!(
            b.file.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        let waiter = std::thread::spawn(move || {
            let contended = b.lock().unwrap();
            b.unlock().unwrap();
            contended
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        a.unlock().unwrap();
        assert!(waiter.join().unwrap(), "b had to wait");

        // Someone deletes the lock file while `a` holds a handle: `a` locks the new file.
        std::fs::remove_file(a.path()).unwrap();
        a.lock().unwrap();
        assert!(a.still_named().unwrap());
        let mut c = WorldLock::open(&world).unwrap();
        assert!(matches!(
            c.file.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        a.unlock().unwrap();
        assert!(!c.lock().unwrap());
    }

    #[test]
    fn file_ids_change_with_every_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.json");
        assert_eq!(FileId::at(&path).unwrap(), None);
        std::fs::write(&path, "one").unwrap();
        let first = FileId::at(&path).unwrap().unwrap();
        assert_eq!(FileId::at(&path).unwrap(), Some(first));
        let tmp = dir.path().join("tmp");
        std::fs::write(&tmp, "one").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_ne!(FileId::at(&path).unwrap(), Some(first));
    }
}
