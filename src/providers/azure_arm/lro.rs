//! Long-running operations, as ARM's async-operation rules describe them: a PUT answered
//! with a non-terminal `provisioningState`, or a DELETE/POST answered 202, is followed
//! through `Azure-AsyncOperation` (`{"status": "InProgress" | "Succeeded" | "Failed" |
//! "Canceled"}`) if given, else through `Location` (202 while running, 200/204 when done),
//! else by reading the resource again — waiting `Retry-After` between polls (scaled with
//! the time scale), with a fresh token on every poll, up to `wait_timeout`.
//!
//! Never polls faster than Azure asks, never waits without a deadline.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;

use super::client::{parse, ArmClient, Reply};
use super::error::{ArmError, ErrorDetail};

#[derive(Deserialize)]
struct OperationStatus {
    status: String,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize, Default)]
struct WithState {
    #[serde(default)]
    properties: Option<StateOnly>,
}

#[derive(Deserialize, Default)]
struct StateOnly {
    #[serde(default, rename = "provisioningState")]
    provisioning_state: Option<String>,
}

/// `provisioningState` of a resource body, if it has one.
pub fn provisioning_state(body: &str) -> Option<String> {
    serde_json::from_str::<WithState>(body)
        .ok()
        .and_then(|w| w.properties)
        .and_then(|p| p.provisioning_state)
}

fn terminal(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Canceled")
}

enum Poll {
    Status(String),
    Location(String),
    Resource(String),
}

impl ArmClient {
    /// Create or replace a resource. With `wait`, returns once Azure says it is done
    /// (`Failed` is an error); without, once Azure accepted it.
    pub async fn put(
        &self,
        url: &str,
        body: &serde_json::Value,
        what: &str,
        wait: bool,
    ) -> Result<Reply, ArmError> {
        let reply = self.send(Method::PUT, url, Some(body), what).await?;
        let state = provisioning_state(&reply.body);
        match state.as_deref() {
            Some("Failed") | Some("Canceled") => Err(ArmError::OperationFailed {
                what: what.to_string(),
                status: state.unwrap_or_default(),
                detail: Box::default(),
            }),
            Some(s) if terminal(s) => Ok(reply),
            // No state in the body: the operation has finished (ARM's rule).
            None if reply.async_operation.is_none() => Ok(reply),
            _ if !wait => Ok(reply),
            _ => {
                let poll = match (&reply.async_operation, &reply.location) {
                    (Some(a), _) => Poll::Status(a.clone()),
                    (None, Some(l)) => Poll::Location(l.clone()),
                    (None, None) => Poll::Resource(url.to_string()),
                };
                self.follow(poll, reply.retry_after, what).await?;
                Ok(reply)
            }
        }
    }

    /// Delete a resource and wait until it is gone; an absent one (404/204) is fine.
    pub async fn delete(&self, url: &str, what: &str) -> Result<(), ArmError> {
        let reply = match self.send(Method::DELETE, url, None, what).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        self.wait_accepted(&reply, what).await
    }

    /// Follow the operation a 202 (or a 201/200 with operation headers) started.
    pub async fn wait_accepted(&self, reply: &Reply, what: &str) -> Result<(), ArmError> {
        let poll = match (&reply.async_operation, &reply.location) {
            (Some(a), _) => Poll::Status(a.clone()),
            (None, Some(l)) => Poll::Location(l.clone()),
            (None, None) => return Ok(()),
        };
        self.follow(poll, reply.retry_after, what).await
    }

    async fn follow(
        &self,
        mut poll: Poll,
        first_wait: Option<Duration>,
        what: &str,
    ) -> Result<(), ArmError> {
        let started = Instant::now();
        let timeout = self
            .opts
            .scaled(self.opts.operation_timeout)
            .max(Duration::from_secs(10));
        // Without Retry-After: start at 2 s and slow down to the default interval.
        let mut fallback = Duration::from_secs(2).min(self.opts.poll_default);
        let mut wait = first_wait;
        loop {
            let pause = match wait {
                Some(ra) => ra.max(Duration::from_secs(1)),
                None => {
                    let f = fallback;
                    fallback = fallback.mul_f64(1.5).min(self.opts.poll_default);
                    f
                }
            };
            tokio::time::sleep(self.opts.scaled(pause)).await;
            if started.elapsed() > timeout {
                return Err(ArmError::OperationTimeout {
                    what: what.to_string(),
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            match &poll {
                Poll::Status(url) => {
                    let r = self.send(Method::GET, url, None, what).await?;
                    let op: OperationStatus = parse(&r.body, what)?;
                    match op.status.as_str() {
                        "Succeeded" => return Ok(()),
                        "Failed" | "Canceled" => {
                            return Err(ArmError::OperationFailed {
                                what: what.to_string(),
                                status: op.status.clone(),
                                detail: Box::new(op.error.unwrap_or_default().innermost().clone()),
                            })
                        }
                        _ => wait = r.retry_after,
                    }
                }
                Poll::Location(url) => {
                    let r = self.send(Method::GET, url, None, what).await?;
                    if r.status != 202 {
                        return Ok(());
                    }
                    wait = r.retry_after;
                    if let Some(next) = r.location.filter(|l| !l.is_empty()) {
                        poll = Poll::Location(next);
                    }
                }
                Poll::Resource(url) => {
                    let r = self.send(Method::GET, url, None, what).await?;
                    match provisioning_state(&r.body).as_deref() {
                        Some("Failed") | Some("Canceled") => {
                            return Err(ArmError::OperationFailed {
                                what: what.to_string(),
                                status: provisioning_state(&r.body).unwrap_or_default(),
                                detail: Box::default(),
                            })
                        }
                        Some(s) if terminal(s) => return Ok(()),
                        None => return Ok(()),
                        _ => wait = r.retry_after,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_from_bodies() {
        assert_eq!(
            provisioning_state(r#"{"name":"n","properties":{"provisioningState":"Updating"}}"#)
                .as_deref(),
            Some("Updating")
        );
        assert_eq!(provisioning_state(""), None);
        assert_eq!(provisioning_state(r#"{"name":"n"}"#), None);
    }
}
