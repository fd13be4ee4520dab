//! The HTTP side: one handler that parses Jenkins' recursive `job/<name>/` URLs itself.

use crate::state::{FOLDER_ROOT, Item, QueueItem, QueueState, State, join, parent, wall_ms};
use crate::{
    AnonymousAccess, AuthKind, CRUMB_FIELD, FAKE_DURATION_PARAM, FAKE_RESULT_PARAM, FOLDER_CONFIG,
    Permission, RequestRecord, SESSION_COOKIE, Shared, xml,
};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Characters kept as they are in a URL path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one path segment (an item name).
pub(crate) fn encode_segment(seg: &str) -> String {
    utf8_percent_encode(seg, SEGMENT).to_string()
}

/// Characters Jenkins refuses in item names (`Jenkins.checkGoodName`).
const UNSAFE: &str = "?*/\\%!@#$^&|<>[]:;";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Token(String),
    Password(String),
    Invalid(String),
}

impl Caller {
    fn user(&self) -> Option<&str> {
        match self {
            Caller::Token(u) | Caller::Password(u) => Some(u),
            _ => None,
        }
    }
    fn kind(&self) -> AuthKind {
        match self {
            Caller::Anonymous => AuthKind::Anonymous,
            Caller::Token(_) => AuthKind::ApiToken,
            Caller::Password(_) => AuthKind::Password,
            Caller::Invalid(_) => AuthKind::Invalid,
        }
    }
}

struct Req {
    method: Method,
    raw_path: String,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
    caller: Caller,
}

impl Req {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
    fn is_form(&self) -> bool {
        self.content_type()
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    }
    fn form(&self) -> Vec<(String, String)> {
        if self.is_form() {
            form_urlencoded::parse(&self.body).into_owned().collect()
        } else {
            Vec::new()
        }
    }
    fn session(&self) -> Option<String> {
        let prefix = format!("{SESSION_COOKIE}=");
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .find_map(|c| c.strip_prefix(&prefix).map(str::to_string))
    }
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    respond(status, "text/plain;charset=utf-8", body.into())
}

fn json_response(value: Value) -> Response {
    respond(
        StatusCode::OK,
        "application/json;charset=utf-8",
        value.to_string(),
    )
}

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

fn not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        "text/html;charset=utf-8",
        "<html><body><h2>HTTP ERROR 404 Not Found</h2></body></html>",
    )
}

fn method_not_allowed() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "HTTP method not allowed")
}

/// A `Failure`, as Jenkins renders it: an HTML page with the message also in `X-Error`.
fn failure(status: StatusCode, message: &str) -> Response {
    let mut r = respond(
        status,
        "text/html;charset=utf-8",
        format!(
            "<html><head><title>Error</title></head><body><h1>Error</h1><p>{}</p></body></html>",
            message.replace('&', "&amp;").replace('<', "&lt;")
        ),
    );
    // Jenkins sends the message as it is, non-ASCII quotes included (as UTF-8 bytes).
    if let Ok(v) = HeaderValue::from_bytes(message.as_bytes()) {
        r.headers_mut().insert("X-Error", v);
    }
    r
}

