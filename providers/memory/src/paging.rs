//! Opaque continuation tokens shared by the listings.

use provisio::{Error, Page, PageRequest, Result};

/// Encodes "continue after `key`" as an opaque token.
fn encode(key: &str) -> String {
    format!("m1{}", hex::encode(key.as_bytes()))
}

/// Decodes a token made by [`encode`]; `InvalidInput` for anything else.
fn decode(token: &str) -> Result<String> {
    token
        .strip_prefix("m1")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::invalid_field("page token", "not a token this provider issued"))
}

/// One page of `items` (sorted by their key), after the request's token, at most the request's
/// limit (or `default`), never more than `max`.
pub(crate) fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    req: &PageRequest,
    default: u32,
    max: u32,
) -> Result<Page<T>> {
    let limit = match req.limit {
        Some(0) => return Err(Error::invalid_field("page limit", "must be at least 1")),
        Some(n) => n.min(max),
        None => default,
    } as usize;
    let after = req.token.as_deref().map(decode).transpose()?;
    let mut out: Vec<(String, T)> = Vec::with_capacity(limit.min(1024));
    let mut more = false;
    for (key, item) in items {
        if after.as_ref().is_some_and(|a| key.as_str() <= a.as_str()) {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push((key, item));
    }
    let next = if more {
        out.last().map(|(k, _)| encode(k))
    } else {
        None
    };
    Ok(Page {
        items: out.into_iter().map(|(_, t)| t).collect(),
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_through_everything_once() {
        let items: Vec<(String, u32)> = (0..7).map(|i| (format!("k{i}"), i)).collect();
        let mut req = PageRequest::with_limit(3);
        let mut seen = Vec::new();
        loop {
            let p = page(items.clone(), &req, 100, 1000).unwrap();
            seen.extend(p.items.clone());
            match req.next(&p) {
                Some(n) => req = n,
                None => break,
            }
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        let bad = PageRequest {
            token: Some("nope".into()),
            limit: None,
        };
        assert!(page(items.clone(), &bad, 100, 1000).is_err());
        assert!(page(items, &PageRequest::with_limit(0), 100, 1000).is_err());
    }
}
