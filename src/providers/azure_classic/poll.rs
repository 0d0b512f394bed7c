//! When to ask Azure whether an asynchronous operation has finished.
//!
//! Each sort of operation (`POST roles`, `PUT media`, …) has an expected duration: what
//! the last ones of that sort took on this subscription, or — before any — Azure's recorded
//! timing (the same table preflight's estimate uses) times the client's time scale. The
//! poller sleeps until shortly before that, then asks every 2 % of it (within the client's
//! poll bounds), and backs off once the operation is clearly later than usual: few
//! requests, and the end of an operation is seen within a small fraction of its length.
//! Never decides what an operation means.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;

use super::transport::ClientOptions;

/// The sort of an operation, from its method and path without resource names:
/// `POST roles`, `DELETE deployments`, `PUT media`, …
pub fn op_kind(method: &Method, path: &str) -> String {
    const KNOWN: [&str; 8] = [
        "hostedservices",
        "deployments",
        "roles",
        "certificates",
        "storageservices",
        "media",
        "disks",
        "roleinstances",
    ];
    let path = path.split('?').next().unwrap_or(path);
    let last = path
        .split('/')
        .rfind(|seg| KNOWN.contains(seg))
        .unwrap_or("other");
    format!("{method} {last}")
}

/// Azure's recorded duration (seconds) of an operation sort (azure-classic timings: XP and
/// Python SDK recordings).
fn typical_secs(kind: &str) -> Option<f64> {
    Some(match kind {
        "POST storageservices" => 25.0,
        "POST certificates" | "DELETE certificates" => 20.0,
        "PUT media" => 34.0,
        "POST deployments" => 53.0,
        "POST roles" => 43.0,
        "DELETE roles" => 37.0,
        "DELETE deployments" => 6.0,
        "DELETE hostedservices" => 30.0,
        "POST roleinstances" => 30.0,
        _ => return None,
    })
}

/// What one sort of operation took lately.
#[derive(Clone, Copy, Debug)]
struct Stat {
    mean: Duration,
    /// How far from `mean` they end (a running mean of the deviation).
    spread: Duration,
}

/// Expected durations per operation sort (shared by the clones of one client).
#[derive(Clone, Debug, Default)]
pub struct Durations(Arc<Mutex<HashMap<String, Stat>>>);

/// The waits before each poll of one operation.
#[derive(Debug)]
pub struct Schedule {
    /// Before the first poll.
    first: Option<Duration>,
    /// Between polls around the expected end.
    fine: Duration,
    /// Past this, intervals grow by the client's factor up to its maximum.
    late: Duration,
    interval: Duration,
    factor: f64,
    max: Duration,
    /// The margin the first poll kept before the expected end.
    margin: Duration,
}

impl Schedule {
    /// The wait before the next poll, `elapsed` after the operation was accepted.
    pub fn next_wait(&mut self, elapsed: Duration) -> Duration {
        if let Some(first) = self.first.take() {
            if !first.is_zero() {
                return first;
            }
        }
        if elapsed < self.late {
            return self.fine;
        }
        let w = self.interval;
        self.interval = self.interval.mul_f64(self.factor).min(self.max);
        w
    }
}

impl Durations {
    fn stat(&self, kind: &str) -> Option<Stat> {
        self.0.lock().ok().and_then(|m| m.get(kind).copied())
    }

    /// The polling plan for an operation of `kind`.
    pub fn schedule(&self, kind: &str, opts: &ClientOptions) -> Schedule {
        let expected = self.stat(kind).or_else(|| {
            typical_secs(kind).map(|s| {
                let mean = Duration::from_secs_f64(s * opts.time_scale);
                Stat {
                    mean,
                    spread: mean / 10,
                }
            })
        });
        let Some(e) = expected else {
            // Nothing known: short intervals growing to the maximum.
            return Schedule {
                first: None,
                fine: opts.poll_initial,
                late: Duration::ZERO,
                interval: opts.poll_initial,
                factor: opts.poll_factor,
                max: opts.poll_max,
                margin: Duration::ZERO,
            };
        };
        let fine = e.mean.mul_f64(0.02).clamp(opts.poll_initial, opts.poll_max);
        let margin = e.spread + fine;
        Schedule {
            first: Some(e.mean.saturating_sub(margin)),
            fine,
            late: e.mean + e.spread * 3 + fine * 2,
            interval: fine,
            factor: opts.poll_factor,
            max: opts.poll_max,
            margin,
        }
    }

