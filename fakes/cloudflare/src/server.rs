//! The HTTP side: routing, auth, quota, faults, the request log, and the handlers.

use crate::records::{self, ApiError, Draft, FakeRecord};
use crate::time::now_rfc3339;
use crate::{FakeOptions, Fault, LoggedRequest, Quota};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A zone.
#[derive(Debug)]
struct Zone {
    id: String,
    name: String,
    created_on: String,
    records: Vec<FakeRecord>,
}

#[derive(Debug)]
struct Inner {
    zones: Vec<Zone>,
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
    quota: Option<Quota>,
    quota_epoch: Instant,
    window: u64,
    window_count: u32,
    next_id: u64,
}

/// The state shared by every request of one fake.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) token: String,
    min_ttl: u32,
    started: Instant,
    account_id: String,
    inner: Mutex<Inner>,
}

/// A 32-hex id from a text (FNV-1a, twice with different bases): stable for zone names.
fn hex_id(seed: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for byte in seed.bytes() {
        a = (a ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ byte as u64)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(7);
    }
    format!("{a:016x}{b:016x}")
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Shared {
    pub(crate) fn new(options: &FakeOptions) -> Shared {
        let s = Shared {
            token: options.token.clone(),
            min_ttl: options.min_ttl,
            started: Instant::now(),
            account_id: hex_id("fake-cloudflare-account"),
            inner: Mutex::new(Inner {
                zones: Vec::new(),
                faults: Vec::new(),
                log: Vec::new(),
                quota: options.quota,
                quota_epoch: Instant::now(),
                window: 0,
                window_count: 0,
                next_id: 0,
            }),
        };
        for z in &options.zones {
            s.add_zone(z);
        }
        s
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add_zone(&self, name: &str) -> String {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut inner = self.lock();
        if let Some(z) = inner.zones.iter().find(|z| z.name == name) {
            return z.id.clone();
        }
        let id = hex_id(&name);
        inner.zones.push(Zone {
            id: id.clone(),
            name,
            created_on: now_rfc3339(),
            records: Vec::new(),
        });
        id
    }

    pub(crate) fn set_quota(&self, quota: Option<Quota>) {
        let mut inner = self.lock();
        inner.quota = quota;
        inner.quota_epoch = Instant::now();
        inner.window = 0;
        inner.window_count = 0;
    }

    pub(crate) fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.lock().faults.push(fault);
        }
    }

    pub(crate) fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub(crate) fn clear_requests(&self) {
        self.lock().log.clear();
    }

    pub(crate) fn records(&self, zone: &str) -> Vec<FakeRecord> {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        self.lock()
            .zones
            .iter()
            .find(|z| z.name == zone)
            .map(|z| z.records.clone())
            .unwrap_or_default()
    }

    pub(crate) fn insert_raw(
        &self,
        zone: &str,
        record_type: &str,
        name: &str,
        content: &str,
        data: Option<Value>,
    ) -> Option<String> {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let mut inner = self.lock();
        let id = next_record_id(&mut inner);
        let z = inner.zones.iter_mut().find(|z| z.name == zone)?;
        let now = now_rfc3339();
        z.records.push(FakeRecord {
            id: id.clone(),
            zone_id: z.id.clone(),
            zone_name: z.name.clone(),
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            record_type: record_type.to_ascii_uppercase(),
            content: content.to_string(),
            ttl: 1,
            proxied: false,
            priority: None,
            comment: None,
            tags: Vec::new(),
            data,
            created_on: now.clone(),
            modified_on: now,
        });
        Some(id)
    }
}

fn next_record_id(inner: &mut Inner) -> String {
    inner.next_id += 1;
    let n = inner.next_id;
    format!("{:016x}{:016x}", splitmix(n), splitmix(n ^ 0x5eed))
}

/// Serves the fake's API on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().fallback(handle).with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// What a handler produces before the envelope is written.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

