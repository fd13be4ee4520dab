//! Conformance cases for [`Repository`].
//!
//! Every case branches off [`RepoContext::base`] under a fresh name and deletes its branches at
//! the end (where the provider can delete branches). The base branch is never written to.

use crate::{Tracker, expect_invalid, expect_kind, expect_unsupported, first_error, guarded};
use bytes::Bytes;
use provisio::repo::{Author, CommitSpec};
use provisio::{Deleted, ErrorKind, Outcome, Repository, Result};
use std::collections::BTreeMap;

/// What the repository cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoContext {
    /// An existing branch to branch off, e.g. `main`. Never written to.
    pub base: String,
}

impl RepoContext {
    /// Cases branch off `base`.
    pub fn new(base: impl Into<String>) -> Self {
        RepoContext { base: base.into() }
    }
}

impl Default for RepoContext {
    /// Branch off `main`.
    fn default() -> Self {
        RepoContext::new("main")
    }
}

/// Every repository case by name.
pub const CASES: &[crate::Case<dyn Repository, RepoContext>] = crate::repo_conformance!(@table);

/// Generates one `#[test]` per repository case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::repo_conformance! {
///     provider: my_git_repo(),
///     context: provisio_testkit::repo::RepoContext::new("main"),
/// }
/// ```
#[macro_export]
macro_rules! repo_conformance {
    (@table) => { $crate::repo_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* repo [
            branch_happy_path,
            existing_branch_is_left_in_place,
            write_files,
            branch_from_missing_base,
            not_found,
            invalid_names,
            capability_honesty,
        ] }
    };
    ($($setup:tt)*) => { $crate::repo_conformance!(@cases @tests { $($setup)* }); };
}

fn author() -> Author {
    Author {
        name: "provisio testkit".into(),
        email: "testkit@provisio.invalid".into(),
    }
}

fn commit(branch: &str, files: &[(&str, &str)], message: &str) -> CommitSpec {
    CommitSpec {
        branch: branch.to_string(),
        files: files
            .iter()
            .map(|(p, c)| (p.to_string(), Bytes::from(c.to_string())))
            .collect::<BTreeMap<_, _>>(),
        message: message.to_string(),
        author: author(),
    }
}

async fn delete_branches(r: &dyn Repository, made: &Tracker) -> Result<()> {
    if !r.capabilities().delete_branch {
        return Ok(());
    }
    let mut results = Vec::new();
    for name in made.all() {
        results.push(r.delete_branch(&name).await.map(|_| ()));
    }
    first_error(results)
}

async fn base_head(r: &dyn Repository, ctx: &RepoContext) -> Result<String> {
    let base = r.get_branch(&ctx.base).await?;
    let base =
        base.unwrap_or_else(|| panic!("the context's base branch {:?} does not exist", ctx.base));
    assert_eq!(base.name, ctx.base, "get_branch returned another branch");
    assert!(!base.head.is_empty(), "the base branch has an empty head");
    Ok(base.head)
}

/// Creates a branch at the base's head, ensures it again (`Unchanged`), and deletes it:
/// `Deleted`, then `AlreadyGone`.
pub async fn branch_happy_path(r: &dyn Repository, ctx: &RepoContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let head = base_head(r, ctx).await?;
            let name = crate::unique("br");
            made.add(name.clone());
            let made_branch = r.ensure_branch(&name, &ctx.base).await?;
            assert_eq!(
                made_branch.outcome,
                Outcome::Created,
                "ensure_branch of a new branch"
            );
            assert_eq!(made_branch.value.name, name, "ensure_branch's name");
            assert_eq!(
                made_branch.value.head, head,
                "a new branch must start at the base's head"
            );
            let read = r.get_branch(&name).await?;
            assert_eq!(
                read.as_ref(),
                Some(&made_branch.value),
                "get_branch of the new branch"
            );
            let again = r.ensure_branch(&name, &ctx.base).await?;
            assert_eq!(again.outcome, Outcome::Unchanged, "second ensure_branch");
            assert_eq!(
                again.value, made_branch.value,
                "the unchanged branch differs"
            );
            if r.capabilities().delete_branch {
                assert_eq!(
                    r.delete_branch(&name).await?,
                    Deleted::Deleted,
                    "delete_branch"
                );
                assert!(
                    r.get_branch(&name).await?.is_none(),
                    "get_branch after delete_branch"
                );
                assert_eq!(
                    r.delete_branch(&name).await?,
                    Deleted::AlreadyGone,
                    "second delete_branch"
                );
            }
            assert_eq!(
                base_head(r, ctx).await?,
                head,
                "branching moved the base branch"
            );
            Ok(())
        },
        delete_branches(r, &made),
    )
    .await
}

