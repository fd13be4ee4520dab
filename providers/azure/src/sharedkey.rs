//! Shared Key authorization of Blob requests (HMAC-SHA256 over the canonical request, as the
//! "Authorize with Shared Key" page of the Storage REST reference defines it).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use provisio::{Error, Result, SecretString};
use reqwest::Request;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The string a Shared Key signature covers, for a request whose body is `content_length`
/// bytes long.
pub(crate) fn string_to_sign(req: &Request, account: &str, content_length: usize) -> String {
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut s = String::new();
    for part in [
        req.method().as_str().to_string(),
        h("content-encoding"),
        h("content-language"),
        length,
        h("content-md5"),
        h("content-type"),
        h("date"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    ] {
        s.push_str(&part);
        s.push('\n');
    }
    // Canonicalized headers: every x-ms- header, lower-case, sorted, one per line.
    let mut ms: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or_default();
            let unfolded = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.as_str().to_string(), unfolded)
        })
        .collect();
    ms.sort();
    for (k, v) in ms {
        s.push_str(&format!("{k}:{v}\n"));
    }
    // Canonicalized resource: /account/path, then each query parameter on its own line.
    s.push('/');
    s.push_str(account);
    s.push_str(req.url().path());
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in req.url().query_pairs() {
        params
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.into_owned());
    }
    for (k, mut vs) in params {
        vs.sort();
        s.push_str(&format!("\n{k}:{}", vs.join(",")));
    }
    s
}

/// Signs `req` with the account key: sets `Authorization: SharedKey <account>:<signature>`.
pub(crate) fn sign(req: &mut Request, account: &str, key: &SecretString) -> Result<()> {
    let length = req
        .body()
        .and_then(|b| b.as_bytes())
        .map(|b| b.len())
        .unwrap_or(0);
    let to_sign = string_to_sign(req, account, length);
    let signature = signature(key, &to_sign)?;
    let value = format!("SharedKey {account}:{signature}");
    req.headers_mut().insert(
        reqwest::header::AUTHORIZATION,
        value.parse().map_err(|_| {
            Error::invalid_input("the storage account name is not a valid header value")
        })?,
    );
    Ok(())
}

/// Base64 of HMAC-SHA256(base64-decoded key, string to sign).
pub(crate) fn signature(key: &SecretString, string_to_sign: &str) -> Result<String> {
    let key = STANDARD
        .decode(key.expose().trim())
        .map_err(|_| Error::invalid_field("storage key", "is not base64"))?;
    let mut mac = HmacSha256::new_from_slice(&key)
        .map_err(|_| Error::invalid_field("storage key", "has an unusable length"))?;
    mac.update(string_to_sign.as_bytes());
    Ok(STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEVSTORE_ACCOUNT, DEVSTORE_KEY};

    #[test]
    fn canonical_request_and_known_signature() {
        let client = reqwest::Client::new();
        let req = client
            .get("http://127.0.0.1:10000/devstoreaccount1/assets?restype=container&comp=list&prefix=p%2F&maxresults=3")
            .header("x-ms-date", "Sun, 22 Nov 2026 12:00:00 GMT")
            .header("x-ms-version", "2025-01-05")
            .header("X-Ms-Meta-B", "  two   words ")
            .build()
            .unwrap();
        let s = string_to_sign(&req, DEVSTORE_ACCOUNT, 0);
        let want = "GET\n\n\n\n\n\n\n\n\n\n\n\n\
            x-ms-date:Sun, 22 Nov 2026 12:00:00 GMT\n\
            x-ms-meta-b:two words\n\
            x-ms-version:2025-01-05\n\
            /devstoreaccount1/devstoreaccount1/assets\n\
            comp:list\nmaxresults:3\nprefix:p/\nrestype:container";
        assert_eq!(s, want);
        // Reference value computed independently (Python: base64(hmac.new(b64decode(key),
        // s.encode(), sha256).digest())).
        let sig = signature(&SecretString::new(DEVSTORE_KEY), &s).unwrap();
        assert_eq!(sig, "/hqMiCgSCUXk5IyFuPAho1aF0ECslC8W9NKsmezXv2A=");
    }

    #[test]
    fn put_counts_content_length() {
        let client = reqwest::Client::new();
        let mut req = client
            .put("http://127.0.0.1:10000/devstoreaccount1/c/a%20b.txt")
            .header("content-type", "text/plain")
            .header("x-ms-blob-type", "BlockBlob")
            .body("hello")
            .build()
            .unwrap();
        let s = string_to_sign(&req, "acct", 5);
        assert!(s.starts_with("PUT\n\n\n5\n\ntext/plain\n"), "{s:?}");
        assert!(s.ends_with("/acct/devstoreaccount1/c/a%20b.txt"), "{s:?}");
        sign(&mut req, "acct", &SecretString::new(DEVSTORE_KEY)).unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("SharedKey acct:"));
    }
}
