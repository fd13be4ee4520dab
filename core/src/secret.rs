//! A string that holds a secret value and never shows it.
//!
//! `Debug`, `Display` and `Serialize` all print [`REDACTED`]; the only way to read the value is
//! [`SecretString::expose`], which makes every read visible in code review.

use std::fmt;

/// What a redacted secret prints as.
pub const REDACTED: &str = "***redacted***";

/// A secret value (a password, an API token, an SMTP credential).
///
/// ```
/// use provisio::SecretString;
/// let s = SecretString::new("hunter2");
/// assert_eq!(format!("{s}"), "***redacted***");
/// assert_eq!(format!("{s:?}"), "SecretString(***redacted***)");
/// assert_eq!(serde_json::to_string(&s).unwrap(), "\"***redacted***\"");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }
    /// Reads the secret value. Never log, format into an error, or store what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// A SHA-256 fingerprint of the value (hex, first 16 chars): lets state record *that* a
    /// secret changed without recording the secret.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        hex::encode(digest)[..16].to_string()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(s)
    }
}
impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString(s.to_string())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString({REDACTED})")
    }
}
impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}
impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}
impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString)
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        // SAFETY: zero bytes are valid UTF-8.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_value() {
        let s = SecretString::new("p@ss\"word");
        let nested = vec![Some(s.clone())];
        assert!(!format!("{nested:?}").contains("p@ss"));
        assert!(!serde_json::to_string(&nested).unwrap().contains("p@ss"));
        assert_eq!(s.expose(), "p@ss\"word");
        let back: SecretString = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(back.expose(), "abc");
        assert_eq!(s.fingerprint().len(), 16);
        assert_ne!(s.fingerprint(), back.fingerprint());
    }
}
