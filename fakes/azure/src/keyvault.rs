//! Key Vault secrets (data plane, 2025-07-01): versions, tags, soft delete that becomes
//! visible asynchronously, recover, purge, and paged listings.

use crate::server::{Req, Resp};
use crate::{Shared, State};
use axum::http::Method;
use serde_json::{Value, json};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(crate) struct Version {
    pub id: String,
    pub value: String,
    pub content_type: Option<String>,
    pub tags: Value,
    pub created: u64,
    pub updated: u64,
}

pub(crate) struct Deletion {
    pub deleted_date: u64,
    pub visible_at: Instant,
}

pub(crate) struct Secret {
    pub name: String,
    pub versions: Vec<Version>,
    pub deleted: Option<Deletion>,
    /// A recover in progress: the secret is live again from this moment.
    pub recovering_until: Option<Instant>,
}

const RETENTION_DAYS: u64 = 90;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 127 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn bundle(base: &str, s: &Secret, v: &Version, with_value: bool) -> Value {
    let mut b = json!({
        "id": format!("{base}/secrets/{}/{}", s.name, v.id),
        "attributes": {
            "enabled": true,
            "created": v.created,
            "updated": v.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": RETENTION_DAYS
        },
        "tags": v.tags
    });
    if with_value {
        b["value"] = json!(v.value);
    }
    if let Some(ct) = &v.content_type {
        b["contentType"] = json!(ct);
    }
    b
}

fn deleted_bundle(base: &str, s: &Secret, with_value: bool) -> Value {
    let v = s.versions.last().expect("a secret has a version");
    let mut b = bundle(base, s, v, with_value);
    let d = s.deleted.as_ref().map(|d| d.deleted_date).unwrap_or(0);
    b["recoveryId"] = json!(format!("{base}/deletedsecrets/{}", s.name));
    b["deletedDate"] = json!(d);
    b["scheduledPurgeDate"] = json!(d + RETENTION_DAYS * 86400);
    b
}

fn not_found(name: &str) -> Resp {
    Resp::error(
        404,
        "SecretNotFound",
        &format!(
            "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."
        ),
    )
}

fn deleted_not_found(name: &str) -> Resp {
    Resp::error(
        404,
        "SecretNotFound",
        &format!("Deleted Secret not found: {name}"),
    )
}

fn conflict(inner: &str, message: String) -> Resp {
    Resp::json(
        409,
        json!({"error": {"code": "Conflict", "message": message, "innererror": {"code": inner}}}),
    )
}

/// Live: exists, not deleted, and any recover has finished.
fn is_live(s: &Secret, now: Instant) -> bool {
    s.deleted.is_none() && s.recovering_until.is_none_or(|t| now >= t)
}

/// Deleted and visible under /deletedsecrets.
fn is_deleted_visible(s: &Secret, now: Instant) -> bool {
    s.deleted.as_ref().is_some_and(|d| now >= d.visible_at)
}

