//! Ways to break a document: edits of its values (wrong types, unknown fields, invalid names,
//! deep or huge values), damage to its text (truncation, junk, lost bytes) and hostile
//! fragments spliced in (deep nesting, alias bombs, huge scalars).

use proptest::prelude::*;
use serde_json::{Value, json};

/// A value put where another was.
#[derive(Debug, Clone)]
pub enum Wrong {
    /// A string, often a plausible but invalid name.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Null.
    Null,
    /// A short list.
    List,
    /// An empty object.
    Object,
    /// Arrays nested this deep.
    Deep(usize),
    /// A string this long.
    Huge(usize),
}

impl Wrong {
    fn value(&self) -> Value {
        match self {
            Wrong::Text(s) => json!(s),
            Wrong::Int(i) => json!(i),
            Wrong::Float(f) => json!(f),
            Wrong::Bool(b) => json!(b),
            Wrong::Null => Value::Null,
            Wrong::List => json!([1, "two", {"three": 3}]),
            Wrong::Object => json!({}),
            Wrong::Deep(n) => (0..*n).fold(json!(1), |v, _| json!([v])),
            Wrong::Huge(n) => json!("h".repeat(*n)),
        }
    }
}

/// An edit of a document's values; node indices are taken modulo the node count.
#[derive(Debug, Clone)]
pub enum Edit {
    /// The document as it is.
    Keep,
    /// Node `.0` replaced.
    Replace(usize, Wrong),
    /// An unknown key added to object `.0`.
    Unknown(usize, String),
    /// Node `.0` removed (a required field goes missing).
    Remove(usize),
    /// The value of secret-looking field `.0` (among those of the document) replaced by a
    /// secret of the wrong type or rule: no message may repeat it.
    Secret(usize, SecretValue),
}

/// A secret value that breaks its field's type or rule.
#[derive(Debug, Clone, Copy)]
pub enum SecretValue {
    /// A number where a string belongs.
    Number,
    /// A string too short for a password rule.
    Short,
    /// A list holding the secret.
    List,
}

impl SecretValue {
    /// The text no message may contain.
    pub fn text(self) -> &'static str {
        match self {
            SecretValue::Number => "7355608123",
            SecretValue::Short | SecretValue::List => "Xq7pz",
        }
    }

    fn value(self) -> Value {
        match self {
            SecretValue::Number => json!(7_355_608_123_i64),
            SecretValue::Short => json!("Xq7pz"),
            SecretValue::List => json!(["Xq7pz"]),
        }
    }
}

/// Whether a key names a secret, by the test's own list (not the loader's).
fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|w| key.contains(w))
}

/// The text no message may contain after `edit` on `value`, if the edit planted a secret.
pub fn planted_secret(value: &Value, edit: &Edit) -> Option<&'static str> {
    match edit {
        Edit::Secret(_, secret) if !secret_paths(value).is_empty() => Some(secret.text()),
        _ => None,
    }
}

/// The paths of every string field whose key names a secret (`admin_password: ...`), or that
/// is an entry of a `secrets` map (`secrets: {name: value}`).
fn secret_paths(value: &Value) -> Vec<Vec<Step>> {
    paths(value)
        .into_iter()
        .filter(|p| node(value, p).is_string())
        .filter(|p| match p.as_slice() {
            [.., Step::Key(parent), Step::Key(_)] if parent == "secrets" => true,
            [.., Step::Key(key)] => secret_key(key),
            _ => false,
        })
        .collect()
}

/// Strings that break name rules: bad characters, case, length, separators, Unicode.
pub fn bad_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_.@/:*-]{0,80}",
        "\\PC{0,40}",
        Just(String::new()),
        Just("Bad_Name".to_string()),
        Just("../etc/passwd".to_string()),
        Just("a..b".to_string()),
        Just("-lead".to_string()),
        Just("x".repeat(300)),
        Just("${tenant.nope}".to_string()),
        Just("${unterminated".to_string()),
        Just("bücher.example".to_string()),
        Just("a\u{0}b".to_string()),
    ]
}

