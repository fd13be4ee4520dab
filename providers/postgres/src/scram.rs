//! SCRAM-SHA-256 password verifiers, computed and checked on the client.
//!
//! `ensure_role` never sends a plaintext password: it sends the verifier
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`) that the server would have
//! computed itself, so the password cannot appear in SQL text, server logs
//! (`log_statement = all`), `pg_stat_activity` or `pg_stat_statements`.
//!
//! To tell whether a role already has the wanted password, [`matches`] recomputes the stored
//! key from the password with the stored verifier's own salt and iteration count (RFC 5802/7677)
//! and compares; this needs the stored verifier, which only a superuser can read
//! (`pg_authid.rolpassword`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The most iterations [`matches`] will compute (PostgreSQL's default is 4096); a stored
/// verifier asking for more is treated as "cannot tell" rather than burning CPU.
const MAX_ITERATIONS: u32 = 1_000_000;

/// A fresh SCRAM-SHA-256 verifier for `password` with a random salt and 4096 iterations,
/// exactly as PostgreSQL (and libpq's `PQencryptPasswordConn`) computes it. The result holds
/// only base64, digits, `$`, `:` and letters.
pub(crate) fn verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Whether `stored` (a `pg_authid.rolpassword` value) is a SCRAM-SHA-256 verifier of
/// `password`. `false` for anything else (an MD5 hash, a malformed value, no password).
pub(crate) fn matches(stored: &str, password: &str) -> bool {
    let Some(parsed) = parse(stored) else {
        return false;
    };
    let salted = hi(&prepare(password), &parsed.salt, parsed.iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    constant_time_eq(&stored_key, &parsed.stored_key)
        && constant_time_eq(&server_key, &parsed.server_key)
}

struct Parsed {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

fn parse(stored: &str) -> Option<Parsed> {
    let rest = stored.strip_prefix("SCRAM-SHA-256$")?;
    let (params, keys) = rest.split_once('$')?;
    let (iterations, salt) = params.split_once(':')?;
    let (stored_key, server_key) = keys.split_once(':')?;
    let iterations: u32 = iterations.parse().ok()?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return None;
    }
    let parsed = Parsed {
        iterations,
        salt: STANDARD.decode(salt).ok()?,
        stored_key: STANDARD.decode(stored_key).ok()?,
        server_key: STANDARD.decode(server_key).ok()?,
    };
    (parsed.stored_key.len() == 32 && parsed.server_key.len() == 32).then_some(parsed)
}

/// SASLprep, or the raw bytes when the password is not valid for it — PostgreSQL's rule.
fn prepare(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(p) => p.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// RFC 5802 `Hi()`: PBKDF2 with HMAC-SHA-256 and one output block.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        out.iter_mut().zip(u.iter()).for_each(|(o, x)| *o ^= x);
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_round_trip() {
        let v = verifier("correct horse battery staple");
        assert!(v.starts_with("SCRAM-SHA-256$4096:"), "{v}");
        assert!(!v.contains("correct"));
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "$:+/=-".contains(c))
        );
        assert!(matches(&v, "correct horse battery staple"));
        assert!(!matches(&v, "correct horse battery stapl"));
        // A new verifier of the same password has another salt but matches too.
        let w = verifier("correct horse battery staple");
        assert_ne!(v, w);
        assert!(matches(&w, "correct horse battery staple"));
    }

    #[test]
    fn non_ascii_passwords_use_saslprep() {
        let v = verifier("pässwörd\u{00A0}x");
        assert!(matches(&v, "pässwörd\u{00A0}x"));
        // SASLprep maps the non-ASCII space to a plain space.
        assert!(matches(&v, "pässwörd x"));
    }

    #[test]
    fn verifiers_computed_by_the_server() {
        // From PostgreSQL 15: CREATE ROLE ... PASSWORD 'pencil' / 'pässwörd', then
        // SELECT rolpassword FROM pg_authid.
        let pencil = "SCRAM-SHA-256$4096:+8TA/e/gyVkjsfmljDroDg==$hxP3dkUPvPqpHVI4aLYYoM/L1715IBLVWS4HD9rvj5w=:aoPdxbzsWVmSjwdeLKv8KZ4FsOFOuH8mULyz4YcBMYQ=";
        assert!(matches(pencil, "pencil"));
        assert!(!matches(pencil, "Pencil"));
        let umlauts = "SCRAM-SHA-256$4096:Zcw9JPjGnU8vyVQUVdOiZw==$yoFO4T7QDSyOQPRVZfYEdZdL6hZCgAVO3jGEGENCG1A=:NCjgKib435OBA7YfAHVijZmfAT7B6lrzlSymIuyWeMI=";
        assert!(matches(umlauts, "pässwörd"));
        assert!(!matches(umlauts, "passwort"));
    }

    #[test]
    fn rejects_other_formats() {
        assert!(!matches("md5d0b6d2d4a1fd4a3c8d1b0a1c4f1e2d3c", "x"));
        assert!(!matches("", "x"));
        assert!(!matches("SCRAM-SHA-256$0:AAAA$AAAA:AAAA", "x"));
        assert!(!matches("SCRAM-SHA-256$99999999:AAAA$AAAA:AAAA", "x"));
        assert!(!matches("SCRAM-SHA-256$4096:!!$AAAA:AAAA", "x"));
    }
}
