//! Building a commit of a [`CommitSpec`] on a branch head, in the cache, with libgit2 alone
//! (no work tree, no index file).

use crate::error::from_git2;
use git2::Oid;
use provisio::repo::CommitSpec;
use provisio::{Bytes, Error, Result, validate};
use std::path::Path;

/// Checks a spec before anything is read or sent: branch, paths, message and author.
pub(crate) fn validate_spec(spec: &CommitSpec) -> Result<()> {
    validate::git_branch_name("branch", &spec.branch)?;
    for path in spec.files.keys() {
        validate::repo_file_path("file path", path)?;
    }
    // A path cannot be both a file and a directory in one commit.
    for path in spec.files.keys() {
        let mut prefix = path.as_str();
        while let Some((dir, _)) = prefix.rsplit_once('/') {
            if spec.files.contains_key(dir) {
                return Err(Error::invalid_field(
                    "file path",
                    format!("{dir:?} cannot be both a file and the directory of {path:?}"),
                ));
            }
            prefix = dir;
        }
    }
    if spec.message.trim().is_empty() {
        return Err(Error::invalid_field("commit message", "must not be empty"));
    }
    let a = &spec.author;
    let bad = |s: &str| s.contains(['<', '>', '\n', '\r', '\0']);
    if a.name.trim().is_empty() || !a.email.contains('@') || bad(&a.name) || bad(&a.email) {
        return Err(Error::invalid_field(
            "commit author",
            "needs a name and an e-mail address without '<', '>' or line breaks",
        ));
    }
    Ok(())
}

/// A conflict check against the head tree: a new file where a directory is, or below a file.
fn clash(tree: &git2::Tree<'_>, path: &str) -> Option<String> {
    if let Ok(entry) = tree.get_path(Path::new(path))
        && entry.kind() == Some(git2::ObjectType::Tree)
    {
        return Some(format!("{path} is a directory"));
    }
    let mut prefix = path;
    while let Some((dir, _)) = prefix.rsplit_once('/') {
        if let Ok(entry) = tree.get_path(Path::new(dir))
            && entry.kind() == Some(git2::ObjectType::Blob)
        {
            return Some(format!("{dir} is a file"));
        }
        prefix = dir;
    }
    None
}

/// Builds the tree of `head` plus the spec's files; `None` when it equals the head's tree
/// (every file already has its content).
fn build_tree(
    repo: &git2::Repository,
    head: &git2::Commit<'_>,
    spec: &CommitSpec,
) -> Result<Option<Oid>> {
    let tree = head
        .tree()
        .map_err(|e| from_git2(e, "cannot read the head tree"))?;
    for path in spec.files.keys() {
        if let Some(why) = clash(&tree, path) {
            return Err(Error::conflict(format!("cannot write {path}: {why}")));
        }
    }
    let mut index = git2::Index::new().map_err(|e| from_git2(e, "cannot create an index"))?;
    index
        .read_tree(&tree)
        .map_err(|e| from_git2(e, "cannot read the head tree"))?;
    for (path, content) in &spec.files {
        // Keep an existing file's mode (an executable script stays executable).
        let mode = tree
            .get_path(Path::new(path))
            .map(|e| e.filemode() as u32)
            .unwrap_or(0o100644);
        // An in-memory index cannot hash content itself: write the blob, then add the entry.
        let blob = repo
            .blob(content)
            .map_err(|e| from_git2(e, "cannot write a file's blob"))?;
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode,
            uid: 0,
            gid: 0,
            file_size: content.len() as u32,
            id: blob,
            flags: path.len().min(0xfff) as u16,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index
            .add(&entry)
            .map_err(|e| from_git2(e, "cannot stage a file"))?;
    }
    let new_tree = index
        .write_tree_to(repo)
        .map_err(|e| from_git2(e, "cannot write the tree"))?;
    Ok((new_tree != tree.id()).then_some(new_tree))
}

/// The commit of `spec` on `head` (author and committer: the spec's author), or `None` when
/// the files are already there. The commit is written to the cache's object database only;
/// no ref moves.
pub(crate) fn commit_on(
    repo: &git2::Repository,
    head: Oid,
    spec: &CommitSpec,
) -> Result<Option<Oid>> {
    let head = repo
        .find_commit(head)
        .map_err(|e| from_git2(e, "the branch head is missing from the cache"))?;
    let Some(tree_id) = build_tree(repo, &head, spec)? else {
        return Ok(None);
    };
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| from_git2(e, "cannot read the new tree"))?;
    let sig = git2::Signature::now(&spec.author.name, &spec.author.email)
        .map_err(|e| Error::invalid_field("commit author", e.message().to_string()))?;
    repo.commit(None, &sig, &sig, &spec.message, &tree, &[&head])
        .map(Some)
        .map_err(|e| from_git2(e, "cannot create the commit"))
}

/// The content of each of `paths` at commit `head` (`None`: no such file, or a directory).
pub(crate) fn read_paths(
    repo: &git2::Repository,
    head: Oid,
    paths: &[String],
) -> Result<Vec<Option<Bytes>>> {
    let tree = repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(|e| from_git2(e, "cannot read the head tree"))?;
    paths
        .iter()
        .map(|path| {
            let entry = match tree.get_path(Path::new(path)) {
                Ok(entry) => entry,
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(from_git2(e, "cannot look up the file")),
            };
            if entry.kind() != Some(git2::ObjectType::Blob) {
                return Ok(None);
            }
            let blob = repo
                .find_blob(entry.id())
                .map_err(|e| from_git2(e, "cannot read the file"))?;
            Ok(Some(Bytes::copy_from_slice(blob.content())))
        })
        .collect()
}
