//! HTTPS transport to the Service Management API: TLS client identity, `x-ms-version`,
//! typed errors with request ids, bounded jittered retries, and the async-operation poller.
//!
//! Retries only where they can help (409 exclusive access, 500, 503, timeouts/connection
//! errors); 400/403/404 fail at once with Azure's message. Never retries forever, never
//! logs key material.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use tracing::{debug, info};

use super::error::AsmError;
use super::identity::{load_ca_bundle, load_management_identity, ManagementIdentity};
pub use super::poll::op_kind;
use super::poll::Durations;
use super::xml;

pub const X_MS_VERSION: &str = "2014-10-01";
pub const DEFAULT_MANAGEMENT_URL: &str = "https://management.core.windows.net";

/// How to reach one subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionAccess {
    pub id: String,
    /// PEM with the management certificate (and usually its key).
    pub certificate: PathBuf,
    /// Separate key file, if the key is not in `certificate`.
    pub key: Option<PathBuf>,
    pub management_url: String,
    /// Extra trusted CA bundle (sovereign clouds, the emulator).
    pub ca_certificate: Option<PathBuf>,
}

/// Timing policy. Defaults suit real Azure; `scaled` shrinks everything for the emulator.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub poll_initial: Duration,
    pub poll_factor: f64,
    pub poll_max: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub max_attempts: u32,
    /// Longest wait for one async operation (`wait_timeout`).
    pub operation_timeout: Duration,
    /// How long a create request whose outcome we never saw (the previous run was killed)
    /// may take to land; teardown watches for such resources this long before giving up.
    pub settle: Duration,
    /// Azure's recorded operation times are multiplied by this (1 against Azure; an
    /// emulator's `--time-scale`) to know when to poll before any was seen.
    pub time_scale: f64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            poll_initial: Duration::from_millis(500),
            poll_factor: 1.5,
            poll_max: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(20),
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(30),
            max_attempts: 12,
            operation_timeout: Duration::from_secs(600),
            settle: Duration::from_secs(90),
            time_scale: 1.0,
        }
    }
}

/// Environment knob for tests and benchmarks against the emulator's `--time-scale`.
pub const TIME_SCALE_ENV: &str = "ELASTICLUSTER_TIME_SCALE";

impl ClientOptions {
    /// Multiply every wait by `f` (e.g. 0.01 against an emulator at time-scale 0.01).
    /// Request timeouts never drop below 5 s: the machine may simply be slow.
    pub fn scaled(mut self, f: f64) -> Self {
        let f = if f.is_finite() && f > 0.0 { f } else { 1.0 };
        let s = |d: Duration| d.mul_f64(f);
        self.poll_initial = s(self.poll_initial).max(Duration::from_millis(2));
        self.poll_max = s(self.poll_max).max(Duration::from_millis(10));
        self.retry_base = s(self.retry_base).max(Duration::from_millis(5));
        self.retry_cap = s(self.retry_cap).max(Duration::from_millis(50));
        self.request_timeout = s(self.request_timeout).max(Duration::from_secs(5));
        self.operation_timeout = s(self.operation_timeout).max(Duration::from_secs(10));
        self.settle = s(self.settle).max(Duration::from_millis(500));
        self.time_scale *= f;
        self
    }
    /// Time scale from `ELASTICLUSTER_TIME_SCALE` (1.0 when unset or invalid).
    pub fn env_time_scale() -> f64 {
        std::env::var(TIME_SCALE_ENV)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f > 0.0)
            .unwrap_or(1.0)
    }
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: String,
}

/// A client bound to one subscription.
#[derive(Clone)]
pub struct AsmClient {
    http: reqwest::Client,
    base: String,
    subscription: String,
    identity: ManagementIdentity,
    pub opts: ClientOptions,
    /// What operations took, per sort (shared by clones of this client).
    durations: Durations,
}

impl std::fmt::Debug for AsmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsmClient")
            .field("base", &self.base)
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

