//! An in-memory probe: URLs answer from a table instead of the network.
//!
//! Every URL answers `200 ok` unless the table says otherwise: an embedded run on memory
//! providers (no network) passes its `http.check`s, and a test sets the answers it needs with
//! [`MemoryProbe::set_answer`] / [`MemoryProbe::set_answers`] or the fixtures' `probe`
//! section. A URL can answer a sequence (`503`, `503`, then `200`: the last answer repeats), and
//! the default answer for unknown URLs can be changed ([`MemoryProbe::set_default`]).
//! Faults apply as to every memory provider, under the operation `probe.fetch`.

use crate::faults::{Base, Change, Faults};
use crate::inventory::Inventory;
use provisio::probe::{
    MAX_BODY_BYTES, Probe, ProbeAnswer, ProbeCapabilities, ProbeRequest, Scheme, certificate_error,
};
use provisio::{Bytes, Error, Provider, ProviderInfo, Result, async_trait};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// What a connection does instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailure {
    /// Nothing listens: `Transient` ("connection refused").
    Refused,
    /// The server accepts and never answers: the probe waits its whole timeout, then fails
    /// with `Timeout`.
    Hangs,
}

/// The server's certificate, for `https://` URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Certificate {
    /// Signed by a CA the built-in roots trust.
    #[default]
    Trusted,
    /// Self-signed or from a private CA: refused (`PermissionDenied`) unless the request turns
    /// verification off or names [`MemoryAnswer::ca_file`] as its `ca_file`.
    Untrusted,
}

fn ok_status() -> u16 {
    200
}

fn ok_body() -> String {
    "ok".to_string()
}

/// One answer of the memory probe.
///
/// ```
/// use provisio_memory::probe::MemoryAnswer;
/// assert_eq!(MemoryAnswer::default(), MemoryAnswer::status(200, "ok"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryAnswer {
    /// The HTTP status (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
    /// The body (default `ok`); only its first 64 KiB are returned, as by a real probe.
    #[serde(default = "ok_body")]
    pub body: String,
    /// Fail the connection instead of answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails: Option<ProbeFailure>,
    /// The certificate `https://` requests see (default trusted).
    #[serde(default, skip_serializing_if = "is_default")]
    pub certificate: Certificate,
    /// For an untrusted certificate: the `ca_file` a request names to trust it (the memory
    /// probe compares paths; it reads no file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

impl Default for MemoryAnswer {
    fn default() -> Self {
        MemoryAnswer::status(200, "ok")
    }
}