impl Answer {
    fn ok(result: Value) -> Answer {
        Answer {
            status: 200,
            body: json!({"success": true, "errors": [], "messages": [], "result": result}),
            retry_after: None,
        }
    }
    fn page(result: Vec<Value>, page: u64, per_page: u64, total: usize) -> Answer {
        let total_pages = (total as u64).div_ceil(per_page.max(1));
        let count = result.len();
        Answer {
            status: 200,
            body: json!({
                "success": true, "errors": [], "messages": [], "result": result,
                "result_info": {
                    "page": page, "per_page": per_page, "count": count,
                    "total_count": total, "total_pages": total_pages,
                },
            }),
            retry_after: None,
        }
    }
    fn err(e: ApiError) -> Answer {
        Answer {
            status: e.status,
            body: json!({
                "success": false,
                "errors": [{"code": e.code, "message": e.message}],
                "messages": [],
                "result": null,
            }),
            retry_after: None,
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn number_param(q: &HashMap<String, String>, key: &str, default: u64) -> Result<u64, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && *f >= 1.0)
            .map(|f| f as u64)
            .ok_or_else(|| ApiError::new(400, 1004, format!("{key} must be a positive integer"))),
    }
}

async fn handle(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = state.started.elapsed();
    let raw_path = uri.path();
    let path = raw_path.strip_prefix("/client/v4").unwrap_or(raw_path);
    let path = if path.is_empty() { "/" } else { path };
    if let Some(admin) = path.strip_prefix("/__fake/") {
        return admin_endpoint(&state, &method, admin, &body);
    }
    let path_q = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };

    // Injected faults come first and are not counted against the quota.
    let fault = {
        let mut inner = state.lock();
        let pos = inner.faults.iter().position(|f| {
            f.method.as_deref().is_none_or(|m| m == method.as_str())
                && f.path_contains
                    .as_deref()
                    .is_none_or(|p| path_q.contains(p))
        });
        pos.map(|i| {
            let f = inner.faults[i].clone();
            inner.faults[i].times -= 1;
            if inner.faults[i].times == 0 {
                inner.faults.remove(i);
            }
            f
        })
    };
    let mut malformed = false;
    let answer = 'answer: {
        if let Some(f) = &fault {
            if f.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
            }
            malformed = f.malformed;
            if f.status != 0 {
                let mut a =
                    Answer::err(ApiError::new(f.status, f.code.max(1000), f.message.clone()));
                a.retry_after = f.retry_after;
                break 'answer a;
            }
        }
        if let Err(e) = check_auth(&state, &headers) {
            break 'answer Answer::err(e);
        }
        if let Some(retry) = take_quota(&state) {
            let mut a = Answer::err(ApiError::new(
                429,
                10000,
                "Rate limited. Please wait and consider throttling your request speed",
            ));
            a.retry_after = Some(retry);
            break 'answer a;
        }
        match route(&state, &method, path, uri.query(), &body) {
            Ok(a) => a,
            Err(e) => Answer::err(e),
        }
    };
    let mut body = answer.body;
    if malformed && let Some(o) = body.as_object_mut() {
        o.remove("errors");
        o.remove("messages");
    }
    let status = answer.status;
    let ratelimit = {
        let mut inner = state.lock();
        inner.log.push(LoggedRequest {
            at: arrived,
            method: method.as_str().to_string(),
            path: path_q,
            status,
        });
        inner.quota.map(|q| {
            let window = q.window.as_secs_f64().max(0.001);
            let elapsed = inner.quota_epoch.elapsed().as_secs_f64();
            let left = (window - elapsed % window).ceil() as u64;
            let remaining = q.requests.saturating_sub(inner.window_count);
            (
                format!("\"default\";r={remaining};t={left}"),
                format!("\"burst\";q={};w={}", q.requests, q.window.as_secs().max(1)),
            )
        })
    };
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(r) = answer.retry_after
        && let Ok(v) = HeaderValue::from_str(&r.to_string())
    {
        h.insert(header::RETRY_AFTER, v);
    }
    if let Some((rl, policy)) = ratelimit {
        if let Ok(v) = HeaderValue::from_str(&rl) {
            h.insert("ratelimit", v);
        }
        if let Ok(v) = HeaderValue::from_str(&policy) {
            h.insert("ratelimit-policy", v);
        }
    }
    resp
}

fn check_auth(state: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let bad_header = || ApiError {
        status: 400,
        code: 6003,
        message: "Invalid request headers".to_string(),
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(bad_header());
    };
    let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return Err(bad_header());
    };
    if token.trim().is_empty() {
        return Err(bad_header());
    }
    if token.trim() != state.token {
        return Err(ApiError::new(403, 9109, "Invalid access token"));
    }
    Ok(())
}