    /// An operation of `kind` was seen finished `elapsed` after acceptance, at poll number
    /// `polls` of `schedule`.
    pub fn observe(&self, kind: &str, schedule: &Schedule, elapsed: Duration, polls: u32) {
        let Ok(mut m) = self.0.lock() else { return };
        // Seen at the first poll: it ended earlier, by an unknown amount (take the first
        // poll's margin off); otherwise it ended within the last interval.
        let duration = if polls <= 1 {
            elapsed.saturating_sub(schedule.margin)
        } else {
            elapsed.saturating_sub(schedule.fine / 2)
        };
        let stat = match m.get(kind) {
            None => Stat {
                mean: duration,
                spread: duration / 10,
            },
            Some(s) => {
                let dev = duration.abs_diff(s.mean);
                Stat {
                    mean: s.mean.mul_f64(0.5) + duration.mul_f64(0.5),
                    spread: s.spread.mul_f64(0.7) + dev.mul_f64(0.3),
                }
            }
        };
        m.insert(kind.to_string(), stat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_kinds_ignore_names() {
        assert_eq!(
            op_kind(
                &Method::POST,
                "services/hostedservices/a/deployments/a/roles"
            ),
            "POST roles"
        );
        assert_eq!(
            op_kind(&Method::POST, "services/hostedservices/b/deployments"),
            "POST deployments"
        );
        assert_eq!(
            op_kind(
                &Method::DELETE,
                "services/hostedservices/a/deployments/a?comp=media"
            ),
            "DELETE deployments"
        );
        assert_eq!(
            op_kind(
                &Method::DELETE,
                "services/hostedservices/a/deployments/a/roles/r?comp=media"
            ),
            "DELETE roles"
        );
        assert_eq!(
            op_kind(&Method::PUT, "services/networking/media"),
            "PUT media"
        );
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_poll_comes_shortly_before_azures_recorded_time_then_often() {
        let opts = ClientOptions::default(); // scale 1: Add Role 43 s
        let d = Durations::default();
        let mut s = d.schedule("POST roles", &opts);
        let first = s.next_wait(Duration::ZERO);
        assert!(
            first > Duration::from_secs(36) && first < Duration::from_secs(43),
            "{first:?}"
        );
        // then every 2 % of 43 s
        assert_eq!(s.next_wait(first), ms(860));
        // much later than usual: back off to the maximum
        let late = Duration::from_secs(120);
        let mut w = s.next_wait(late);
        for _ in 0..20 {
            w = s.next_wait(late);
        }
        assert_eq!(w, opts.poll_max);
        // an unknown sort: short intervals from the start
        let mut u = d.schedule("POST other", &opts);
        assert_eq!(u.next_wait(Duration::ZERO), opts.poll_initial);
    }

    #[test]
    fn what_operations_took_replaces_the_recorded_time() {
        let opts = ClientOptions::default().scaled(0.01); // Add Role 0.43 s
        let d = Durations::default();
        // The emulator at 0.01 took 0.30 s, seen on the third poll.
        let s = d.schedule("POST roles", &opts);
        d.observe("POST roles", &s, ms(305), 3);
        let mut s = d.schedule("POST roles", &opts);
        let first = s.next_wait(Duration::ZERO);
        assert!(first < ms(300) && first > ms(250), "{first:?}");
        // the same again and again: the margin shrinks to about one poll interval
        for _ in 0..10 {
            let s = d.schedule("POST roles", &opts);
            d.observe("POST roles", &s, ms(305), 2);
        }
        let mut s = d.schedule("POST roles", &opts);
        let first = s.next_wait(Duration::ZERO);
        assert!(first > ms(280) && first < ms(300), "{first:?}");
        // seen at the very first poll: the next first poll comes earlier
        d.observe("POST roles", &s, first + ms(5), 1);
        let mut again = d.schedule("POST roles", &opts);
        assert!(again.next_wait(Duration::ZERO) < first);
    }
}