fn backoff(opts: &ClientOptions, attempt: u32) -> Duration {
    let exp = opts
        .retry_base
        .mul_f64(2f64.powi(attempt.min(16) as i32))
        .min(opts.retry_cap);
    exp.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Worth retrying: the same request may well succeed later.
pub fn is_retryable(e: &AsmError) -> bool {
    match e {
        AsmError::Transport { .. } => true,
        AsmError::Api { status, .. } => *status == 500 || *status == 503 || e.is_exclusive_access(),
        _ => false,
    }
}

impl AsmClient {
    pub fn new(access: &SubscriptionAccess, opts: ClientOptions) -> Result<Self, AsmError> {
        let identity = load_management_identity(&access.certificate, access.key.as_deref())?;
        let id = reqwest::Identity::from_pkcs8_pem(&identity.cert_pem, &identity.key_pkcs8_pem)
            .map_err(|e| AsmError::KeyMaterial {
                path: access.certificate.clone(),
                detail: format!("TLS cannot use this certificate/key: {e}"),
            })?;
        let mut b = reqwest::Client::builder()
            .tls_backend_native()
            .identity(id)
            .timeout(opts.request_timeout)
            .connect_timeout(opts.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(ca) = &access.ca_certificate {
            for pem in load_ca_bundle(ca)? {
                let c =
                    reqwest::Certificate::from_pem(&pem).map_err(|e| AsmError::KeyMaterial {
                        path: ca.clone(),
                        detail: format!("cannot use CA certificate: {e}"),
                    })?;
                b = b.add_root_certificate(c);
            }
        }
        let http = b.build().map_err(|e| AsmError::Transport {
            method: "-".into(),
            url: access.management_url.clone(),
            detail: format!("cannot build the HTTPS client: {e}"),
        })?;
        Ok(AsmClient {
            http,
            base: access.management_url.trim_end_matches('/').to_string(),
            subscription: access.id.clone(),
            identity,
            opts,
            durations: Durations::default(),
        })
    }

    pub fn subscription(&self) -> &str {
        &self.subscription
    }
    pub fn thumbprint(&self) -> &str {
        &self.identity.thumbprint
    }

    fn url(&self, path: &str) -> String {
        if path.is_empty() {
            format!("{}/{}", self.base, self.subscription)
        } else {
            format!(
                "{}/{}/{}",
                self.base,
                self.subscription,
                path.trim_start_matches('/')
            )
        }
    }

    /// One attempt. 2xx → `Reply`; anything else → typed error.
    pub async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, String)>,
    ) -> Result<Reply, AsmError> {
        let url = self.url(path);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("x-ms-version", X_MS_VERSION);
        if let Some((ct, b)) = body {
            req = req.header("Content-Type", ct).body(b);
        }
        let started = Instant::now();
        let resp = req.send().await.map_err(|e| AsmError::Transport {
            method: method.to_string(),
            url: url.clone(),
            detail: describe_reqwest(&e),
        })?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-ms-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.map_err(|e| AsmError::Transport {
            method: method.to_string(),
            url: url.clone(),
            detail: describe_reqwest(&e),
        })?;
        let rid = request_id.as_deref().unwrap_or("-");
        if method == Method::GET && path.starts_with("operations/") {
            debug!(target: "asm", "{method} /{path} → {status} request-id {rid} ({} ms)", started.elapsed().as_millis());
        } else {
            info!(target: "asm", "{method} /{path} → {status} request-id {rid} ({} ms)", started.elapsed().as_millis());
        }
        if (200..300).contains(&status) {
            return Ok(Reply {
                status,
                request_id,
                body: text,
            });
        }
        let err: xml::ErrorBody = xml::parse(&text).unwrap_or_else(|_| xml::ErrorBody {
            code: format!("HTTP{status}"),
            message: text.trim().chars().take(300).collect(),
        });
        if status == 403 {
            return Err(AsmError::Forbidden {
                subscription: self.subscription.clone(),
                certificate: self.identity.cert_path.display().to_string(),
                thumbprint: self.identity.thumbprint.clone(),
                message: err.message,
                request_id,
            });
        }
        Err(AsmError::Api {
            method: method.to_string(),
            path: format!("/{}/{}", self.subscription, path),
            status,
            code: err.code,
            message: err.message,
            request_id,
        })
    }

    /// With bounded, jittered retries on errors that can go away.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, String)>,
    ) -> Result<Reply, AsmError> {
        let mut attempt = 0u32;
        loop {
            match self.send_once(method.clone(), path, body.clone()).await {
                Ok(r) => return Ok(r),
                Err(e) if is_retryable(&e) && attempt + 1 < self.opts.max_attempts => {
                    let wait = backoff(&self.opts, attempt);
                    debug!(target: "asm", "retrying {method} /{path} in {} ms after: {e}", wait.as_millis());
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn get(&self, path: &str) -> Result<String, AsmError> {
        Ok(self.send(Method::GET, path, None).await?.body)
    }

    /// GET and parse.
    pub async fn get_xml<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, AsmError> {
        let body = self.get(path).await?;
        xml::parse::<T>(&body).map_err(|detail| AsmError::BadResponse {
            what: format!("GET /{}/{}", self.subscription, path),
            detail,
        })
    }

    /// Poll Get Operation Status until the operation is no longer `InProgress`, on the
    /// schedule of its sort (`kind`, see [`op_kind`] and the `poll` module).
    pub async fn wait_operation(
        &self,
        request_id: &str,
        what: &str,
        kind: &str,
    ) -> Result<(), AsmError> {
        let started = Instant::now();
        let mut schedule = self.durations.schedule(kind, &self.opts);
        let mut polls = 0u32;
        loop {
            let wait = schedule
                .next_wait(started.elapsed())
                .min(self.opts.operation_timeout);
            tokio::time::sleep(wait).await;
            polls += 1;
            let op: xml::Operation = self.get_xml(&format!("operations/{request_id}")).await?;
            match op.status.as_str() {
                "Succeeded" => {
                    self.durations
                        .observe(kind, &schedule, started.elapsed(), polls);
                    return Ok(());
                }
                "Failed" => {
                    let e = op.error.unwrap_or_default();
                    return Err(AsmError::OperationFailed {
                        what: what.to_string(),
                        request_id: request_id.to_string(),
                        http_status: op.http_status_code.unwrap_or(500),
                        code: e.code,
                        message: e.message,
                    });
                }
                "InProgress" => {}
                other => {
                    return Err(AsmError::BadResponse {
                        what: what.to_string(),
                        detail: format!("unknown operation status `{other}`"),
                    })
                }
            }
            if started.elapsed() > self.opts.operation_timeout {
                return Err(AsmError::OperationTimeout {
                    what: what.to_string(),
                    request_id: request_id.to_string(),
                    waited_secs: started.elapsed().as_secs(),
                });
            }
        }
    }

    /// A mutating call: send (with retries) and, if Azure answers 202, wait for the operation.
    /// An operation that fails with a retryable condition (409 exclusive access, 500, 503)
    /// is re-submitted, within the same attempt budget.
    pub async fn mutate(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, String)>,
        what: &str,
    ) -> Result<Reply, AsmError> {
        self.mutate_then(method, path, body, what, || {}).await
    }

    /// [`mutate`](Self::mutate), calling `accepted` once Azure has answered the first
    /// submission (before waiting for its operation); never called when no answer came.
    pub async fn mutate_then(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, String)>,
        what: &str,
        accepted: impl FnOnce(),
    ) -> Result<Reply, AsmError> {
        let mut accepted = Some(accepted);
        let mut attempt = 0u32;
        loop {
            let reply = self.send(method.clone(), path, body.clone()).await?;
            if let Some(f) = accepted.take() {
                f();
            }
            if reply.status != 202 {
                return Ok(reply);
            }
            let Some(rid) = reply.request_id.clone() else {
                return Err(AsmError::BadResponse {
                    what: what.to_string(),
                    detail: "202 Accepted without x-ms-request-id".into(),
                });
            };
            match self
                .wait_operation(&rid, what, &op_kind(&method, path))
                .await
            {
                Ok(()) => return Ok(reply),
                Err(e @ AsmError::OperationFailed { http_status, .. })
                    if (http_status == 500
                        || http_status == 503
                        || (http_status == 409 && e.is_exclusive_access()))
                        && attempt + 1 < self.opts.max_attempts =>
                {
                    let wait = backoff(&self.opts, attempt);
                    debug!(target: "asm", "re-submitting {what} in {} ms after: {e}", wait.as_millis());
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn post_xml(&self, path: &str, body: String, what: &str) -> Result<Reply, AsmError> {
        self.mutate(Method::POST, path, Some(("application/xml", body)), what)
            .await
    }
    pub async fn delete(&self, path: &str, what: &str) -> Result<Reply, AsmError> {
        self.mutate(Method::DELETE, path, None, what).await
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = if e.is_timeout() {
        "request timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.to_string()
    };
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_options_shrink_waits_but_keep_sane_floors() {
        let o = ClientOptions::default().scaled(0.01);
        assert_eq!(o.poll_initial, Duration::from_millis(5));
        assert_eq!(o.poll_max, Duration::from_millis(50));
        assert_eq!(o.request_timeout, Duration::from_secs(5));
        let same = ClientOptions::default().scaled(-3.0);
        assert_eq!(same.poll_max, Duration::from_secs(5));
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let o = ClientOptions::default();
        for a in 0..30 {
            let b = backoff(&o, a);
            assert!(b <= o.retry_cap);
            assert!(b >= o.retry_base.mul_f64(0.5).min(o.retry_cap.mul_f64(0.5)));
        }
    }

    #[test]
    fn retry_classification() {
        let api = |status: u16, code: &str, msg: &str| AsmError::Api {
            method: "POST".into(),
            path: "/x".into(),
            status,
            code: code.into(),
            message: msg.into(),
            request_id: None,
        };
        assert!(is_retryable(&api(503, "ServerBusy", "busy")));
        assert!(is_retryable(&api(500, "InternalError", "oops")));
        assert!(is_retryable(&api(
            409,
            "ConflictError",
            "Windows Azure is currently performing an operation on this deployment that requires exclusive access."
        )));
        assert!(!is_retryable(&api(
            409,
            "ConflictError",
            "The specified DNS name is already taken."
        )));
        assert!(!is_retryable(&api(400, "BadRequest", "nope")));
        assert!(!is_retryable(&api(404, "ResourceNotFound", "gone")));
    }
}