/// Counts one request against the quota; `Some(retry_after_secs)` when it is over.
fn take_quota(state: &Shared) -> Option<u64> {
    let mut inner = state.lock();
    let q = inner.quota?;
    let window = q.window.max(Duration::from_millis(1));
    let elapsed = inner.quota_epoch.elapsed();
    let index = (elapsed.as_nanos() / window.as_nanos()) as u64;
    if index != inner.window {
        inner.window = index;
        inner.window_count = 0;
    }
    if inner.window_count >= q.requests {
        let end = window.as_secs_f64() * (index + 1) as f64;
        return Some((end - elapsed.as_secs_f64()).ceil().max(1.0) as u64);
    }
    inner.window_count += 1;
    None
}

fn admin_endpoint(state: &Shared, method: &Method, path: &str, body: &[u8]) -> Response {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (status, out) = match (method.as_str(), path.trim_end_matches('/')) {
        ("POST", "zones") => match parsed.get("name").and_then(Value::as_str) {
            Some(name) => (200, json!({"id": state.add_zone(name)})),
            None => (400, json!({"error": "expected {\"name\": ...}"})),
        },
        ("POST", "faults") => match serde_json::from_value::<Fault>(parsed) {
            Ok(f) => {
                state.inject(f);
                (200, json!({}))
            }
            Err(e) => (400, json!({"error": e.to_string()})),
        },
        ("POST", "quota") => {
            let requests = parsed.get("requests").and_then(Value::as_u64);
            let secs = parsed.get("window_secs").and_then(Value::as_f64);
            match (requests, secs) {
                (Some(r), Some(s)) if s > 0.0 => {
                    state.set_quota(Some(Quota {
                        requests: r.min(u32::MAX as u64) as u32,
                        window: Duration::from_secs_f64(s),
                    }));
                    (200, json!({}))
                }
                _ => {
                    state.set_quota(None);
                    (200, json!({}))
                }
            }
        }
        ("GET", "requests") => (200, json!(state.requests())),
        ("DELETE", "requests") => {
            state.clear_requests();
            (200, json!({}))
        }
        _ => (404, json!({"error": "unknown fake endpoint"})),
    };
    let mut resp = Response::new(Body::from(out.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn no_route() -> ApiError {
    ApiError::new(404, 7000, "No route for that URI")
}

fn bad_id(path: &str) -> ApiError {
    ApiError::new(
        400,
        7003,
        format!("Could not route to {path}, perhaps your object identifier is invalid?"),
    )
}

fn route(
    state: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let q = parse_query(query);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_allowed = || ApiError::new(405, 10405, "Method not allowed for this endpoint");
    match segs.as_slice() {
        ["user", "tokens", "verify"] => match *method {
            Method::GET => Ok(Answer::ok(json!({
                "id": hex_id(&state.token),
                "status": "active",
            }))),
            _ => Err(not_allowed()),
        },
        ["zones"] => match *method {
            Method::GET => list_zones(state, &q),
            _ => Err(not_allowed()),
        },
        ["zones", zone_id] => match *method {
            Method::GET => {
                let inner = state.lock();
                let z = find_zone(&inner, zone_id, path)?;
                Ok(Answer::ok(zone_json(state, z)))
            }
            _ => Err(not_allowed()),
        },
        ["zones", zone_id, "dns_records"] => match *method {
            Method::GET => list_records(state, zone_id, path, &q),
            Method::POST => write_record(state, zone_id, None, path, body, false),
            _ => Err(not_allowed()),
        },
        ["zones", zone_id, "dns_records", record_id] => match *method {
            Method::GET => {
                let inner = state.lock();
                let z = find_zone(&inner, zone_id, path)?;
                let r = find_record(z, record_id, path)?;
                Ok(Answer::ok(r.to_json()))
            }
            Method::PUT => write_record(state, zone_id, Some(record_id), path, body, false),
            Method::PATCH => write_record(state, zone_id, Some(record_id), path, body, true),
            Method::DELETE => {
                let mut inner = state.lock();
                let z = find_zone_mut(&mut inner, zone_id, path)?;
                find_record(z, record_id, path)?;
                z.records.retain(|r| r.id != *record_id);
                Ok(Answer::ok(json!({"id": record_id})))
            }
            _ => Err(not_allowed()),
        },
        _ => Err(no_route()),
    }
}

fn find_zone<'a>(inner: &'a Inner, zone_id: &str, path: &str) -> Result<&'a Zone, ApiError> {
    if !is_hex_id(zone_id) {
        return Err(bad_id(path));
    }
    inner
        .zones
        .iter()
        .find(|z| z.id == zone_id)
        .ok_or_else(|| ApiError {
            status: 404,
            ..bad_id(path)
        })
}

fn find_zone_mut<'a>(
    inner: &'a mut Inner,
    zone_id: &str,
    path: &str,
) -> Result<&'a mut Zone, ApiError> {
    if !is_hex_id(zone_id) {
        return Err(bad_id(path));
    }
    inner
        .zones
        .iter_mut()
        .find(|z| z.id == zone_id)
        .ok_or_else(|| ApiError {
            status: 404,
            ..bad_id(path)
        })
}

