//! `http.check`: wait until a URL answers as expected (a tenant's health endpoint), so that a
//! launch is only done when its services answer.

use super::params::{Flag, Int, Phase, TypedParams};
use crate::providers::Capability;
use crate::resource::{Applied, Polling, ResourceType, StepContext};
use crate::retry::RetryPolicy;
use provisio::probe::{ProbeAnswer, ProbeMethod, ProbeRequest, host_header, probe_url};
use provisio::{Deleted, Error, Outcome, Result};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The deadline of a check when `timeout_secs` is not set.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// The first wait between attempts when `interval_secs` is not set.
pub const DEFAULT_INTERVAL_SECS: u64 = 2;
/// The longest wait between attempts when `max_interval_secs` is not set.
pub const DEFAULT_MAX_INTERVAL_SECS: u64 = 30;
/// The timeout of one request when `request_timeout_secs` is not set (or the deadline, when
/// shorter).
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 10;

/// `http.check`: a step that passes once its URL answers as expected.
///
/// Parameters:
/// - `url` (required): `http://` or `https://`, with a host; no credentials in it.
/// - `expect_status` (default `200`): a status, or a list of them (`[200, 204]`).
/// - `body_contains`: text the body's first 64 KiB must contain.
/// - `tls_verify` (default `true`): verify the server's certificate. `false` is written on the
///   check itself (a provider file cannot turn verification off), so the plan shows it.
/// - `ca_file`: a PEM file of the CA that signed the server's certificate (an internal CA),
///   trusted besides the built-in roots; a path on the machine that runs the engine.
/// - `timeout_secs` (default 300, 1 to 7200): the check's whole deadline.
/// - `interval_secs` (default 2, 1 to 600) and `max_interval_secs` (default 30): the wait
///   between attempts starts at `interval_secs` and doubles up to `max_interval_secs`, each
///   wait drawn at random below that bound (full jitter).
/// - `request_timeout_secs` (default 10, at most the deadline): the timeout of one request.
/// - `method` (`GET` or `HEAD`, default `GET`; `HEAD` cannot check a body) and `host_header`
///   (a `Host` header for a virtual host behind the URL's address).
///
/// How it runs: `apply` sends **one** probe. An answer that does not match, a refused
/// connection or a request that timed out fail the attempt with a retryable error naming the
/// URL, what was expected and what came back; the engine retries the step by
/// [`ResourceType::polling`] (a `step_retrying` event per attempt) until the answer matches
/// or the deadline passes, and then fails the step with `Timeout` naming the last answer. A
/// certificate that does not verify, or a bad `ca_file`, fails at once (not retryable).
/// A blueprint `retry` on the resource replaces the interval schedule; a `timeout_secs` on
/// the resource (the step timeout) cuts the deadline short when it is shorter; the engine's
/// default step timeout does not apply to checks (their parameters say how long to wait).
///
/// `read` sends one probe: the outputs when the answer matches, nothing (`None`: the plan
/// shows the check to be run again) when it does not or the service cannot be reached, and
/// the error for what waiting cannot fix (a certificate that does not verify). `delete` has
/// nothing to delete and sends nothing. Changing `url` replaces the check (runs it anew);
/// changing another parameter runs it again as an update.
///
/// Outputs: `url`, `status` (the answer's status, volatile: a later matching answer may have
/// another of the expected statuses).
///
/// ```yaml
/// web_up:
///   type: http.check
///   params:
///     url: https://${tenant.name}.example.com/health
///     expect_status: [200, 204]
///     body_contains: ok
///     timeout_secs: 600
///   depends_on: [web_dns]
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpCheck;

/// `expect_status`: one status or a list of statuses.
struct Statuses(Vec<Int>);

impl<'de> Deserialize<'de> for Statuses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Statuses;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status or a list of statuses")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> std::result::Result<Statuses, E> {
                Int::deserialize(de::value::U64Deserializer::new(n)).map(|i| Statuses(vec![i]))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> std::result::Result<Statuses, E> {
                Int::deserialize(de::value::I64Deserializer::new(n)).map(|i| Statuses(vec![i]))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Statuses, E> {
                Int::deserialize(de::value::StrDeserializer::new(s)).map(|i| Statuses(vec![i]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<Statuses, A::Error> {
                Vec::<Int>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Statuses)
            }
        }
        d.deserialize_any(V)
    }
}