fn redirect(status: StatusCode, location: &str) -> Response {
    let mut r = empty(status);
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn forbidden(user: Option<&str>, perm: Permission) -> Response {
    let who = user.unwrap_or("anonymous");
    let mut r = text(
        StatusCode::FORBIDDEN,
        format!("{who} is missing the {} permission", perm.title()),
    );
    if let Ok(v) = HeaderValue::from_str(who) {
        r.headers_mut().insert("X-You-Are-Authenticated-As", v);
    }
    r.headers_mut().insert(
        "X-Required-Permission",
        HeaderValue::from_static(perm.class_name()),
    );
    r
}

fn authenticate(state: &State, headers: &HeaderMap) -> Caller {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Caller::Anonymous;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Caller::Invalid(String::new());
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return Caller::Invalid(String::new());
    };
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    let (user, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
    match state.users.get(user) {
        Some(u) if u.tokens.iter().any(|t| t == secret) => Caller::Token(user.to_string()),
        Some(u) if u.password.as_deref() == Some(secret) => Caller::Password(user.to_string()),
        _ => Caller::Invalid(user.to_string()),
    }
}

/// The whole request, start to end: faults, authentication, CSRF, routing, logging.
pub(crate) async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.clone();

    // Injected faults come first, like a proxy in front of Jenkins.
    let fault = {
        let mut s = shared.lock();
        let idx = s
            .faults
            .iter()
            .position(|f| f.remaining > 0 && f.matches(method.as_str(), &raw_path));
        idx.map(|i| {
            s.faults[i].remaining -= 1;
            let f = s.faults[i].clone();
            s.faults.retain(|f| f.remaining > 0);
            f
        })
    };
    if let Some(f) = &fault
        && !f.delay.is_zero()
    {
        tokio::time::sleep(f.delay).await;
    }

    let mut s = shared.lock();
    let caller = authenticate(&s, &parts.headers);
    let record = |s: &mut State, status: StatusCode, caller: &Caller| {
        s.log.push(RequestRecord {
            method: method.to_string(),
            path: raw_path.clone(),
            query: raw_query.clone(),
            user: caller.user().map(str::to_string),
            auth: caller.kind(),
            crumb: parts.headers.contains_key(CRUMB_FIELD),
            session: parts
                .headers
                .get(header::COOKIE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains(SESSION_COOKIE)),
            status: status.as_u16(),
        });
    };
    if let Some(f) = fault.as_ref().filter(|f| f.status.is_some()) {
        let status = f.status.unwrap_or(500);
        let mut r = text(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            f.body
                .clone()
                .unwrap_or_else(|| format!("injected fault: HTTP {status}")),
        );
        if let Some(after) = f.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(after));
        }
        record(&mut s, r.status(), &caller);
        return r;
    }

    let segments: Vec<String> = raw_path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned())
        .collect();
    let req = Req {
        method: method.clone(),
        raw_path: raw_path.clone(),
        segments,
        query: form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        headers: parts.headers.clone(),
        body,
        caller: caller.clone(),
    };
    s.tick();
    let response = route(&mut s, &req);
    record(&mut s, response.status(), &caller);
    response
}

fn route(s: &mut State, req: &Req) -> Response {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    if segs.first() == Some(&"login") {
        return respond(
            StatusCode::OK,
            "text/html;charset=utf-8",
            "<html><body>Sign in to Jenkins (fake)</body></html>",
        );
    }
    // Authentication.
    match &req.caller {
        Caller::Invalid(user) => {
            let mut r = text(
                StatusCode::UNAUTHORIZED,
                format!("Invalid password/token for user: {user}"),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Jenkins\""),
            );
            return r;
        }
        Caller::Anonymous => match s.anonymous {
            AnonymousAccess::Allowed => {}
            AnonymousAccess::Denied => return forbidden(None, Permission::Read),
            AnonymousAccess::RedirectToLogin => {
                let from = utf8_percent_encode(&req.raw_path, NON_ALPHANUMERIC).to_string();
                return redirect(
                    StatusCode::FOUND,
                    &format!("{}/login?from={from}", s.base_url),
                );
            }
        },
        Caller::Token(_) | Caller::Password(_) => {}
    }
    let user = req.caller.user().map(str::to_string);
    if !s.allowed(user.as_deref(), Permission::Read) {
        return forbidden(user.as_deref(), Permission::Read);
    }
    // CSRF: POSTs of password and anonymous sessions need the crumb of their session; API
    // token requests are exempt (ApiCrumbExclusion).
    if req.method == Method::POST && s.csrf && !matches!(req.caller, Caller::Token(_)) {
        let key = user.clone().unwrap_or_default();
        let given = req
            .headers
            .get(CRUMB_FIELD)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                req.form()
                    .into_iter()
                    .find(|(k, _)| k == CRUMB_FIELD)
                    .map(|(_, v)| v)
            });
        let valid = match (req.session(), given) {
            (Some(session), Some(crumb)) => {
                s.sessions.get(&session) == Some(&key) && s.crumb(&key, &session) == crumb
            }
            _ => false,
        };
        if !valid {
            return text(
                StatusCode::FORBIDDEN,
                "No valid crumb was included in the request",
            );
        }
    }

    match segs.as_slice() {
        ["crumbIssuer", "api", "json"] if req.method == Method::GET => crumb_issuer(s, req),
        ["whoAmI", "api", "json"] => json_response(json!({
            "_class": "hudson.security.WhoAmI",
            "anonymous": user.is_none(),
            "authenticated": user.is_some(),
            "name": user.clone().unwrap_or_else(|| "anonymous".into()),
        })),
        ["queue", "item", id] | ["queue", "item", id, "api", "json"] => {
            match id.parse::<u64>().ok().and_then(|id| s.queue.get(&id)) {
                Some(q) => json_response(queue_json(s, q)),
                None => not_found(),
            }
        }
        ["queue", "cancelItem"] if req.method == Method::POST => cancel_item(s, req),
        ["job", ..] => item_route(s, req, &segs, user.as_deref()),
        rest => dispatch(s, req, "", rest, user.as_deref()),
    }
}