pub(crate) fn handle(shared: &Shared, req: &Req) -> Resp {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let base = shared.base.clone();
    let settle = shared.options.keyvault_settle;
    let mut st = shared.lock();
    let st: &mut State = &mut st;
    let now = Instant::now();
    match (req.method.clone(), segs.as_slice()) {
        (Method::GET, ["secrets"]) => {
            let max: usize = match req.query.get("maxresults").map(|m| m.parse::<usize>()) {
                None => 25,
                Some(Ok(m)) if (1..=25).contains(&m) => m,
                _ => {
                    return Resp::error(400, "BadParameter", "maxresults must be between 1 and 25");
                }
            };
            let skip: usize = req
                .query
                .get("$skiptoken")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let live: Vec<&Secret> = st.secrets.values().filter(|s| is_live(s, now)).collect();
            let end = (skip + max).min(live.len());
            let items: Vec<Value> = live
                .get(skip..end)
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    let v = s.versions.last().expect("version");
                    let mut b = bundle(&base, s, v, false);
                    b["id"] = json!(format!("{base}/secrets/{}", s.name));
                    b
                })
                .collect();
            let next = (end < live.len()).then(|| {
                format!("{base}/secrets?api-version=2025-07-01&maxresults={max}&$skiptoken={end}")
            });
            Resp::json(200, json!({"value": items, "nextLink": next}))
        }
        (Method::GET, ["deletedsecrets"]) => {
            let items: Vec<Value> = st
                .secrets
                .values()
                .filter(|s| is_deleted_visible(s, now))
                .map(|s| deleted_bundle(&base, s, false))
                .collect();
            Resp::json(200, json!({"value": items, "nextLink": null}))
        }
        (Method::PUT, ["secrets", name]) => {
            if !valid_name(name) {
                return Resp::error(
                    400,
                    "BadParameter",
                    "The secret name must match ^[0-9a-zA-Z-]+$ and be 1-127 characters.",
                );
            }
            let Some(body) = req.json() else {
                return Resp::error(400, "BadParameter", "The request body is not valid JSON.");
            };
            let Some(value) = body["value"].as_str().map(str::to_string) else {
                return Resp::error(400, "BadParameter", "Property 'value' is required.");
            };
            let id = st.hex_id();
            let key = name.to_ascii_lowercase();
            if let Some(s) = st.secrets.get(&key) {
                if s.deleted.is_some() {
                    return conflict(
                        "ObjectIsDeletedButRecoverable",
                        format!(
                            "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
                        ),
                    );
                }
                if !is_live(s, now) {
                    return conflict(
                        "ObjectIsBeingRecovered",
                        format!(
                            "Secret {name} is currently being recovered, and its name cannot be reused until the recovery is complete."
                        ),
                    );
                }
            }
            let t = now_secs();
            let version = Version {
                id,
                value,
                content_type: body["contentType"].as_str().map(str::to_string),
                tags: if body["tags"].is_object() {
                    body["tags"].clone()
                } else {
                    json!({})
                },
                created: t,
                updated: t,
            };
            let s = st.secrets.entry(key).or_insert_with(|| Secret {
                name: name.to_string(),
                versions: Vec::new(),
                deleted: None,
                recovering_until: None,
            });
            s.versions.push(version);
            let v = s.versions.last().expect("pushed");
            Resp::json(200, bundle(&base, s, v, true))
        }
        (Method::GET, ["secrets", name]) | (Method::GET, ["secrets", name, ""]) => {
            match st.secrets.get(&name.to_ascii_lowercase()) {
                Some(s) if is_live(s, now) => Resp::json(
                    200,
                    bundle(&base, s, s.versions.last().expect("version"), true),
                ),
                _ => not_found(name),
            }
        }
        (Method::GET, ["secrets", name, "versions"]) => {
            match st.secrets.get(&name.to_ascii_lowercase()) {
                Some(s) if is_live(s, now) => {
                    let items: Vec<Value> = s
                        .versions
                        .iter()
                        .map(|v| bundle(&base, s, v, false))
                        .collect();
                    Resp::json(200, json!({"value": items, "nextLink": null}))
                }
                _ => not_found(name),
            }
        }
        (m, ["secrets", name, version]) if m == Method::GET || m == Method::PATCH => {
            let Some(s) = st.secrets.get_mut(&name.to_ascii_lowercase()) else {
                return not_found(name);
            };
            if !is_live(s, now) {
                return not_found(name);
            }
            let Some(idx) = s.versions.iter().position(|v| v.id == *version) else {
                return Resp::error(
                    404,
                    "SecretNotFound",
                    &format!(
                        "A secret with (name/id) {name}/{version} was not found in this key vault."
                    ),
                );
            };
            if m == Method::PATCH {
                let Some(body) = req.json() else {
                    return Resp::error(400, "BadParameter", "The request body is not valid JSON.");
                };
                if body.get("value").is_some() {
                    return Resp::error(
                        400,
                        "BadParameter",
                        "The value of a secret version cannot be changed.",
                    );
                }
                let v = &mut s.versions[idx];
                if body["tags"].is_object() {
                    v.tags = body["tags"].clone();
                }
                if let Some(ct) = body["contentType"].as_str() {
                    v.content_type = Some(ct.to_string());
                }
                v.updated = now_secs();
            }
            let with_value = m == Method::GET;
            Resp::json(200, bundle(&base, s, &s.versions[idx], with_value))
        }
        (Method::DELETE, ["secrets", name]) => match st.secrets.get_mut(&name.to_ascii_lowercase())
        {
            Some(s) if is_live(s, now) => {
                s.deleted = Some(Deletion {
                    deleted_date: now_secs(),
                    visible_at: now + settle,
                });
                Resp::json(200, deleted_bundle(&base, s, false))
            }
            _ => not_found(name),
        },
        (Method::GET, ["deletedsecrets", name]) => match st.secrets.get(&name.to_ascii_lowercase())
        {
            Some(s) if is_deleted_visible(s, now) => {
                Resp::json(200, deleted_bundle(&base, s, false))
            }
            _ => deleted_not_found(name),
        },
        (Method::POST, ["deletedsecrets", name, "recover"]) => {
            match st.secrets.get_mut(&name.to_ascii_lowercase()) {
                Some(s) if is_deleted_visible(s, now) => {
                    s.deleted = None;
                    s.recovering_until = Some(now + settle);
                    let v = s.versions.last().expect("version");
                    Resp::json(200, bundle(&base, s, v, false))
                }
                Some(s) if s.deleted.is_some() => conflict(
                    "ObjectIsBeingDeleted",
                    format!("Secret {name} is currently being deleted."),
                ),
                _ => deleted_not_found(name),
            }
        }
        (Method::DELETE, ["deletedsecrets", name]) => {
            let key = name.to_ascii_lowercase();
            match st.secrets.get(&key) {
                Some(s) if is_deleted_visible(s, now) => {
                    st.secrets.remove(&key);
                    Resp::empty(204)
                }
                Some(s) if s.deleted.is_some() => conflict(
                    "ObjectIsBeingDeleted",
                    format!("Secret {name} is currently being deleted."),
                ),
                _ => deleted_not_found(name),
            }
        }
        _ => Resp::error(
            405,
            "MethodNotAllowed",
            "The operation is not supported by this fake.",
        ),
    }
}