/// The parameters of `http.check` (see [`HttpCheck`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckParams {
    url: String,
    #[serde(default)]
    expect_status: Option<Statuses>,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default)]
    tls_verify: Option<Flag>,
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    timeout_secs: Option<Int>,
    #[serde(default)]
    interval_secs: Option<Int>,
    #[serde(default)]
    max_interval_secs: Option<Int>,
    #[serde(default)]
    request_timeout_secs: Option<Int>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    host_header: Option<String>,
}

/// A checked `http.check`.
#[derive(Debug, Clone, PartialEq)]
struct Check {
    request: ProbeRequest,
    expect: Vec<u16>,
    body_contains: Option<String>,
    deadline: Duration,
    interval: Duration,
    max_interval: Duration,
}

impl Check {
    /// `status 200`, `status 200 or 204`, with `and a body containing "ok"`.
    fn expectation(&self) -> String {
        let statuses: Vec<String> = self.expect.iter().map(u16::to_string).collect();
        let mut s = format!("status {}", statuses.join(" or "));
        if let Some(text) = &self.body_contains {
            s.push_str(&format!(" and a body containing {text:?}"));
        }
        s
    }

    /// Whether `a` is what the check expects; otherwise what differs.
    fn mismatch(&self, a: &ProbeAnswer) -> Option<String> {
        if !self.expect.contains(&a.status) {
            return Some(format!("status {}", a.status));
        }
        match &self.body_contains {
            Some(text) if !a.text().contains(text.as_str()) => Some(format!(
                "status {} with a body{} that does not contain {text:?}",
                a.status,
                if a.body_truncated {
                    " (first 64 KiB)"
                } else {
                    ""
                }
            )),
            _ => None,
        }
    }
}

fn secs(phase: Phase, field: &str, v: Option<&Int>, min: u64, max: u64) -> Result<Option<u64>> {
    phase.int(field, v, min, max)
}

