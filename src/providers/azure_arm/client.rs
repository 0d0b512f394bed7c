//! HTTPS to Azure Resource Manager: bearer token on every request (renewed when ARM says it
//! expired), JSON bodies, bounded retries (429 after its `Retry-After`; 500/502/503/504,
//! connection errors and "another operation in progress" with jittered backoff), a write
//! budget sized to ARM's limits (200 burst, 10 per second) and a cap on requests in flight.
//! Long-running operations are followed in `lro.rs`.
//!
//! Never logs a token or the secret; never retries a request Azure refused for a reason
//! that will not go away (400, 403, 404, quota, …).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use tokio::sync::{Mutex, Semaphore};
use tracing::{debug, info};

use super::error::{parse_error, ArmError};
use super::token::TokenCache;

/// Timing and budget policy. Defaults suit real Azure; `time_scale` shrinks every wait for
/// an emulator running its latency model faster.
#[derive(Clone, Debug)]
pub struct ArmOptions {
    /// Multiplies every wait (polls, backoff, `Retry-After`), never request timeouts.
    pub time_scale: f64,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Poll interval when an operation gives no `Retry-After`.
    pub poll_default: Duration,
    /// Longest wait for one long-running operation (`wait_timeout`), unscaled.
    pub operation_timeout: Duration,
    /// How long a create whose outcome was never seen (the run was killed) may take to
    /// show up; teardown watches for it this long.
    pub settle: Duration,
    /// Write requests allowed at once, and refilled per second (ARM: 200 and 10/s).
    pub write_burst: f64,
    pub write_rate: f64,
    pub max_in_flight: usize,
}

impl Default for ArmOptions {
    fn default() -> Self {
        ArmOptions {
            time_scale: 1.0,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(20),
            max_attempts: 10,
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(60),
            poll_default: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(600),
            settle: Duration::from_secs(90),
            write_burst: 200.0,
            write_rate: 10.0,
            max_in_flight: 48,
        }
    }
}

impl ArmOptions {
    /// `d` at this time scale (at least 1 ms).
    pub fn scaled(&self, d: Duration) -> Duration {
        let f = if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        d.mul_f64(f).max(Duration::from_millis(1))
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry_base
            .mul_f64(2f64.powi(attempt.min(16) as i32))
            .min(self.retry_cap);
        self.scaled(exp.mul_f64(rand::rng().random_range(0.5..=1.0)))
    }
}

/// Paces write requests: a token bucket refilled at ARM's rate (scaled with the time
/// scale, so an emulator running faster is written to faster).
struct WriteBudget {
    state: Mutex<(f64, Instant)>,
    burst: f64,
    rate: f64,
}

impl WriteBudget {
    async fn take(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// One answer from ARM (2xx).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub async_operation: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub request_id: Option<String>,
}

/// A client for one subscription, shared by every task of a provider.
#[derive(Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    /// ARM endpoint without trailing `/`.
    base: String,
    subscription: String,
    tokens: Arc<TokenCache>,
    writes: Arc<WriteBudget>,
    in_flight: Arc<Semaphore>,
    pub opts: ArmOptions,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("base", &self.base)
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

/// The HTTPS client: system roots plus `ca_certificate` (sovereign clouds, the emulator).
pub fn http_client(
    ca_certificate: Option<&PathBuf>,
    opts: &ArmOptions,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .tls_backend_native()
        .timeout(opts.request_timeout)
        .connect_timeout(opts.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(30));
    if let Some(ca) = ca_certificate {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not a PEM CA bundle: {e}", ca.display()))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTPS client: {e}"))
}

/// A reqwest error with its causes, on one line.
pub fn describe(e: &reqwest::Error) -> String {
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

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Worth sending again: throttled, busy, or blocked by another operation on the resource.
fn retryable(status: u16, code: &str) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
        || code == "AnotherOperationInProgress"
        || code == "RetryableError"
}