fn crumb_issuer(s: &mut State, req: &Req) -> Response {
    if !s.csrf {
        return not_found();
    }
    let key = req.caller.user().unwrap_or("").to_string();
    let (session, fresh) = match req.session() {
        Some(id) if s.sessions.get(&id) == Some(&key) => (id, false),
        _ => (s.new_session(&key), true),
    };
    let crumb = s.crumb(&key, &session);
    let mut r = json_response(json!({
        "_class": "hudson.security.csrf.DefaultCrumbIssuer",
        "crumb": crumb,
        "crumbRequestField": CRUMB_FIELD,
    }));
    if fresh
        && let Ok(v) =
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly"))
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn cancel_item(s: &mut State, req: &Req) -> Response {
    let id = req
        .query("id")
        .map(str::to_string)
        .or_else(|| {
            req.form()
                .into_iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v)
        })
        .and_then(|v| v.parse::<u64>().ok());
    match id.and_then(|id| s.queue.get_mut(&id)) {
        Some(q) => {
            if matches!(q.state, QueueState::Waiting) {
                q.state = QueueState::Left {
                    left_at: Instant::now(),
                    executable: None,
                    cancelled: true,
                };
            }
            empty(StatusCode::NO_CONTENT)
        }
        None => text(StatusCode::UNPROCESSABLE_ENTITY, "unknown queue item"),
    }
}

/// Walks `job/<a>/job/<b>/...` to the item, then dispatches the rest of the URL on it.
fn item_route(s: &mut State, req: &Req, segs: &[&str], user: Option<&str>) -> Response {
    let mut i = 0;
    let mut path = String::new();
    while i + 1 < segs.len() && segs[i] == "job" {
        if !path.is_empty() && !s.items.get(&path).is_some_and(Item::is_folder) {
            // Only folders have children.
            return not_found();
        }
        path = join(&path, segs[i + 1]);
        if !s.items.contains_key(&path) {
            return not_found();
        }
        i += 2;
    }
    if i < segs.len() && segs[i] == "job" {
        return not_found();
    }
    dispatch(s, req, &path, &segs[i..], user)
}