/// Ensuring a branch that has moved ahead leaves it where it is.
pub async fn existing_branch_is_left_in_place(r: &dyn Repository, ctx: &RepoContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let head = base_head(r, ctx).await?;
            let name = crate::unique("br");
            made.add(name.clone());
            r.ensure_branch(&name, &ctx.base).await?;
            let moved = r
                .write_files(&commit(&name, &[("ahead.txt", "ahead")], "move ahead"))
                .await?;
            assert_ne!(moved.value.head, head, "a commit did not move the branch");
            let again = r.ensure_branch(&name, &ctx.base).await?;
            assert_eq!(
                again.outcome,
                Outcome::Unchanged,
                "ensure_branch of a branch that moved ahead"
            );
            assert_eq!(
                again.value.head, moved.value.head,
                "ensure_branch reset an existing branch"
            );
            Ok(())
        },
        delete_branches(r, &made),
    )
    .await
}

/// Writes files as one commit (`Updated`, new head), reads them back, writes the same content
/// again (`Unchanged`, same head), then changes one file (`Updated`; the other is kept). The
/// base branch is untouched.
pub async fn write_files(r: &dyn Repository, ctx: &RepoContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let head = base_head(r, ctx).await?;
            let name = crate::unique("br");
            made.add(name.clone());
            r.ensure_branch(&name, &ctx.base).await?;
            let files = [
                ("config.yml", "tenant: acme\n"),
                ("nginx/conf.d/acme.conf", "server { listen 80; }\n"),
            ];
            let first = r
                .write_files(&commit(&name, &files, "add tenant config"))
                .await?;
            assert_eq!(
                first.outcome,
                Outcome::Updated,
                "write_files with new files"
            );
            assert_eq!(first.value.name, name, "write_files' branch name");
            assert_ne!(first.value.head, head, "write_files did not move the head");
            let read = r
                .get_branch(&name)
                .await?
                .expect("get_branch after write_files");
            assert_eq!(
                read.head, first.value.head,
                "get_branch's head after write_files"
            );
            for (path, content) in files {
                let got = r.read_file(&name, path).await?;
                assert_eq!(
                    got.as_deref(),
                    Some(content.as_bytes()),
                    "read_file({path}) after write_files"
                );
            }

            let same = r.write_files(&commit(&name, &files, "same again")).await?;
            assert_eq!(
                same.outcome,
                Outcome::Unchanged,
                "write_files with the same content"
            );
            assert_eq!(
                same.value.head, first.value.head,
                "an unchanged write_files moved the head"
            );

            let changed = r
                .write_files(&commit(
                    &name,
                    &[("config.yml", "tenant: acme\nplan: pro\n")],
                    "change plan",
                ))
                .await?;
            assert_eq!(
                changed.outcome,
                Outcome::Updated,
                "write_files with changed content"
            );
            assert_ne!(
                changed.value.head, first.value.head,
                "a changing write_files kept the head"
            );
            let got = r.read_file(&name, "config.yml").await?;
            assert_eq!(
                got.as_deref(),
                Some(&b"tenant: acme\nplan: pro\n"[..]),
                "read_file of the changed file"
            );
            let kept = r.read_file(&name, "nginx/conf.d/acme.conf").await?;
            assert_eq!(
                kept.as_deref(),
                Some(files[1].1.as_bytes()),
                "a file not named in the commit must be left as it was"
            );

            assert_eq!(
                base_head(r, ctx).await?,
                head,
                "write_files on a branch moved the base"
            );
            let base_file = r.read_file(&ctx.base, "config.yml").await?;
            assert!(
                base_file.is_none(),
                "write_files on a branch wrote to the base branch"
            );
            Ok(())
        },
        delete_branches(r, &made),
    )
    .await
}