impl TypedParams for CheckParams {
    const TYPE: &'static str = "http.check";
    const REPLACE: &'static [&'static str] = &["url"];
    type Spec = Check;

    fn check(self, phase: Phase) -> Result<Check> {
        let url = phase.name("url", &self.url, |field, value| {
            probe_url(field, value).map(|_| value.to_string())
        })?;
        let mut expect = Vec::new();
        match &self.expect_status {
            None => expect.push(200),
            Some(Statuses(list)) if list.is_empty() => {
                return Err(Error::invalid_field(
                    "expect_status",
                    "must list at least one status",
                ));
            }
            Some(Statuses(list)) => {
                for (i, s) in list.iter().enumerate() {
                    let field = if list.len() == 1 {
                        "expect_status".to_string()
                    } else {
                        format!("expect_status[{i}]")
                    };
                    if let Some(n) = phase.int(&field, Some(s), 100, 599)? {
                        expect.push(n as u16);
                    }
                }
            }
        }
        if let Some(text) = &self.body_contains
            && (text.is_empty() || text.len() > 4096)
        {
            return Err(Error::invalid_field(
                "body_contains",
                "must be 1 to 4096 bytes of text",
            ));
        }
        let tls_verify = phase
            .flag("tls_verify", self.tls_verify.as_ref())?
            .unwrap_or(true);
        let ca_file = phase.opt_name("ca_file", self.ca_file.as_deref(), |field, value| {
            if value.is_empty() || value.chars().any(char::is_control) {
                return Err(Error::invalid_field(
                    field,
                    "must be the path of a PEM file",
                ));
            }
            Ok(value.to_string())
        })?;
        if ca_file.is_some() && self.tls_verify == Some(Flag::Value(false)) {
            return Err(Error::invalid_field(
                "ca_file",
                "has no effect with tls_verify: false; leave one of them out",
            ));
        }
        let deadline = secs(phase, "timeout_secs", self.timeout_secs.as_ref(), 1, 7200)?
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        let interval = secs(phase, "interval_secs", self.interval_secs.as_ref(), 1, 600)?
            .unwrap_or(DEFAULT_INTERVAL_SECS);
        let max_interval = secs(
            phase,
            "max_interval_secs",
            self.max_interval_secs.as_ref(),
            1,
            600,
        )?;
        if let Some(m) = max_interval
            && m < interval
        {
            return Err(Error::invalid_field(
                "max_interval_secs",
                format!("must be at least interval_secs ({interval}), got {m}"),
            ));
        }
        let max_interval = max_interval.unwrap_or(DEFAULT_MAX_INTERVAL_SECS.max(interval));
        let request_timeout = secs(
            phase,
            "request_timeout_secs",
            self.request_timeout_secs.as_ref(),
            1,
            300,
        )?;
        if let Some(t) = request_timeout
            && t > deadline
        {
            return Err(Error::invalid_field(
                "request_timeout_secs",
                format!("must not exceed timeout_secs ({deadline}), got {t}"),
            ));
        }
        let request_timeout = request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS.min(deadline));
        let method = match self.method.as_deref() {
            None => ProbeMethod::Get,
            Some(m) if phase.unresolved(m) => ProbeMethod::Get,
            Some(m) if m.eq_ignore_ascii_case("GET") => ProbeMethod::Get,
            Some(m) if m.eq_ignore_ascii_case("HEAD") => ProbeMethod::Head,
            Some(m) => {
                return Err(Error::invalid_field(
                    "method",
                    format!("must be GET or HEAD, got {m:?}"),
                ));
            }
        };
        if method == ProbeMethod::Head && self.body_contains.is_some() {
            return Err(Error::invalid_field(
                "body_contains",
                "needs method GET: a HEAD answer has no body",
            ));
        }
        let host = phase.opt_name("host_header", self.host_header.as_deref(), host_header)?;
        Ok(Check {
            request: ProbeRequest {
                url,
                method,
                tls_verify,
                ca_file: ca_file.map(PathBuf::from),
                timeout: Duration::from_secs(request_timeout),
                host_header: host,
            },
            expect,
            body_contains: self.body_contains,
            deadline: Duration::from_secs(deadline),
            interval: Duration::from_secs(interval),
            max_interval: Duration::from_secs(max_interval),
        })
    }
}

fn outputs(check: &Check, a: &ProbeAnswer) -> Value {
    json!({ "url": check.request.url, "status": a.status })
}

impl HttpCheck {
    /// One probe: the answer when it matches; otherwise a retryable error naming the URL, what
    /// was expected and what came back (or the provider's error as it is).
    async fn probe_once(&self, ctx: &StepContext<'_>, check: &Check) -> Result<ProbeAnswer> {
        let probe = ctx.providers.probe(ctx.provider)?;
        let what = format!("{} {}", check.request.method.as_str(), check.request.url);
        let answer = probe.fetch(&check.request).await.map_err(|e| {
            let e = e.context(format!("{what} (expected {})", check.expectation()));
            if e.resource().is_some() {
                e
            } else {
                e.with_resource(ctx.resource)
            }
        })?;
        match check.mismatch(&answer) {
            None => Ok(answer),
            Some(got) => Err(Error::transient(format!(
                "{what} answered {got}; expected {}",
                check.expectation()
            ))
            .with_resource(ctx.resource)),
        }
    }
}

#[provisio::async_trait]
impl ResourceType for HttpCheck {
    fn name(&self) -> &str {
        "http.check"
    }

    fn capability(&self) -> Capability {
        Capability::Probe
    }