fn dispatch(s: &mut State, req: &Req, path: &str, rest: &[&str], user: Option<&str>) -> Response {
    let is_root = path.is_empty();
    let is_folder = is_root || s.items.get(path).is_some_and(Item::is_folder);
    let post = req.method == Method::POST;
    let get = req.method == Method::GET || req.method == Method::HEAD;
    let need = |perm: Permission| -> Option<Response> {
        (!s.allowed(user, perm)).then(|| forbidden(user, perm))
    };
    match rest {
        [] if get => respond(
            StatusCode::OK,
            "text/html;charset=utf-8",
            format!("<html><body>{path}</body></html>"),
        ),
        [] if req.method == Method::DELETE && !is_root => {
            if let Some(r) = need(Permission::Delete) {
                return r;
            }
            s.remove(path);
            empty(StatusCode::NO_CONTENT)
        }
        ["api", "json"] if get => {
            if is_root {
                json_response(root_json(s))
            } else {
                json_response(item_json(s, path))
            }
        }
        ["createItem"] if is_folder => {
            if !post {
                return method_not_allowed();
            }
            if let Some(r) = need(Permission::Create) {
                return r;
            }
            create_item(s, req, path)
        }
        ["config.xml"] if !is_root => match req.method {
            Method::GET => {
                let config = s.items.get(path).map(Item::config).unwrap_or_default();
                respond(StatusCode::OK, "application/xml", config.to_string())
            }
            Method::POST => {
                if let Some(r) = need(Permission::Configure) {
                    return r;
                }
                update_config(s, req, path)
            }
            _ => text(StatusCode::BAD_REQUEST, "unsupported method"),
        },
        ["doDelete"] if !is_root => {
            if !post {
                return method_not_allowed();
            }
            if let Some(r) = need(Permission::Delete) {
                return r;
            }
            s.remove(path);
            let to = s.item_url(parent(path));
            redirect(StatusCode::FOUND, &to)
        }
        [action @ ("build" | "buildWithParameters")] if !is_folder => {
            if !post {
                return method_not_allowed();
            }
            if let Some(r) = need(Permission::Build) {
                return r;
            }
            trigger(s, req, path, *action == "buildWithParameters")
        }
        [number, tail @ ..] if !is_folder && get => build_route(s, path, number, tail),
        _ => not_found(),
    }
}

fn root_json(s: &State) -> Value {
    let jobs: Vec<Value> = s
        .items
        .iter()
        .filter(|(p, _)| !p.contains('/'))
        .map(|(p, i)| short_item(s, p, i))
        .collect();
    json!({
        "_class": "hudson.model.Hudson",
        "mode": "NORMAL",
        "nodeDescription": "the Jenkins fake of provisio",
        "useCrumbs": s.csrf,
        "useSecurity": true,
        "url": format!("{}/", s.base_url),
        "jobs": jobs,
    })
}

fn class_of(item: &Item) -> String {
    let root = xml::facts(item.config())
        .map(|f| f.root)
        .unwrap_or_default();
    match root.as_str() {
        "project" => "hudson.model.FreeStyleProject".into(),
        "flow-definition" => "org.jenkinsci.plugins.workflow.job.WorkflowJob".into(),
        "maven2-moduleset" => "hudson.maven.MavenModuleSet".into(),
        _ => root,
    }
}

fn color(item: &Item) -> String {
    let Item::Job { config, builds, .. } = item else {
        return String::new();
    };
    if xml::facts(config).is_ok_and(|f| f.disabled) {
        return "disabled".into();
    }
    let now = Instant::now();
    let running = builds.iter().any(|b| b.started + b.duration > now);
    let last = builds.iter().rev().find(|b| b.started + b.duration <= now);
    let base = match last.map(|b| b.result.as_str()) {
        Some("SUCCESS") => "blue",
        Some("UNSTABLE") => "yellow",
        Some("FAILURE") => "red",
        Some("ABORTED") => "aborted",
        _ => "notbuilt",
    };
    if running {
        format!("{base}_anime")
    } else {
        base.into()
    }
}

fn short_item(s: &State, path: &str, item: &Item) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut v = json!({ "_class": class_of(item), "name": name, "url": s.item_url(path) });
    if !item.is_folder() {
        v["color"] = json!(color(item));
    }
    v
}