impl MemoryAnswer {
    /// An answer with `status` and `body`.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        MemoryAnswer {
            status,
            body: body.into(),
            fails: None,
            certificate: Certificate::Trusted,
            ca_file: None,
        }
    }

    /// A connection that fails with `failure`.
    pub fn failing(failure: ProbeFailure) -> Self {
        MemoryAnswer {
            fails: Some(failure),
            ..MemoryAnswer::default()
        }
    }

    /// The same behind an untrusted certificate that `ca_file` (if any) verifies.
    pub fn untrusted(mut self, ca_file: Option<PathBuf>) -> Self {
        self.certificate = Certificate::Untrusted;
        self.ca_file = ca_file;
        self
    }

    fn check(&self, what: &str) -> Result<()> {
        if !(100..=999).contains(&self.status) {
            return Err(Error::invalid_field(
                &format!("{what}.status"),
                format!(
                    "must be an HTTP status from 100 to 999, got {}",
                    self.status
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    /// URL -> the answers still to give; the last one repeats.
    routes: BTreeMap<String, VecDeque<MemoryAnswer>>,
    /// The answer of every URL the table does not hold.
    default: MemoryAnswer,
}

/// In-memory probes: each URL answers from a table (see the [module docs](self)).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use provisio::Probe;
/// use provisio::probe::ProbeRequest;
/// use provisio_memory::probe::{MemoryAnswer, MemoryProbe};
/// let probe = MemoryProbe::new();
/// let url = "https://acme.example.com/health";
/// assert_eq!(probe.fetch(&ProbeRequest::get(url)).await.unwrap().status, 200);
/// probe.set_answers(url, [MemoryAnswer::status(503, "starting"), MemoryAnswer::status(200, "ready")]).unwrap();
/// assert_eq!(probe.fetch(&ProbeRequest::get(url)).await.unwrap().status, 503);
/// let ready = probe.fetch(&ProbeRequest::get(url)).await.unwrap();
/// assert_eq!((ready.status, ready.text().as_str(), ready.tls_verified), (200, "ready", true));
/// assert_eq!(probe.fetch(&ProbeRequest::get(url)).await.unwrap().status, 200); // the last repeats
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryProbe {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryProbe {
    fn default() -> Self {
        Self::new()
    }
}

/// A fetch's answer and whether it used up an answer of a sequence (a state change).
struct Fetched {
    answer: MemoryAnswer,
    advanced: bool,
}

impl Change for Fetched {
    type Out = MemoryAnswer;
    fn changed(&self) -> bool {
        self.advanced
    }
    fn into_out(self) -> MemoryAnswer {
        self.answer
    }
}

impl MemoryProbe {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-probe";

    /// A probe where every URL answers `200 ok`, with no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// The same using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemoryProbe {
            base: Base::new(
                faults,
                Self::DEFAULT_ACCOUNT,
                crate::persist::Section::Probe,
            ),
            state: Mutex::new(State::default()),
        }
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `url` answers `answer` from now on. `InvalidInput` for a URL a probe would refuse or a
    /// status outside 100..=999.
    pub fn set_answer(&self, url: &str, answer: MemoryAnswer) -> Result<()> {
        self.set_answers(url, [answer])
    }

    /// `url` answers these in turn, one per fetch; the last one repeats. An empty list removes
    /// the URL from the table (it gets the default answer again).
    pub fn set_answers(
        &self,
        url: &str,
        answers: impl IntoIterator<Item = MemoryAnswer>,
    ) -> Result<()> {
        provisio::probe::probe_url("url", url)?;
        let answers: VecDeque<MemoryAnswer> = answers.into_iter().collect();
        for (i, a) in answers.iter().enumerate() {
            a.check(&format!("answers[{i}]"))?;
        }
        let mut s = self.lock();
        if answers.is_empty() {
            s.routes.remove(url);
        } else {
            s.routes.insert(url.to_string(), answers);
        }
        Ok(())
    }

    /// What URLs the table does not hold answer (initially `200 ok`; e.g.
    /// `MemoryAnswer::failing(ProbeFailure::Refused)` to make every unknown URL unreachable).
    pub fn set_default(&self, answer: MemoryAnswer) -> Result<()> {
        answer.check("default")?;
        self.lock().default = answer;
        Ok(())
    }

    /// The answer of every URL the table does not hold.
    pub fn default_answer(&self) -> MemoryAnswer {
        self.lock().default.clone()
    }

    /// The answers `url` still has to give (the last repeats); `None` when it gets the default.
    pub fn answers(&self, url: &str) -> Option<Vec<MemoryAnswer>> {
        self.lock()
            .routes
            .get(url)
            .map(|q| q.iter().cloned().collect())
    }

    /// A probe creates nothing: the inventory is empty.
    pub fn inventory(&self) -> Inventory {
        Inventory::new()
    }

    /// The next answer of `url`, using it up when more follow.
    fn next_answer(&self, url: &str) -> Fetched {
        let mut s = self.lock();
        match s.routes.get_mut(url) {
            Some(q) if q.len() > 1 => Fetched {
                answer: q.pop_front().expect("more than one answer"),
                advanced: true,
            },
            Some(q) => Fetched {
                answer: q.front().cloned().unwrap_or_default(),
                advanced: false,
            },
            None => Fetched {
                answer: s.default.clone(),
                advanced: false,
            },
        }
    }
}

/// The probe's part of a [`crate::MemorySnapshot`]: the table (with what is left of each
/// sequence) and the default answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeSnapshot {
    #[serde(default)]
    routes: BTreeMap<String, Vec<MemoryAnswer>>,
    #[serde(default)]
    default: MemoryAnswer,
}

impl crate::snapshot::SnapshotSection for MemoryProbe {
    type JsonCache = ();
    type Snapshot = ProbeSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> ProbeSnapshot {
        let s = self.lock();
        ProbeSnapshot {
            routes: s
                .routes
                .iter()
                .map(|(u, q)| (u.clone(), q.iter().cloned().collect()))
                .collect(),
            default: s.default.clone(),
        }
    }
    fn prepare_section(&self, snap: ProbeSnapshot) -> Result<State> {
        use crate::snapshot::corrupt;
        snap.default
            .check("probe default")
            .map_err(|e| corrupt(e.message()))?;
        let mut routes = BTreeMap::new();
        for (url, answers) in snap.routes {
            provisio::probe::probe_url("probe url", &url).map_err(|e| corrupt(e.message()))?;
            if answers.is_empty() {
                return Err(corrupt(format!("probe url {url} has no answers")));
            }
            for a in &answers {
                a.check("probe answer").map_err(|e| corrupt(e.message()))?;
            }
            routes.insert(url, answers.into());
        }
        Ok(State {
            routes,
            default: snap.default,
        })
    }
    fn install_section(&self, state: State) {
        *self.lock() = state;
    }
}

impl Provider for MemoryProbe {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }
}

#[async_trait]
impl Probe for MemoryProbe {
    fn capabilities(&self) -> ProbeCapabilities {
        ProbeCapabilities {
            https: true,
            custom_ca: true,
            host_header: true,
        }
    }

    /// Answers from the table. `Hangs` waits the request's timeout outside the world's lock,
    /// then fails with `Timeout`; `Refused` fails with `Transient`; an untrusted certificate
    /// with `PermissionDenied` unless verification is off or the request names its CA file.
    async fn fetch(&self, request: &ProbeRequest) -> Result<ProbeAnswer> {
        let hang: Mutex<Option<Duration>> = Mutex::new(None);
        let result = self
            .base
            .run("probe.fetch", &request.url, async {
                let url = request.validated()?;
                let fetched = self.next_answer(&request.url);
                let a = &fetched.answer;
                match a.fails {
                    Some(ProbeFailure::Refused) => {
                        return Err(Error::transient(format!(
                            "connection refused: {} {}",
                            request.method.as_str(),
                            request.url
                        )));
                    }
                    Some(ProbeFailure::Hangs) => {
                        *hang.lock().unwrap_or_else(|p| p.into_inner()) = Some(request.timeout);
                        return Err(Error::timeout(format!(
                            "no answer within {} ms: {} {}",
                            request.timeout.as_millis(),
                            request.method.as_str(),
                            request.url
                        )));
                    }
                    None => {}
                }
                if url.scheme == Scheme::Https
                    && request.tls_verify
                    && a.certificate == Certificate::Untrusted
                    && (a.ca_file.is_none() || a.ca_file != request.ca_file)
                {
                    return Err(certificate_error(
                        &request.url,
                        "self-signed or from an unknown CA (memory probe)",
                    ));
                }
                Ok(fetched)
            })
            .await;
        let hung = *hang.lock().unwrap_or_else(|p| p.into_inner());
        if let (Err(_), Some(wait)) = (&result, hung) {
            tokio::time::sleep(wait).await;
        }
        let answer = result?;
        let https = request.url.to_ascii_lowercase().starts_with("https://");
        let body = match request.method {
            provisio::probe::ProbeMethod::Head => Bytes::new(),
            provisio::probe::ProbeMethod::Get => Bytes::from(answer.body.into_bytes()),
        };
        let mut out = ProbeAnswer::new(answer.status, body);
        debug_assert!(out.body.len() <= MAX_BODY_BYTES);
        out.tls_verified = https && request.tls_verify;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::ErrorKind;
    use provisio::probe::ProbeMethod;

    #[tokio::test(start_paused = true)]
    async fn answers_failures_and_certificates() {
        let p = MemoryProbe::new();
        let get = |u: &str| ProbeRequest::get(u);
        let ok = p.fetch(&get("http://a.example/")).await.unwrap();
        assert_eq!(
            (ok.status, ok.text().as_str(), ok.tls_verified),
            (200, "ok", false)
        );

        p.set_answer(
            "http://down.example/",
            MemoryAnswer::failing(ProbeFailure::Refused),
        )
        .unwrap();
        let e = p.fetch(&get("http://down.example/")).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert!(e.message().contains("connection refused"), "{e}");

        p.set_answer(
            "http://slow.example/",
            MemoryAnswer::failing(ProbeFailure::Hangs),
        )
        .unwrap();
        let mut slow = get("http://slow.example/");
        slow.timeout = Duration::from_secs(3);
        let t0 = tokio::time::Instant::now();
        let e = p.fetch(&slow).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert_eq!(t0.elapsed(), Duration::from_secs(3));

        let url = "https://self-signed.example/";
        p.set_answer(
            url,
            MemoryAnswer::status(200, "hi").untrusted(Some("/etc/ca.pem".into())),
        )
        .unwrap();
        let e = p.fetch(&get(url)).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
        assert!(e.message().contains("certificate did not verify"), "{e}");
        let mut with_ca = get(url);
        with_ca.ca_file = Some("/etc/ca.pem".into());
        assert!(p.fetch(&with_ca).await.unwrap().tls_verified);
        let mut unverified = get(url);
        unverified.tls_verify = false;
        unverified.method = ProbeMethod::Head;
        let a = p.fetch(&unverified).await.unwrap();
        assert!(!a.tls_verified);
        assert!(a.body.is_empty());

        let e = p.fetch(&get("gopher://x/")).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(p.set_answer("nope", MemoryAnswer::default()).is_err());
        assert!(
            p.set_answer("http://a/", MemoryAnswer::status(42, ""))
                .unwrap_err()
                .message()
                .contains("status")
        );
        // every fetch is a call, the one refused at the boundary too
        assert_eq!(p.faults().calls("probe.fetch"), 7);
    }

    #[tokio::test]
    async fn sequences_and_the_default() {
        let p = MemoryProbe::new();
        let url = "http://acme.example/health";
        p.set_answers(
            url,
            [
                MemoryAnswer::status(503, ""),
                MemoryAnswer::status(200, "ready"),
            ],
        )
        .unwrap();
        let req = ProbeRequest::get(url);
        assert_eq!(p.fetch(&req).await.unwrap().status, 503);
        assert_eq!(p.answers(url).unwrap().len(), 1);
        assert_eq!(p.fetch(&req).await.unwrap().status, 200);
        assert_eq!(p.fetch(&req).await.unwrap().status, 200);
        assert_eq!(p.faults().mutations("probe.fetch"), 1);
        p.set_default(MemoryAnswer::failing(ProbeFailure::Refused))
            .unwrap();
        assert!(p.fetch(&ProbeRequest::get("http://other/")).await.is_err());
        p.set_answers(url, []).unwrap();
        assert!(p.fetch(&req).await.is_err(), "back to the default");
    }

    #[tokio::test]
    async fn faults_fail_fetches_then_recover() {
        let faults = Faults::new(1);
        faults.error_on_call("probe.fetch", 1, ErrorKind::Transient);
        faults.error_on_call("probe.fetch", 2, ErrorKind::Transient);
        let p = MemoryProbe::with_faults(faults.clone());
        let req = ProbeRequest::get("http://acme.example/");
        assert!(p.fetch(&req).await.unwrap_err().retryable());
        assert!(p.fetch(&req).await.unwrap_err().retryable());
        assert_eq!(p.fetch(&req).await.unwrap().status, 200);
        assert_eq!(faults.injected().len(), 2);
    }
}