    fn reports_existence(&self) -> bool {
        // `Created` exactly when the check has no record yet: nothing exists at the provider
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        CheckParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        CheckParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["url", "status"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        &["status"]
    }

    fn polling(&self, params: &Value) -> Option<Polling> {
        let check = CheckParams::parse(params, Phase::Resolved).ok()?;
        Some(Polling {
            retry: RetryPolicy {
                // bounded by the deadline, not by a count
                max_attempts: u32::MAX,
                initial_backoff_ms: check.interval.as_millis() as u64,
                max_backoff_ms: check.max_interval.as_millis() as u64,
            },
            deadline: check.deadline,
        })
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let check = CheckParams::parse(params, Phase::Resolved)?;
        Ok(format!("http check {}", check.request.url))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let check = CheckParams::parse(params, Phase::Resolved)?;
        match self.probe_once(ctx, &check).await {
            Ok(a) => Ok(Some(outputs(&check, &a))),
            // does not pass now: the plan shows it to be run again
            Err(e) if e.retryable() => {
                tracing::info!(resource = ctx.resource, error = %e, "http.check does not pass");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let check = CheckParams::parse(params, Phase::Resolved)?;
        let answer = self.probe_once(ctx, &check).await?;
        let out = outputs(&check, &answer);
        let outcome = match prior {
            None => Outcome::Created,
            Some(p) if *p == out => Outcome::Unchanged,
            Some(_) => Outcome::Updated,
        };
        Ok(Applied {
            outputs: out,
            outcome,
        })
    }

    async fn delete(
        &self,
        _ctx: &StepContext<'_>,
        _params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        // a check leaves nothing behind
        Ok(Deleted::AlreadyGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, check_outputs, rejects};
    use provisio::ErrorKind;
    use provisio_memory::probe::{MemoryAnswer, ProbeFailure};

    fn parse(p: Value) -> Check {
        CheckParams::parse(&p, Phase::Resolved).unwrap()
    }

    #[test]
    fn validates_params() {
        let ok = [
            json!({"url": "https://acme.example.com/health"}),
            json!({"url": "${web.url}", "expect_status": "${tenant.status}"}),
            json!({"url": "http://h/", "expect_status": [200, "204"], "body_contains": "ok"}),
            json!({"url": "https://h/", "tls_verify": "false", "timeout_secs": 10, "interval_secs": 1}),
            json!({"url": "https://h/", "ca_file": "/etc/ssl/tenant-ca.pem", "method": "head"}),
            json!({"url": "https://h/", "host_header": "acme.example.com"}),
        ];
        for p in ok {
            HttpCheck
                .validate(&p)
                .unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        let t = |p: Value, field: &str| rejects(HttpCheck.validate(&p), field);
        t(json!({}), "url");
        t(json!({"url": "ftp://h/"}), "url");
        t(json!({"url": "http://user:pw@h/"}), "url");
        t(
            json!({"url": "http://h/", "expect_status": 42}),
            "expect_status",
        );
        t(
            json!({"url": "http://h/", "expect_status": []}),
            "expect_status",
        );
        t(
            json!({"url": "http://h/", "expect_status": [200, 700]}),
            "expect_status[1]",
        );
        t(
            json!({"url": "http://h/", "expect_status": "abc"}),
            "expect_status",
        );
        t(
            json!({"url": "http://h/", "body_contains": ""}),
            "body_contains",
        );
        t(
            json!({"url": "http://h/", "tls_verify": "no"}),
            "tls_verify",
        );
        t(
            json!({"url": "http://h/", "tls_verify": false, "ca_file": "/ca.pem"}),
            "ca_file",
        );
        t(
            json!({"url": "http://h/", "timeout_secs": 0}),
            "timeout_secs",
        );
        t(
            json!({"url": "http://h/", "timeout_secs": 99999}),
            "timeout_secs",
        );
        t(
            json!({"url": "http://h/", "interval_secs": 10, "max_interval_secs": 5}),
            "max_interval_secs",
        );
        t(
            json!({"url": "http://h/", "timeout_secs": 5, "request_timeout_secs": 6}),
            "request_timeout_secs",
        );
        t(json!({"url": "http://h/", "method": "POST"}), "method");
        t(
            json!({"url": "http://h/", "method": "HEAD", "body_contains": "x"}),
            "body_contains",
        );
        t(
            json!({"url": "http://h/", "host_header": "a/b"}),
            "host_header",
        );
        t(json!({"url": "http://h/", "verify": false}), "verify");
    }

    #[test]
    fn defaults_and_the_polling_schedule() {
        let c = parse(json!({"url": "https://h/health"}));
        assert_eq!(c.expect, [200]);
        assert!(c.request.tls_verify);
        assert_eq!(c.request.method, ProbeMethod::Get);
        assert_eq!(c.request.timeout, Duration::from_secs(10));
        assert_eq!(c.deadline, Duration::from_secs(300));
        assert_eq!(c.expectation(), "status 200");
        let p = HttpCheck
            .polling(&json!({"url": "https://h/", "timeout_secs": 60, "interval_secs": 3}))
            .unwrap();
        assert_eq!(p.deadline, Duration::from_secs(60));
        assert_eq!(p.retry.initial_backoff_ms, 3000);
        assert_eq!(p.retry.max_backoff_ms, 30_000);
        assert_eq!(p.retry.backoff_cap(2), Duration::from_secs(6));
        let short = parse(
            json!({"url": "http://h/", "timeout_secs": 4, "expect_status": [200, 204], "body_contains": "up"}),
        );
        assert_eq!(short.request.timeout, Duration::from_secs(4));
        assert_eq!(
            short.expectation(),
            "status 200 or 204 and a body containing \"up\""
        );
        assert!(HttpCheck.polling(&json!({"url": "nope"})).is_none());
    }

    #[tokio::test]
    async fn passes_fails_and_reads() {
        let h = Harness::new();
        let ctx = h.ctx("web_up", "tok");
        let url = "https://acme.example.com/health";
        let params = json!({"url": url, "body_contains": "ready"});
        h.cloud
            .probe
            .set_answers(
                url,
                [
                    MemoryAnswer::status(503, "starting"),
                    MemoryAnswer::status(200, "booting"),
                    MemoryAnswer::failing(ProbeFailure::Refused),
                    MemoryAnswer::status(200, "ready"),
                ],
            )
            .unwrap();
        // one attempt per apply; the engine retries
        let e = HttpCheck.apply(&ctx, &params, None).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert_eq!(
            e.message(),
            "GET https://acme.example.com/health answered status 503; expected status 200 and a body containing \"ready\""
        );
        assert_eq!(e.resource(), Some("web_up"));
        let e = HttpCheck.apply(&ctx, &params, None).await.unwrap_err();
        assert!(e.message().contains("does not contain \"ready\""), "{e}");
        let e = HttpCheck.apply(&ctx, &params, None).await.unwrap_err();
        assert!(e.retryable());
        assert!(e.message().contains("connection refused"), "{e}");
        assert!(e.message().contains("expected status 200"), "{e}");
        let a = HttpCheck.apply(&ctx, &params, None).await.unwrap();
        assert_eq!(a.outcome, Outcome::Created);
        check_outputs(&HttpCheck, &a.outputs);
        assert_eq!(a.outputs, json!({"url": url, "status": 200}));
        let again = HttpCheck
            .apply(&ctx, &params, Some(&a.outputs))
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(
            HttpCheck.read(&ctx, &params, None).await.unwrap(),
            Some(a.outputs.clone())
        );
        // the service goes down: the check no longer passes, which is no error for read
        h.cloud
            .probe
            .set_answer(url, MemoryAnswer::status(502, ""))
            .unwrap();
        assert_eq!(HttpCheck.read(&ctx, &params, None).await.unwrap(), None);
        assert_eq!(
            HttpCheck.delete(&ctx, &params, &a.outputs).await.unwrap(),
            Deleted::AlreadyGone
        );
        // every apply and read was one probe; delete sent none
        assert_eq!(h.cloud.faults.calls("probe.fetch"), 7);
    }

    #[tokio::test]
    async fn an_untrusted_certificate_fails_at_once() {
        let h = Harness::new();
        let ctx = h.ctx("web_up", "tok");
        let url = "https://self-signed.example.com/";
        h.cloud
            .probe
            .set_answer(url, MemoryAnswer::default().untrusted(None))
            .unwrap();
        let e = HttpCheck
            .apply(&ctx, &json!({"url": url}), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        assert!(!e.retryable());
        assert!(e.message().contains("certificate did not verify"), "{e}");
        // and read says so instead of "does not pass"
        assert!(
            HttpCheck
                .read(&ctx, &json!({"url": url}), None)
                .await
                .is_err()
        );
        let a = HttpCheck
            .apply(&ctx, &json!({"url": url, "tls_verify": false}), None)
            .await
            .unwrap();
        assert_eq!(a.outputs["status"], 200);
    }
}