fn find_record<'a>(z: &'a Zone, record_id: &str, path: &str) -> Result<&'a FakeRecord, ApiError> {
    if !is_hex_id(record_id) {
        return Err(bad_id(path));
    }
    z.records
        .iter()
        .find(|r| r.id == record_id)
        .ok_or_else(|| ApiError::new(404, 81044, "Record does not exist."))
}

fn zone_json(state: &Shared, z: &Zone) -> Value {
    json!({
        "id": z.id,
        "name": z.name,
        "status": "active",
        "paused": false,
        "type": "full",
        "development_mode": 0,
        "name_servers": ["ada.ns.example.net", "bob.ns.example.net"],
        "original_name_servers": null,
        "original_registrar": null,
        "original_dnshost": null,
        "vanity_name_servers": [],
        "created_on": z.created_on,
        "modified_on": z.created_on,
        "activated_on": z.created_on,
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": false,
            "foundation_dns": false,
            "dns_only": false,
            "cdn_only": false,
        },
        "owner": {"id": state.account_id, "type": "user", "name": "fake owner"},
        "account": {"id": state.account_id, "name": "Fake Account"},
        "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
        "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0},
    })
}

/// `name` filter with Cloudflare's optional operators (`contains:`, `starts_with:`, ...),
/// case-insensitive.
fn name_matches(filter: &str, name: &str) -> bool {
    let (op, value) = match filter.split_once(':') {
        Some((op, v))
            if matches!(
                op,
                "equal"
                    | "not_equal"
                    | "starts_with"
                    | "ends_with"
                    | "contains"
                    | "starts_with_case_sensitive"
                    | "ends_with_case_sensitive"
                    | "contains_case_sensitive"
            ) =>
        {
            (op, v)
        }
        _ => ("equal", filter),
    };
    let (n, v) = if op.ends_with("case_sensitive") {
        (name.to_string(), value.to_string())
    } else {
        (name.to_ascii_lowercase(), value.to_ascii_lowercase())
    };
    match op.trim_end_matches("_case_sensitive") {
        "equal" => n == v,
        "not_equal" => n != v,
        "starts_with" => n.starts_with(&v),
        "ends_with" => n.ends_with(&v),
        _ => n.contains(&v),
    }
}

fn list_zones(state: &Shared, q: &HashMap<String, String>) -> Result<Answer, ApiError> {
    let page = number_param(q, "page", 1)?;
    let per_page = number_param(q, "per_page", 20)?.clamp(5, 50);
    let inner = state.lock();
    let mut zones: Vec<&Zone> = inner
        .zones
        .iter()
        .filter(|z| q.get("name").is_none_or(|f| name_matches(f, &z.name)))
        .filter(|_| q.get("status").is_none_or(|s| s == "active"))
        .filter(|_| q.get("account.id").is_none_or(|a| *a == state.account_id))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    if q.get("direction").is_some_and(|d| d == "desc") {
        zones.reverse();
    }
    let total = zones.len();
    let items = zones
        .into_iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(|z| zone_json(state, z))
        .collect();
    Ok(Answer::page(items, page, per_page, total))
}

