//! What every refusal must look like, and a runner that times every case.

use super::seeds::SECRET_MARKER;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use provisio::{Error, ErrorKind};
use std::cell::{Cell, RefCell};
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// No case may take longer (the slowest take a few milliseconds).
pub const CASE_LIMIT: Duration = Duration::from_secs(1);

/// How a case ended (both are fine; the counts show the generator reaches both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The input was read (and passed every rule).
    Accepted,
    /// The input was refused with a well-formed error.
    Refused,
}

/// Runs `cases` generated cases of `strategy` through `test` (deterministically seeded), each
/// timed; fails on the first failing or slow case, prints the counts and the slowest case, and
/// checks that the generated inputs were both accepted and refused in earnest (at least one in
/// fifty of each), so the checks were exercised.
pub fn run<S>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(&S::Value) -> Result<Verdict, String>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let count = Cell::new(0usize);
    let refused = Cell::new(0usize);
    let slowest = RefCell::new((Duration::ZERO, String::new()));
    let result = runner.run(&strategy, |case| {
        let start = Instant::now();
        let outcome = test(&case);
        let took = start.elapsed();
        count.set(count.get() + 1);
        if took > slowest.borrow().0 {
            let shown: String = format!("{case:?}").chars().take(160).collect();
            *slowest.borrow_mut() = (took, shown);
        }
        if outcome.map_err(TestCaseError::fail)? == Verdict::Refused {
            refused.set(refused.get() + 1);
        }
        if took > CASE_LIMIT {
            return Err(TestCaseError::fail(format!("took {took:?}")));
        }
        Ok(())
    });
    let (took, case) = slowest.into_inner();
    let (count, refused) = (count.get(), refused.get());
    println!(
        "fuzz {name}: {count} cases ({refused} refused, {} accepted), slowest {:.1} ms: {case}",
        count - refused,
        took.as_secs_f64() * 1e3
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
    assert!(
        refused >= count / 50 && count - refused >= count / 50,
        "fuzz {name}: {refused} of {count} refused: the generator misses one side"
    );
}

/// `Refused` when `check` passed.
pub fn refused(check: Result<(), String>) -> Result<Verdict, String> {
    check.map(|()| Verdict::Refused)
}

/// A refusal of the loader: `InvalidInput`, `origin:line:column: [path: ]rule`, or
/// `origin: path: rule` when only the field is known, or a size refusal; no secret value; a
/// bounded length.
pub fn located(e: &Error, origin: &str, text: &[u8], seed: &str) -> Result<(), String> {
    let m = e.message();
    if e.kind() != &ErrorKind::InvalidInput {
        return Err(format!("kind {:?}: {m}", e.kind()));
    }
    let rest = m
        .strip_prefix(origin)
        .ok_or_else(|| format!("does not name {origin}: {m}"))?;
    let rule = if let Some(after) = position_prefix(rest) {
        after
    } else if let Some(after) = rest.strip_prefix(": ") {
        // No position: a field path must say where, unless it is the size refusal.
        if !after.starts_with("file is larger than the limit") {
            let (path, rule) = after
                .split_once(": ")
                .ok_or_else(|| format!("names neither a position nor a field: {m}"))?;
            if path.is_empty() || path.contains(' ') {
                return Err(format!("names neither a position nor a field: {m}"));
            }
            rule
        } else {
            after
        }
    } else {
        return Err(format!("malformed message: {m}"));
    };
    if rule.trim().is_empty() {
        return Err(format!("names no rule: {m}"));
    }
    if m.chars().count() > 800 {
        return Err(format!("message of {} characters", m.chars().count()));
    }
    no_secret(m, text, seed)
}

/// `rest` after `:line:column: `, when it starts so.
fn position_prefix(rest: &str) -> Option<&str> {
    let rest = rest.strip_prefix(':')?;
    let (line, rest) = rest.split_once(':')?;
    let (column, rest) = rest.split_once(": ")?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(line) && numeric(column)).then_some(rest)
}

/// The marker value of the seeds' secret fields is never in a message while it is still a
/// secret field's value in the damaged text (a damage that turned it into a key or a name is
/// no longer a secret's value, and then may be quoted like any name).
pub fn no_secret(message: &str, text: &[u8], seed: &str) -> Result<(), String> {
    if !message.contains(SECRET_MARKER) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(text);
    let still_a_secret = text.match_indices(SECRET_MARKER).any(|(i, _)| {
        let before = &text.as_bytes()[i.saturating_sub(12)..i];
        seed.match_indices(SECRET_MARKER)
            .any(|(j, _)| seed.as_bytes()[j.saturating_sub(12)..j] == *before)
    });
    if still_a_secret {
        return Err(format!("secret value in message: {message}"));
    }
    Ok(())
}

/// A validation refusal (after parsing): `InvalidInput` naming a field or resource and a rule.
pub fn validation(e: &Error) -> Result<(), String> {
    let m = e.message();
    if e.kind() != &ErrorKind::InvalidInput {
        return Err(format!("kind {:?}: {m}", e.kind()));
    }
    let names_place = e.resource().is_some_and(|r| m.contains(r))
        || m.starts_with("invalid ")
        || m.starts_with("dependency cycle: ");
    let (_, rule) = m.rsplit_once(": ").unwrap_or(("", ""));
    if !names_place || rule.trim().is_empty() {
        return Err(format!(
            "names no field and rule: {m} (resource {:?})",
            e.resource()
        ));
    }
    if m.contains(SECRET_MARKER) {
        return Err(format!("secret value in message: {m}"));
    }
    Ok(())
}

/// A refusal of resource `resource`'s parameters names the resource and the field: either
/// `resources.<resource>.params<path>: <rule>` (a type's typed parameters; `Ok(true)`), or
/// `resource "<resource>": params.<path>: <rule>` (a malformed or unknown reference), or
/// `resource "<resource>": invalid <field>: <rule>` (a rule on a value the type derived).
pub fn names_parameter(e: &Error, resource: &str) -> Result<bool, String> {
    let m = e.message();
    if e.resource() != Some(resource) {
        return Err(format!(
            "names resource {:?}, not {resource:?}: {m}",
            e.resource()
        ));
    }
    let typed = format!("resources.{resource}.params");
    if let Some(rest) = m.strip_prefix(&typed) {
        let path_and_rule = rest.strip_prefix(": ").map(|rule| ("", rule)).or_else(|| {
            rest.starts_with(['.', '['])
                .then(|| rest.split_once(": "))
                .flatten()
        });
        return match path_and_rule {
            Some((_, rule)) if !rule.trim().is_empty() => Ok(true),
            _ => Err(format!("names no parameter path and rule: {m}")),
        };
    }
    let other = m
        .strip_prefix(&format!("resource {resource:?}: "))
        .ok_or_else(|| {
            format!("names neither resources.{resource}.params nor the resource: {m}")
        })?;
    let named = other.starts_with("params.")
        || other.starts_with("params[")
        || other.starts_with("invalid ");
    match other.split_once(": ") {
        Some((_, rule)) if named && !rule.trim().is_empty() => Ok(false),
        _ => Err(format!("names no field and rule: {m}")),
    }
}