/// Branching off a base that does not exist is `NotFound` and creates nothing.
pub async fn branch_from_missing_base(r: &dyn Repository, _ctx: &RepoContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let name = crate::unique("br");
            made.add(name.clone());
            let missing = crate::unique("nobase");
            let err = r.ensure_branch(&name, &missing).await;
            expect_kind(
                err,
                ErrorKind::NotFound,
                "ensure_branch from a missing base",
            );
            let b = r.get_branch(&name).await?;
            assert!(b.is_none(), "a refused ensure_branch created {b:?}");
            Ok(())
        },
        delete_branches(r, &made),
    )
    .await
}

/// Missing things: `get_branch` is `None`, `read_file` of a missing path is `None`,
/// `write_files` to a missing branch is `NotFound`, `delete_branch` is `AlreadyGone`.
pub async fn not_found(r: &dyn Repository, ctx: &RepoContext) -> Result<()> {
    let name = crate::unique("nobr");
    let b = r.get_branch(&name).await?;
    assert!(b.is_none(), "get_branch of a missing branch returned {b:?}");
    let f = r
        .read_file(&ctx.base, &format!("{}/missing.txt", crate::unique("dir")))
        .await?;
    assert!(f.is_none(), "read_file of a missing path returned {f:?}");
    let err = r
        .write_files(&commit(&name, &[("a.txt", "a")], "to nowhere"))
        .await;
    expect_kind(err, ErrorKind::NotFound, "write_files to a missing branch");
    assert!(
        r.get_branch(&name).await?.is_none(),
        "write_files to a missing branch created it"
    );
    if r.capabilities().delete_branch {
        assert_eq!(
            r.delete_branch(&name).await?,
            Deleted::AlreadyGone,
            "delete_branch of a missing branch"
        );
    }
    Ok(())
}

/// Bad branch names and file paths are `InvalidInput` naming the field, and change nothing.
pub async fn invalid_names(r: &dyn Repository, ctx: &RepoContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            for bad in [
                "bad..name",
                "bad name",
                "-leading",
                "ends.lock",
                "a//b",
                "x~1",
            ] {
                let err = r.ensure_branch(bad, &ctx.base).await;
                expect_invalid(err, "branch", &format!("ensure_branch({bad:?})"));
            }
            let name = crate::unique("br");
            made.add(name.clone());
            let branch = r.ensure_branch(&name, &ctx.base).await?.value;
            for bad in [
                "../escape.txt",
                "/absolute.txt",
                ".git/config",
                "a//b.txt",
                "",
            ] {
                let err = r
                    .write_files(&commit(&name, &[(bad, "x")], "bad path"))
                    .await;
                expect_invalid(err, "path", &format!("write_files with the path {bad:?}"));
            }
            // One bad path spoils the whole commit: nothing is written.
            let err = r
                .write_files(&commit(
                    &name,
                    &[("good.txt", "good"), ("../bad.txt", "bad")],
                    "mixed",
                ))
                .await;
            expect_invalid(err, "path", "write_files with one good and one bad path");
            let now = r
                .get_branch(&name)
                .await?
                .expect("get_branch after refused writes");
            assert_eq!(
                now.head, branch.head,
                "a refused write_files moved the head"
            );
            assert!(
                r.read_file(&name, "good.txt").await?.is_none(),
                "a refused commit wrote good.txt"
            );
            Ok(())
        },
        delete_branches(r, &made),
    )
    .await
}

/// Branch deletion on a provider that denies it is `Unsupported` and keeps the branch.
pub async fn capability_honesty(r: &dyn Repository, ctx: &RepoContext) -> Result<()> {
    let made = Tracker::default();
    guarded(
        async {
            let name = crate::unique("br");
            made.add(name.clone());
            r.ensure_branch(&name, &ctx.base).await?;
            if r.capabilities().delete_branch {
                assert_eq!(
                    r.delete_branch(&name).await?,
                    Deleted::Deleted,
                    "delete_branch"
                );
                assert!(
                    r.get_branch(&name).await?.is_none(),
                    "get_branch after delete_branch"
                );
            } else {
                expect_unsupported(r.delete_branch(&name).await, "delete_branch");
                assert!(
                    r.get_branch(&name).await?.is_some(),
                    "a refused delete_branch removed the branch"
                );
            }
            Ok(())
        },
        delete_branches(r, &made),
    )
    .await
}
