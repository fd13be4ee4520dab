//! Request plumbing: logging, throttling, token checks, and dispatch by path.

use crate::{LogEntry, Shared, arm, keyvault};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a handler sees of a request.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A response under construction.
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Resp {
    pub fn json(status: u16, body: Value) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
    /// The documented, wrapped error shape.
    pub fn error(status: u16, code: &str, message: &str) -> Resp {
        Resp::json(status, json!({"error": {"code": code, "message": message}}))
    }
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(shared)
}

fn decode(s: &str) -> String {
    decode_with(s, true)
}

fn decode_with(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_form(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 64 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let req = Req {
        method: parts.method.clone(),
        path: decode_with(parts.uri.path(), false),
        query: parse_form(parts.uri.query().unwrap_or("")),
        headers: parts.headers.clone(),
        body,
    };
    let resp = dispatch(&shared, &req);
    {
        let mut s = shared.lock();
        s.log.push(LogEntry {
            method: req.method.to_string(),
            path: req.path.clone(),
            status: resp.status,
        });
    }
    let mut out = match resp.body {
        Some(v) => (
            StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(v),
        )
            .into_response(),
        None => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() =
                StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            r
        }
    };
    for (k, v) in resp.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            HeaderValue::from_str(&v),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    out
}

fn dispatch(shared: &Shared, req: &Req) -> Resp {
    let path = req.path.clone();
    // Token endpoints: no bearer token, no api-version.
    if req.method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        return token_client_credentials(shared, req);
    }
    if req.method == Method::GET && path == "/metadata/identity/oauth2/token" {
        return token_managed_identity(shared, req);
    }
    let is_arm = path.starts_with("/subscriptions/");
    let is_vault = path.starts_with("/secrets") || path.starts_with("/deletedsecrets");
    if !is_arm && !is_vault {
        return Resp::error(404, "NotFound", &format!("no such endpoint: {path}"));
    }
    // Throttling comes first: Resource Manager throttles before it authorizes.
    {
        let mut s = shared.lock();
        if let Some(t) = s
            .throttles
            .iter_mut()
            .find(|t| t.remaining > 0 && path.contains(&t.path_contains))
        {
            t.remaining -= 1;
            let secs = t.retry_after_secs;
            return Resp::error(
                429,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached.",
            )
            .with("Retry-After", secs.to_string())
            .with("x-ms-ratelimit-remaining-subscription-reads", "0");
        }
    }
    let audience = if is_arm { "arm" } else { "vault" };
    if let Some(denied) = check_token(shared, req, audience) {
        return denied;
    }
    if !req.query.contains_key("api-version") {
        return Resp::error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let resp = if is_arm {
        arm::handle(shared, req)
    } else {
        keyvault::handle(shared, req)
    };
    if is_arm {
        resp.with("x-ms-ratelimit-remaining-subscription-reads", "249")
            .with("x-ms-ratelimit-remaining-subscription-writes", "199")
    } else {
        resp
    }
}

fn check_token(shared: &Shared, req: &Req, audience: &str) -> Option<Resp> {
    let challenge = match audience {
        "vault" => format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.azure.net\"",
            shared.base,
            crate::TENANT
        ),
        _ => format!(
            "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\"",
            shared.base,
            crate::TENANT
        ),
    };
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let ok = match token {
        Some(crate::STATIC_TOKEN) => true,
        Some(t) => shared.lock().tokens.get(t).is_some_and(|a| *a == audience),
        None => false,
    };
    if ok {
        return None;
    }
    let (code, msg) = match (audience, token) {
        ("vault", None) => (
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        ),
        ("vault", Some(_)) => (
            "Unauthorized",
            "AKV10022: Invalid audience or unknown token.",
        ),
        (_, None) => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ),
        _ => (
            "InvalidAuthenticationToken",
            "The access token is invalid or has another audience.",
        ),
    };
    Some(Resp::error(401, code, msg).with("WWW-Authenticate", challenge))
}

fn audience_of(resource_or_scope: &str) -> Option<&'static str> {
    match resource_or_scope
        .trim_end_matches("/.default")
        .trim_end_matches('/')
    {
        "https://management.azure.com" | "https://management.core.windows.net" => Some("arm"),
        "https://vault.azure.net" => Some("vault"),
        "https://storage.azure.com" => Some("storage"),
        _ => None,
    }
}

fn issue(shared: &Shared, audience: &'static str) -> String {
    let mut s = shared.lock();
    s.token_requests += 1;
    let token = format!("fake-{audience}-{}", s.hex_id());
    s.tokens.insert(token.clone(), audience);
    token
}

fn oauth_error(status: u16, error: &str, description: &str, code: u32) -> Resp {
    Resp::json(
        status,
        json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": "00000000-0000-0000-0000-000000000001",
            "correlation_id": "00000000-0000-0000-0000-000000000002",
            "error_uri": "https://login.microsoftonline.com/error"
        }),
    )
}

fn token_client_credentials(shared: &Shared, req: &Req) -> Resp {
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    if tenant != crate::TENANT {
        return oauth_error(
            400,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
            90002,
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "AADSTS70003: grant type not supported",
            70003,
        );
    }
    if form.get("client_id").map(String::as_str) != Some(crate::CLIENT_ID) {
        return oauth_error(
            400,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
            700016,
        );
    }
    if form.get("client_secret").map(String::as_str) != Some(crate::CLIENT_SECRET) {
        return oauth_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
            7000215,
        );
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    if !scope.ends_with("/.default") {
        return oauth_error(
            400,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
            1002012,
        );
    }
    let Some(audience) = audience_of(&scope) else {
        return oauth_error(
            400,
            "invalid_resource",
            "AADSTS500011: resource principal not found",
            500011,
        );
    };
    let token = issue(shared, audience);
    let life = shared.options.token_lifetime_secs;
    Resp::json(
        200,
        json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}),
    )
}

fn token_managed_identity(shared: &Shared, req: &Req) -> Resp {
    if req.header("metadata") != Some("true") {
        return Resp::json(
            400,
            json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
        );
    }
    let resource = req.query.get("resource").cloned().unwrap_or_default();
    let Some(audience) = audience_of(&resource) else {
        return Resp::json(
            400,
            json!({"error": "invalid_resource", "error_description": "AADSTS500011: resource not found"}),
        );
    };
    let token = issue(shared, audience);
    let life = shared.options.token_lifetime_secs;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Resp::json(
        200,
        json!({
            "access_token": token,
            "expires_in": life.to_string(),
            "expires_on": (now + life).to_string(),
            "resource": resource,
            "token_type": "Bearer"
        }),
    )
}
