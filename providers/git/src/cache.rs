//! The local bare cache clone of a remote: where it lives, how it is created, and the
//! tracking refs that keep fetched commits reachable.
//!
//! Many operations, threads and processes use one cache at once. Nothing they do needs the
//! cache to themselves except its creation (a cross-process file lock): objects are written
//! to temporary files and renamed into place by both libgit2 and `git`, the cache's config is
//! written only when the cache is created, fetches write no `FETCH_HEAD` and no ref, and the
//! tracking refs are only a hint (for fetch negotiation and to keep objects from garbage
//! collection), so a tracking-ref update that finds the ref locked by someone else is skipped
//! rather than reported.

use crate::error::from_git2;
use git2::Oid;
use provisio::{Error, Result};
use std::path::{Path, PathBuf};

/// Where a fetched branch's head is kept in the cache repository.
pub(crate) fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// The cache repository's path for `url` below `cache_dir`: a readable slug plus a stable
/// hash of the whole URL, so two remotes never share a cache.
pub(crate) fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    let tail = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git");
    let slug: String = tail
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    // FNV-1a: stable across Rust versions and processes, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    cache_dir.join(format!(
        "{}-{h:016x}.git",
        if slug.is_empty() { "repo" } else { &slug }
    ))
}

/// Opens the cache repository.
pub(crate) fn open(path: &Path) -> Result<git2::Repository> {
    git2::Repository::open_bare(path).map_err(|e| from_git2(e, "cannot open the git cache"))
}

/// Opens the cache repository, creating it (bare, empty) when missing.
///
/// Creation is the one step that needs the cache to itself: `git init` writes the config
/// through `config.lock`, and a second process creating the same cache at the same moment
/// would fail on that lock. So creation happens under an exclusive lock on a file next to
/// the cache (`<cache>.lock`), held only for the check and the `init`.
pub(crate) fn open_or_create(path: &Path) -> Result<git2::Repository> {
    if let Ok(repo) = git2::Repository::open_bare(path) {
        return Ok(repo);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let io_fail = |what: &str, e: std::io::Error| {
        Error::unexpected(format!("{what} {}", path.display())).with_source(e)
    };
    std::fs::create_dir_all(dir).map_err(|e| io_fail("cannot create the directory of", e))?;
    let lock_path = path.with_extension("git.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_fail("cannot open the creation lock of", e))?;
    lock.lock()
        .map_err(|e| io_fail("cannot take the creation lock of", e))?;
    let result = match git2::Repository::open_bare(path) {
        Ok(repo) => Ok(repo),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            std::fs::create_dir_all(path).map_err(|e| io_fail("cannot create the git cache", e))?;
            git2::Repository::init_bare(path)
                .map_err(|e| from_git2(e, "cannot create the git cache repository"))
        }
        Err(e) => Err(from_git2(e, "cannot open the git cache repository")),
    };
    drop(lock);
    result
}

/// Whether the cache holds the commit `id` (and so, as git guarantees for what it fetched or
/// built, everything it reaches).
pub(crate) fn has_commit(repo: &git2::Repository, id: Oid) -> bool {
    repo.find_commit(id).is_ok()
}

/// Points the tracking ref of `branch` at `head`, or removes it (`None`). Best effort: the
/// ref is a hint, and another thread or process updating it at the same moment holds its
/// lock file; the loser skips its update instead of failing the operation.
pub(crate) fn set_tracking_ref(repo: &git2::Repository, branch: &str, head: Option<Oid>) {
    let name = tracking_ref(branch);
    let result = match head {
        Some(head) => repo
            .reference(&name, head, true, "provisio: remote head")
            .map(|_| ()),
        None => match repo.find_reference(&name) {
            Ok(mut r) => r.delete(),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        tracing::debug!(%branch, error = %e.message(), "tracking ref not updated (a hint only)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_are_stable_and_distinct() {
        let a = cache_path(Path::new("/c"), "git@h:acme/tenants.git");
        assert_eq!(a, cache_path(Path::new("/c"), "git@h:acme/tenants.git"));
        assert!(a.to_string_lossy().starts_with("/c/tenants-"), "{a:?}");
        assert_ne!(a, cache_path(Path::new("/c"), "git@h:other/tenants.git"));
    }

    /// Many threads creating one cache at once all get it, none sees a lock error.
    #[test]
    fn concurrent_creation_is_safe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("t-0.git");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || open_or_create(&path).map(|r| r.is_bare()))
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap().unwrap());
        }
    }
}