impl ArmClient {
    pub fn new(
        http: reqwest::Client,
        arm_endpoint: &str,
        subscription: &str,
        tokens: Arc<TokenCache>,
        opts: ArmOptions,
    ) -> Self {
        let f = if opts.time_scale > 0.0 {
            opts.time_scale
        } else {
            1.0
        };
        ArmClient {
            http,
            base: arm_endpoint.trim_end_matches('/').to_string(),
            subscription: subscription.to_string(),
            tokens,
            writes: Arc::new(WriteBudget {
                state: Mutex::new((opts.write_burst, Instant::now())),
                burst: opts.write_burst.max(1.0),
                rate: (opts.write_rate / f).max(0.01),
            }),
            in_flight: Arc::new(Semaphore::new(opts.max_in_flight.max(1))),
            opts,
        }
    }

    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    /// Absolute URL of an ARM path (`/subscriptions/…?api-version=…`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One request with retries. `url` is absolute (operation URLs are followed verbatim).
    /// 2xx → [`Reply`]; anything else → [`ArmError::Api`] (after retries where they help).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<Reply, ArmError> {
        let body = body.map(|b| b.to_string());
        let is_write = method != Method::GET && method != Method::HEAD;
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            attempt += 1;
            let token = self.tokens.bearer().await?;
            if is_write {
                self.writes.take().await;
            }
            let sent = {
                let _permit = self.in_flight.acquire().await;
                let mut req = self
                    .http
                    .request(method.clone(), url)
                    .bearer_auth(token.expose())
                    .header("Accept", "application/json");
                req = match &body {
                    Some(b) => req
                        .header("Content-Type", "application/json")
                        .body(b.clone()),
                    None if is_write => req.header("Content-Length", "0"),
                    None => req,
                };
                let t = Instant::now();
                let r = req.send().await;
                match r {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let reply = Reply {
                            status,
                            async_operation: header(&resp, "azure-asyncoperation"),
                            location: header(&resp, "location"),
                            retry_after: header(&resp, "retry-after")
                                .and_then(|v| v.trim().parse::<u64>().ok())
                                .map(Duration::from_secs),
                            request_id: header(&resp, "x-ms-request-id")
                                .or_else(|| header(&resp, "x-ms-correlation-request-id")),
                            body: resp.text().await.unwrap_or_default(),
                        };
                        let path = url.strip_prefix(&self.base).unwrap_or(url);
                        let rid = reply.request_id.as_deref().unwrap_or("-");
                        if method == Method::GET {
                            debug!(target: "arm", "{method} {path} → {status} request-id {rid} ({} ms)", t.elapsed().as_millis());
                        } else {
                            info!(target: "arm", "{method} {path} → {status} request-id {rid} ({} ms)", t.elapsed().as_millis());
                        }
                        Ok(reply)
                    }
                    Err(e) => Err(e),
                }
            };
            let reply = match sent {
                Ok(r) => r,
                Err(e) => {
                    if attempt < self.opts.max_attempts {
                        tokio::time::sleep(self.opts.backoff(attempt)).await;
                        continue;
                    }
                    return Err(ArmError::Transport {
                        what: what.to_string(),
                        url: url.to_string(),
                        detail: describe(&e),
                    });
                }
            };
            if (200..300).contains(&reply.status) {
                return Ok(reply);
            }
            let detail = parse_error(reply.status, &reply.body);
            if reply.status == 401 && !renewed {
                // Expired (or revoked) while we used it: one fresh token, then give up.
                renewed = true;
                self.tokens.forget(&token).await;
                continue;
            }
            if retryable(reply.status, &detail.code) && attempt < self.opts.max_attempts {
                let wait = match (reply.status, reply.retry_after) {
                    (429, Some(ra)) => self.opts.scaled(ra.max(Duration::from_secs(1))),
                    _ => self.opts.backoff(attempt),
                };
                debug!(target: "arm", "{what}: {} {}; again in {} ms", reply.status, detail.code, wait.as_millis());
                tokio::time::sleep(wait).await;
                continue;
            }
            if reply.status == 429 {
                return Err(ArmError::Throttled {
                    what: what.to_string(),
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            return Err(ArmError::Api {
                what: what.to_string(),
                status: reply.status,
                detail: Box::new(detail),
                request_id: reply.request_id,
            });
        }
    }

    /// GET and parse; `None` when the resource is not there (404).
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Option<T>, ArmError> {
        match self.send(Method::GET, url, None, what).await {
            Ok(r) => parse(&r.body, what).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list, following `nextLink`; a missing parent (404) is an empty list.
    pub async fn list<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Vec<T>, ArmError> {
        self.list_pages(url, what, true).await
    }

    /// Like [`Self::list`], but a 404 is Azure's error (e.g. an unknown location).
    pub async fn list_existing<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<Vec<T>, ArmError> {
        self.list_pages(url, what, false).await
    }

    async fn list_pages<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
        missing_ok: bool,
    ) -> Result<Vec<T>, ArmError> {
        #[derive(serde::Deserialize)]
        struct Page<T> {
            #[serde(default = "Vec::new")]
            value: Vec<T>,
            #[serde(default, rename = "nextLink")]
            next_link: Option<String>,
        }
        let mut out = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(u) = next.take() {
            let page: Page<T> = match self.send(Method::GET, &u, None, what).await {
                Ok(r) => parse(&r.body, what)?,
                Err(e) if missing_ok && e.is_not_found() => break,
                Err(e) => return Err(e),
            };
            out.extend(page.value);
            next = page.next_link.filter(|l| !l.is_empty());
        }
        Ok(out)
    }
}

/// Parse a JSON body, naming what it was for.
pub fn parse<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, ArmError> {
    serde_json::from_str(body).map_err(|e| ArmError::BadResponse {
        what: what.to_string(),
        detail: format!("cannot read the JSON answer: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_scaled_capped_and_jittered() {
        let o = ArmOptions {
            time_scale: 0.01,
            ..Default::default()
        };
        for a in 0..20 {
            let b = o.backoff(a);
            assert!(b <= Duration::from_millis(600), "{b:?}");
        }
        assert!(retryable(429, ""));
        assert!(retryable(409, "AnotherOperationInProgress"));
        assert!(!retryable(409, "OperationNotAllowed"));
        assert!(!retryable(400, "InvalidParameter"));
    }

    #[tokio::test]
    async fn write_budget_paces_after_the_burst() {
        let b = WriteBudget {
            state: Mutex::new((2.0, Instant::now())),
            burst: 2.0,
            rate: 50.0,
        };
        let t = Instant::now();
        for _ in 0..5 {
            b.take().await;
        }
        // two from the burst, three at 50/s: about 60 ms
        let el = t.elapsed();
        assert!(el >= Duration::from_millis(50), "{el:?}");
        assert!(el < Duration::from_secs(2), "{el:?}");
    }
}