fn wrong() -> impl Strategy<Value = Wrong> {
    prop_oneof![
        4 => bad_name().prop_map(Wrong::Text),
        2 => any::<i64>().prop_map(Wrong::Int),
        1 => any::<f64>().prop_map(Wrong::Float),
        1 => any::<bool>().prop_map(Wrong::Bool),
        1 => Just(Wrong::Null),
        1 => Just(Wrong::List),
        1 => Just(Wrong::Object),
        1 => (30usize..90).prop_map(Wrong::Deep),
        1 => (1_000usize..100_000).prop_map(Wrong::Huge),
    ]
}

/// Any value edit.
pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => Just(Edit::Keep),
        6 => (any::<usize>(), wrong()).prop_map(|(i, w)| Edit::Replace(i, w)),
        2 => (any::<usize>(), "[a-z_]{1,12}").prop_map(|(i, k)| Edit::Unknown(i, k)),
        2 => any::<usize>().prop_map(Edit::Remove),
        2 => (any::<usize>(), prop_oneof![
            Just(SecretValue::Number),
            Just(SecretValue::Short),
            Just(SecretValue::List),
        ])
        .prop_map(|(i, v)| Edit::Secret(i, v)),
    ]
}

/// A step from a container to a child.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node's path, in document order (the root excluded).
fn paths(value: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let mut stack = vec![(value, Vec::new())];
    while let Some((v, path)) = stack.pop() {
        let children: Vec<(Step, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, c)| (Step::Key(k.clone()), c)).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, c)| (Step::Index(i), c))
                .collect(),
            _ => continue,
        };
        for (step, child) in children.into_iter().rev() {
            let mut p: Vec<Step> = path.clone();
            p.push(step);
            out.push(p.clone());
            stack.push((child, p));
        }
    }
    out
}

fn node<'a>(mut v: &'a Value, path: &[Step]) -> &'a Value {
    for step in path {
        v = match step {
            Step::Key(k) => &v[k.as_str()],
            Step::Index(i) => &v[*i],
        };
    }
    v
}

fn node_mut<'a>(mut v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    for step in path {
        v = match step {
            Step::Key(k) => &mut v[k.as_str()],
            Step::Index(i) => &mut v[*i],
        };
    }
    v
}

/// `value` with `edit` applied.
pub fn apply(value: &Value, edit: &Edit) -> Value {
    let mut out = value.clone();
    let all = paths(value);
    match edit {
        Edit::Keep => {}
        Edit::Replace(i, wrong) if !all.is_empty() => {
            *node_mut(&mut out, &all[i % all.len()]) = wrong.value();
        }
        Edit::Unknown(i, key) => {
            let root = Vec::new();
            let objects: Vec<&Vec<Step>> = std::iter::once(&root)
                .chain(all.iter())
                .filter(|p| node(value, p).is_object())
                .collect();
            let path = objects[i % objects.len()].clone();
            if let Value::Object(m) = node_mut(&mut out, &path) {
                m.insert(format!("zz_{key}"), json!("unexpected"));
            }
        }
        Edit::Secret(i, secret) => {
            let secrets = secret_paths(value);
            if !secrets.is_empty() {
                *node_mut(&mut out, &secrets[i % secrets.len()]) = secret.value();
            }
        }
        Edit::Remove(i) if !all.is_empty() => {
            let path = &all[i % all.len()];
            let (last, parent) = path.split_last().expect("non-root path");
            match (node_mut(&mut out, parent), last) {
                (Value::Object(m), Step::Key(k)) => {
                    m.remove(k);
                }
                (Value::Array(a), Step::Index(j)) => {
                    a.remove(*j);
                }
                _ => {}
            }
        }
        _ => {}
    }
    out
}

/// A hostile fragment, spliced in at a line start.
#[derive(Debug, Clone)]
pub enum Hostile {
    /// `[[[...]]]`.
    Flow(usize),
    /// `{a: {a: ...}}`.
    FlowMap(usize),
    /// `- - - ... x`.
    Block(usize),
    /// Ten levels of nine aliases.
    Laughs,
    /// One anchored list of `.0` items aliased `.0` times.
    WideAlias(usize),
    /// A scalar this long.
    Scalar(usize),
    /// A key given twice.
    DuplicateKey,
    /// Control characters, a NUL, a byte order mark and tabs.
    Controls,
    /// A second document.
    SecondDocument,
}