fn item_json(s: &State, path: &str) -> Value {
    let Some(item) = s.items.get(path) else {
        return Value::Null;
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut v = json!({
        "_class": class_of(item),
        "name": name,
        "displayName": name,
        "fullName": path,
        "fullDisplayName": path.replace('/', " » "),
        "url": s.item_url(path),
    });
    match item {
        Item::Folder { .. } => {
            let prefix = format!("{path}/");
            v["jobs"] = s
                .items
                .iter()
                .filter(|(p, _)| {
                    p.strip_prefix(&prefix)
                        .is_some_and(|rest| !rest.contains('/'))
                })
                .map(|(p, i)| short_item(s, p, i))
                .collect();
        }
        Item::Job {
            config,
            next_build,
            builds,
        } => {
            let facts = xml::facts(config).unwrap_or_default();
            let url = s.item_url(path);
            let build_ref = |b: &crate::state::Build| {
                json!({
                    "_class": "hudson.model.FreeStyleBuild",
                    "number": b.number,
                    "queueId": b.queue_id,
                    "url": format!("{url}{}/", b.number),
                })
            };
            v["buildable"] = json!(!facts.disabled);
            v["color"] = json!(color(item));
            v["inQueue"] = json!(
                s.queue
                    .values()
                    .any(|q| q.job == path && matches!(q.state, QueueState::Waiting))
            );
            v["nextBuildNumber"] = json!(next_build);
            v["builds"] = builds.iter().rev().map(build_ref).collect();
            v["lastBuild"] = builds.last().map(build_ref).unwrap_or(Value::Null);
            if let Some(params) = facts.parameters {
                v["property"] = json!([{
                    "_class": "hudson.model.ParametersDefinitionProperty",
                    "parameterDefinitions": params.iter().map(|(n, d)| json!({
                        "name": n,
                        "defaultParameterValue": {"name": n, "value": d},
                    })).collect::<Vec<_>>(),
                }]);
            }
        }
    }
    v
}

fn build_route(s: &State, path: &str, number: &str, tail: &[&str]) -> Response {
    let Some(Item::Job { builds, .. }) = s.items.get(path) else {
        return not_found();
    };
    let build = match number {
        "lastBuild" => builds.last(),
        n => n
            .parse::<u64>()
            .ok()
            .and_then(|n| builds.iter().find(|b| b.number == n)),
    };
    let Some(b) = build else {
        return not_found();
    };
    let now = Instant::now();
    let building = b.started + b.duration > now;
    match tail {
        [] => respond(
            StatusCode::OK,
            "text/html;charset=utf-8",
            format!("<html><body>{path} #{}</body></html>", b.number),
        ),
        ["api", "json"] => json_response(json!({
            "_class": "hudson.model.FreeStyleBuild",
            "actions": [{
                "_class": "hudson.model.ParametersAction",
                "parameters": b.parameters.iter().map(|(n, v)| json!({
                    "_class": "hudson.model.StringParameterValue", "name": n, "value": v,
                })).collect::<Vec<_>>(),
            }],
            "building": building,
            "displayName": format!("#{}", b.number),
            "duration": if building { 0 } else { b.duration.as_millis() as u64 },
            "fullDisplayName": format!("{} #{}", path.replace('/', " » "), b.number),
            "id": b.number.to_string(),
            "number": b.number,
            "queueId": b.queue_id,
            "result": if building { Value::Null } else { json!(b.result) },
            "timestamp": b.started_wall_ms as u64,
            "url": format!("{}{}/", s.item_url(path), b.number),
        })),
        ["consoleText"] => text(
            StatusCode::OK,
            if building {
                "Started by user\nBuilding (fake)\n".to_string()
            } else {
                format!("Started by user\nBuilding (fake)\nFinished: {}\n", b.result)
            },
        ),
        _ => not_found(),
    }
}

fn queue_json(s: &State, q: &QueueItem) -> Value {
    let task = json!({
        "_class": "hudson.model.FreeStyleProject",
        "name": q.job.rsplit('/').next().unwrap_or(&q.job),
        "url": s.item_url(&q.job),
    });
    let params: String = q
        .parameters
        .iter()
        .map(|(k, v)| format!("\n{k}={v}"))
        .collect();
    match &q.state {
        QueueState::Waiting => {
            let left = q.due.saturating_duration_since(Instant::now());
            json!({
                "_class": "hudson.model.Queue$WaitingItem",
                "actions": [],
                "blocked": false,
                "buildable": false,
                "id": q.id,
                "inQueueSince": q.enqueued_wall_ms as u64,
                "params": params,
                "stuck": false,
                "task": task,
                "url": format!("queue/item/{}/", q.id),
                "why": format!("In the quiet period. Expires in {} ms", left.as_millis()),
                "timestamp": (q.enqueued_wall_ms + left.as_millis()) as u64,
            })
        }
        QueueState::Left {
            executable,
            cancelled,
            ..
        } => json!({
            "_class": "hudson.model.Queue$LeftItem",
            "actions": [],
            "blocked": false,
            "buildable": false,
            "id": q.id,
            "inQueueSince": q.enqueued_wall_ms as u64,
            "params": params,
            "stuck": false,
            "task": task,
            "url": format!("queue/item/{}/", q.id),
            "why": Value::Null,
            "cancelled": cancelled,
            "executable": match executable {
                Some(n) => json!({
                    "_class": "hudson.model.FreeStyleBuild",
                    "number": n,
                    "url": format!("{}{n}/", s.item_url(&q.job)),
                }),
                None => Value::Null,
            },
        }),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("No name is specified".into());
    }
    if name == "." || name == ".." {
        return Err(format!("“{name}” is not an allowed name"));
    }
    if let Some(c) = name.chars().find(|c| UNSAFE.contains(*c) || c.is_control()) {
        return Err(format!("‘{c}’ is an unsafe character"));
    }
    if name.ends_with('.') {
        return Err("A name cannot end with ‘.’".into());
    }
    Ok(())
}

fn create_item(s: &mut State, req: &Req, folder: &str) -> Response {
    let Some(name) = req.query("name") else {
        return failure(
            StatusCode::BAD_REQUEST,
            "Query parameter 'name' is required",
        );
    };
    let name = name.trim().to_string();
    if let Err(e) = check_name(&name) {
        return failure(StatusCode::BAD_REQUEST, &e);
    }
    let path = join(folder, &name);
    if s.items.contains_key(&path) {
        return failure(
            StatusCode::BAD_REQUEST,
            &format!("A job already exists with the name ‘{name}’"),
        );
    }
    match req.query("mode") {
        Some("copy") => {
            let Some(from) = req.query("from") else {
                return failure(StatusCode::BAD_REQUEST, "Specify which job to copy");
            };
            let from = join(folder, from.trim_start_matches('/'));
            let Some(src) = s.items.get(&from).map(|i| i.config().to_string()) else {
                return failure(StatusCode::BAD_REQUEST, &format!("No such job: {from}"));
            };
            if let Err(e) = s.insert(&path, &src) {
                return text(StatusCode::INTERNAL_SERVER_ERROR, e);
            }
            let to = format!("{}configure", s.item_url(&path));
            redirect(StatusCode::FOUND, &to)
        }
        Some(FOLDER_ROOT) => {
            if let Err(e) = s.insert(&path, FOLDER_CONFIG) {
                return text(StatusCode::INTERNAL_SERVER_ERROR, e);
            }
            let to = format!("{}configure", s.item_url(&path));
            redirect(StatusCode::FOUND, &to)
        }
        Some(other) => failure(
            StatusCode::BAD_REQUEST,
            &format!("No item type ‘{other}’ is known"),
        ),
        None => {
            let Some(ct) = req.content_type() else {
                return failure(StatusCode::BAD_REQUEST, "No Content-Type header set");
            };
            if !ct.contains("xml") {
                return failure(
                    StatusCode::BAD_REQUEST,
                    &format!("Unsupported Content-Type: {ct}"),
                );
            }
            let Ok(config) = std::str::from_utf8(&req.body) else {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "java.io.IOException: Failed to persist config.xml",
                );
            };
            match s.insert(&path, config) {
                Ok(()) => empty(StatusCode::OK),
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "java.io.IOException: Failed to persist config.xml",
                ),
            }
        }
    }
}

