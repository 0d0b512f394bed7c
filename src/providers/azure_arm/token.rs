//! OAuth2 client-credentials tokens from the Microsoft identity platform (v2.0 endpoint
//! `{authority}/{tenant}/oauth2/v2.0/token`), cached and renewed before they expire (five
//! minutes early, or halfway for short lifetimes, or at `refresh_in`); one fetch at a time.
//!
//! Never logs the secret or a token; a refused secret is one line with the AADSTS code.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tracing::info;

use super::error::{one_line, ArmError};
use super::secret::{ClientSecret, Secret};

/// Who asks, and for what.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// e.g. `https://login.microsoftonline.com` (no trailing `/`).
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    /// Read at the first token request.
    pub secret: ClientSecret,
    /// e.g. `https://management.azure.com/.default`.
    pub scope: String,
}

impl Credentials {
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant)
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct TokenErrorReply {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// A number the v2 endpoint sends as a number and the v1 endpoint as a string.
fn seconds(v: &Option<serde_json::Value>) -> Option<u64> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// When to fetch a new token for one that lives `lifetime` (and suggests `refresh_in`).
pub fn renew_after(lifetime: Duration, refresh_in: Option<Duration>) -> Duration {
    let margin = Duration::from_secs(300).min(lifetime / 2);
    let at = lifetime.saturating_sub(margin);
    match refresh_in {
        Some(r) if r < at => r,
        _ => at,
    }
}

/// The token of one service principal, shared by every request of a provider.
pub struct TokenCache {
    creds: Credentials,
    http: reqwest::Client,
    current: tokio::sync::Mutex<Option<Cached>>,
    max_attempts: u32,
    retry_wait: Duration,
}

impl TokenCache {
    pub fn new(
        creds: Credentials,
        http: reqwest::Client,
        max_attempts: u32,
        retry_wait: Duration,
    ) -> Self {
        TokenCache {
            creds,
            http,
            current: tokio::sync::Mutex::new(None),
            max_attempts: max_attempts.max(1),
            retry_wait,
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// A valid token: the cached one, or a new one (callers wait for one fetch).
    pub async fn bearer(&self) -> Result<Secret, ArmError> {
        let mut cur = self.current.lock().await;
        if let Some(c) = cur.as_ref() {
            if Instant::now() < c.renew_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cur = Some(fresh);
        Ok(token)
    }

    /// ARM refused `used` (expired or revoked): the next [`Self::bearer`] fetches anew.
    pub async fn forget(&self, used: &Secret) {
        let mut cur = self.current.lock().await;
        if cur.as_ref().is_some_and(|c| &c.token == used) {
            *cur = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, ArmError> {
        let c = &self.creds;
        let url = c.token_url();
        let secret = c.secret.get().map_err(ArmError::Secret)?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &c.client_id)
            .append_pair("client_secret", secret.expose())
            .append_pair("scope", &c.scope)
            .finish();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let sent = self
                .http
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .body(body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if attempt < self.max_attempts => {
                    info!(target: "arm", "token request failed ({e}); retrying");
                    tokio::time::sleep(self.retry_wait).await;
                    continue;
                }
                Err(e) => {
                    return Err(ArmError::Transport {
                        what: "getting an access token".into(),
                        url,
                        detail: super::client::describe(&e),
                    })
                }
            };
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            info!(target: "arm", "POST token endpoint of tenant {} → {status} ({} ms)", c.tenant, started.elapsed().as_millis());
            if status == 200 {
                let t: TokenReply =
                    serde_json::from_str(&text).map_err(|e| ArmError::BadResponse {
                        what: "getting an access token".into(),
                        detail: format!("the token endpoint's answer is not a token: {e}"),
                    })?;
                let lifetime = Duration::from_secs(seconds(&t.expires_in).unwrap_or(3599));
                let refresh_in = seconds(&t.refresh_in).map(Duration::from_secs);
                return Ok(Cached {
                    token: Secret::new(t.access_token),
                    renew_at: Instant::now() + renew_after(lifetime, refresh_in),
                });
            }
            if (status == 429 || status >= 500) && attempt < self.max_attempts {
                tokio::time::sleep(self.retry_wait).await;
                continue;
            }
            let e: TokenErrorReply = serde_json::from_str(&text).unwrap_or_default();
            let description = if e.error_description.is_empty() {
                format!("HTTP {status} {}", one_line(&text))
            } else {
                one_line(&e.error_description)
            };
            let description = if e.error.is_empty() || description.starts_with(&e.error) {
                description
            } else {
                format!("{} ({})", description, e.error)
            };
            return Err(ArmError::Token {
                status,
                code: e.error_codes.first().copied(),
                description,
                tenant: c.tenant.clone(),
                client_id: c.client_id.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_early() {
        let h = Duration::from_secs(3599);
        assert_eq!(renew_after(h, None), Duration::from_secs(3299));
        assert_eq!(
            renew_after(Duration::from_secs(86399), Some(Duration::from_secs(43199))),
            Duration::from_secs(43199)
        );
        assert_eq!(
            renew_after(Duration::from_secs(4), None),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn numbers_or_strings() {
        assert_eq!(seconds(&Some(serde_json::json!(3599))), Some(3599));
        assert_eq!(seconds(&Some(serde_json::json!("3599"))), Some(3599));
        assert_eq!(seconds(&None), None);
    }
}