impl Hostile {
    /// The fragment's text.
    pub fn text(&self) -> String {
        match self {
            Hostile::Flow(n) => format!("x: {}{}\n", "[".repeat(*n), "]".repeat(*n)),
            Hostile::FlowMap(n) => format!("x: {}1{}\n", "{a: ".repeat(*n), "}".repeat(*n)),
            Hostile::Block(n) => format!("x:\n  {}x\n", "- ".repeat(*n)),
            Hostile::Laughs => {
                let mut t = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
                for i in 1..10 {
                    let refs = vec![format!("*l{}", i - 1); 9].join(", ");
                    t.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
                }
                t
            }
            Hostile::WideAlias(n) => format!(
                "wa: &wa [{}]\nwb: [{}]\n",
                vec!["x"; *n].join(","),
                vec!["*wa"; *n].join(",")
            ),
            Hostile::Scalar(n) => format!("big: \"{}\"\n", "s".repeat(*n)),
            Hostile::DuplicateKey => "name: a\nname: b\n".to_string(),
            Hostile::Controls => "c: \"\u{0}\u{1b}[2J\"\n\u{feff}\td:\t1\n".to_string(),
            Hostile::SecondDocument => "---\nother: 1\n".to_string(),
        }
    }
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        (60usize..3_000).prop_map(Hostile::Flow),
        (60usize..3_000).prop_map(Hostile::FlowMap),
        (60usize..3_000).prop_map(Hostile::Block),
        Just(Hostile::Laughs),
        (100usize..3_000).prop_map(Hostile::WideAlias),
        (10_000usize..300_000).prop_map(Hostile::Scalar),
        Just(Hostile::DuplicateKey),
        Just(Hostile::Controls),
        Just(Hostile::SecondDocument),
    ]
}

/// Damage to a document's text; offsets are taken modulo the length.
#[derive(Debug, Clone)]
pub enum Damage {
    /// None.
    Intact,
    /// Cut at an offset.
    Truncate(usize),
    /// One byte replaced.
    Byte(usize, u8),
    /// A range of bytes lost.
    Delete(usize, usize),
    /// Junk inserted.
    Junk(usize, String),
    /// A hostile fragment spliced in at the start of a line.
    Splice(usize, Hostile),
}

/// Any text damage.
pub fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        2 => Just(Damage::Intact),
        3 => any::<usize>().prop_map(Damage::Truncate),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Byte(i, b)),
        2 => (any::<usize>(), 1usize..64).prop_map(|(i, n)| Damage::Delete(i, n)),
        3 => (any::<usize>(), "[\\[\\]{}:,\"'#&*!|>%@`= \\n-]{1,12}").prop_map(|(i, s)| Damage::Junk(i, s)),
        2 => (any::<usize>(), hostile()).prop_map(|(i, h)| Damage::Splice(i, h)),
    ]
}

/// `text` with `damage` done, as bytes (a replaced byte may leave invalid UTF-8).
pub fn damaged(text: &str, damage: &Damage) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let at = |i: usize| {
        if bytes.is_empty() {
            0
        } else {
            i % (bytes.len() + 1)
        }
    };
    match damage {
        Damage::Intact => {}
        Damage::Truncate(i) => bytes.truncate(at(*i)),
        Damage::Byte(i, b) => {
            if !bytes.is_empty() {
                let j = i % bytes.len();
                bytes[j] = *b;
            }
        }
        Damage::Delete(i, n) => {
            let start = at(*i);
            let end = (start + n).min(bytes.len());
            bytes.drain(start..end);
        }
        Damage::Junk(i, junk) => {
            let j = at(*i);
            bytes.splice(j..j, junk.bytes());
        }
        Damage::Splice(i, hostile) => {
            let j = at(*i);
            let line_start = bytes[..j]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1);
            bytes.splice(line_start..line_start, hostile.text().into_bytes());
        }
    }
    bytes
}

/// `damaged` as text, invalid UTF-8 replaced (for the APIs that take `&str`).
pub fn damaged_text(text: &str, damage: &Damage) -> String {
    String::from_utf8_lossy(&damaged(text, damage)).into_owned()
}