fn update_config(s: &mut State, req: &Req, path: &str) -> Response {
    let Ok(config) = std::str::from_utf8(&req.body) else {
        return text(StatusCode::BAD_REQUEST, "config.xml is not UTF-8");
    };
    let facts = match xml::facts(config) {
        Ok(f) => f,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("malformed config.xml: {e}"),
            );
        }
    };
    let Some(item) = s.items.get_mut(path) else {
        return not_found();
    };
    let old_root = xml::facts(item.config())
        .map(|f| f.root)
        .unwrap_or_default();
    if old_root != facts.root {
        // Jenkins cannot change an item's type through config.xml.
        return text(
            StatusCode::BAD_REQUEST,
            format!("Expecting {old_root} but got {}", facts.root),
        );
    }
    match item {
        Item::Folder { config: c } | Item::Job { config: c, .. } => *c = config.to_string(),
    }
    empty(StatusCode::OK)
}

fn trigger(s: &mut State, req: &Req, path: &str, with_params: bool) -> Response {
    let Some(Item::Job { config, .. }) = s.items.get(path) else {
        return not_found();
    };
    let facts = xml::facts(config).unwrap_or_default();
    if facts.disabled {
        return text(StatusCode::CONFLICT, format!("{path} is not buildable"));
    }
    if with_params && facts.parameters.is_none() {
        return text(
            StatusCode::BAD_REQUEST,
            format!("{path} is not parameterized"),
        );
    }
    let given: Vec<(String, String)> = req.query.iter().cloned().chain(req.form()).collect();
    let value = |name: &str| {
        given
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    // Only defined parameters are kept (undefined ones are dropped, as Jenkins does since
    // SECURITY-170); missing ones take their default.
    let parameters: Vec<(String, String)> = facts
        .parameters
        .unwrap_or_default()
        .into_iter()
        .map(|(n, d)| {
            let v = value(&n).unwrap_or(d);
            (n, v)
        })
        .collect();
    let controls: Vec<(String, String)> = [FAKE_RESULT_PARAM, FAKE_DURATION_PARAM]
        .into_iter()
        .filter_map(|n| value(n).map(|v| (n.to_string(), v)))
        .collect();
    // An identical waiting item is reused (303), as ParametersDefinitionProperty does.
    if let Some(q) = s.queue.values().find(|q| {
        q.job == path
            && matches!(q.state, QueueState::Waiting)
            && q.parameters == parameters
            && q.controls == controls
    }) {
        let to = format!("{}/queue/item/{}/", s.base_url, q.id);
        return redirect(StatusCode::SEE_OTHER, &to);
    }
    let id = s.next_queue_id;
    s.next_queue_id += 1;
    let delay: Duration = s.timing.queue_delay;
    s.queue.insert(
        id,
        QueueItem {
            id,
            job: path.to_string(),
            parameters,
            controls,
            enqueued_wall_ms: wall_ms(),
            due: Instant::now() + delay,
            state: QueueState::Waiting,
        },
    );
    let to = format!("{}/queue/item/{id}/", s.base_url);
    redirect(StatusCode::CREATED, &to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("web_build-acme").is_ok());
        for bad in ["", ".", "..", "a?", "a/b", "x.", "a;b", "tab\t"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(encode_segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}