fn list_records(
    state: &Shared,
    zone_id: &str,
    path: &str,
    q: &HashMap<String, String>,
) -> Result<Answer, ApiError> {
    let page = number_param(q, "page", 1)?;
    let per_page = number_param(q, "per_page", 100)?.min(5000);
    let inner = state.lock();
    let z = find_zone(&inner, zone_id, path)?;
    let name = match q.get("name") {
        Some(n) => Some(records::qualify(&z.name, n)?),
        None => None,
    };
    let record_type = q.get("type").map(|t| t.to_ascii_uppercase());
    let proxied = match q.get("proxied").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::new(400, 1004, "proxied must be true or false")),
    };
    let any = q.get("match").is_some_and(|m| m == "any");
    let mut matched: Vec<&FakeRecord> = z
        .records
        .iter()
        .filter(|r| {
            let checks = [
                name.as_ref().map(|n| r.name == *n),
                record_type.as_ref().map(|t| r.record_type == *t),
                q.get("content").map(|c| r.content == *c),
                proxied.map(|p| r.proxied == p),
            ];
            let mut given = checks.iter().flatten().peekable();
            if given.peek().is_none() {
                return true;
            }
            if any {
                given.any(|ok| *ok)
            } else {
                given.all(|ok| *ok)
            }
        })
        .collect();
    let order = q.get("order").map(String::as_str).unwrap_or("type");
    matched.sort_by(|a, b| {
        let key = match order {
            "name" => a.name.cmp(&b.name),
            "content" => a.content.cmp(&b.content),
            "ttl" => a.ttl.cmp(&b.ttl),
            "proxied" => a.proxied.cmp(&b.proxied),
            _ => a.record_type.cmp(&b.record_type),
        };
        key.then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.created_on.cmp(&b.created_on))
            .then_with(|| a.id.cmp(&b.id))
    });
    if q.get("direction").is_some_and(|d| d == "desc") {
        matched.reverse();
    }
    let total = matched.len();
    let items = matched
        .into_iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(FakeRecord::to_json)
        .collect();
    Ok(Answer::page(items, page, per_page, total))
}

fn write_record(
    state: &Shared,
    zone_id: &str,
    record_id: Option<&str>,
    path: &str,
    body: &[u8],
    patch: bool,
) -> Result<Answer, ApiError> {
    let parsed: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        _ => return Err(ApiError::new(400, 9207, "Request body is invalid.")),
    };
    let mut inner = state.lock();
    let new_id = next_record_id(&mut inner);
    let min_ttl = state.min_ttl;
    let z = find_zone_mut(&mut inner, zone_id, path)?;
    let existing = match record_id {
        Some(id) => Some(find_record(z, id, path)?.clone()),
        None => None,
    };
    let fields = match (&existing, patch) {
        (Some(r), true) => {
            let mut merged = Draft::of(r);
            for (k, v) in parsed {
                merged.insert(k, v);
            }
            merged
        }
        _ => parsed,
    };
    let draft = records::check(&z.name, &fields, min_ttl)?;
    let self_id = existing.as_ref().map(|r| r.id.clone());
    records::conflicts(
        &z.name,
        &draft,
        z.records.iter().filter(|r| Some(&r.id) != self_id.as_ref()),
    )?;
    let now = now_rfc3339();
    let record = FakeRecord {
        id: self_id.clone().unwrap_or(new_id),
        zone_id: z.id.clone(),
        zone_name: z.name.clone(),
        name: draft.name,
        record_type: draft.record_type,
        content: draft.content,
        ttl: draft.ttl,
        proxied: draft.proxied,
        priority: draft.priority,
        comment: draft.comment,
        tags: draft.tags,
        data: draft.data,
        created_on: existing
            .as_ref()
            .map(|r| r.created_on.clone())
            .unwrap_or_else(|| now.clone()),
        modified_on: now,
    };
    let json = record.to_json();
    match z
        .records
        .iter_mut()
        .find(|r| Some(&r.id) == self_id.as_ref())
    {
        Some(slot) => *slot = record,
        None => z.records.push(record),
    }
    Ok(Answer::ok(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("name=a%2Eb.example&x=1+2&flag&bad=%zz"));
        assert_eq!(q["name"], "a.b.example");
        assert_eq!(q["x"], "1 2");
        assert_eq!(q["flag"], "");
        assert_eq!(q["bad"], "%zz");
    }

    #[test]
    fn ids() {
        assert!(is_hex_id(&hex_id("example.com")));
        assert_ne!(hex_id("a.example"), hex_id("b.example"));
        assert!(!is_hex_id("ZZ"));
    }

    #[test]
    fn name_filters() {
        assert!(name_matches("example.com", "Example.com"));
        assert!(name_matches("ends_with:.com", "example.com"));
        assert!(!name_matches("starts_with:x", "example.com"));
        assert!(name_matches("contains:amp", "example.com"));
    }
}
