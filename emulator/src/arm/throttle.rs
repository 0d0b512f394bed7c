//! Resource Manager's request limits as its current documentation describes them: a token
//! bucket per subscription, service principal and request type — reads 250 (refilled 25
//! per second), writes 200 (10/s), deletes 200 (10/s) — refilled `1 / time-scale` times
//! faster when the latency model runs faster (none at time scale 0). A request finding its
//! bucket empty is answered 429 with the whole seconds (at scale 1) until a token is back.
//! It only counts; answering is the caller's.

use std::collections::HashMap;
use std::time::Instant;

/// The write bucket: size and refill per second at scale 1.
pub const WRITE_BUDGET: (f64, f64) = (200.0, 10.0);

/// The three request types ARM counts separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Reads,
    Writes,
    Deletes,
}

impl Kind {
    pub fn of(method: &str) -> Kind {
        match method {
            "GET" | "HEAD" => Kind::Reads,
            "DELETE" => Kind::Deletes,
            _ => Kind::Writes,
        }
    }

    /// (bucket size, refill per second at scale 1).
    fn limits(self) -> (f64, f64) {
        match self {
            Kind::Reads => (250.0, 25.0),
            Kind::Writes | Kind::Deletes => WRITE_BUDGET,
        }
    }

    /// `x-ms-ratelimit-remaining-subscription-<this>`.
    pub fn header(self) -> &'static str {
        match self {
            Kind::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Kind::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Kind::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// What a request costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; this many requests of its type remain right now.
    Allowed(u64),
    /// Refused; try again after this many seconds (at scale 1, at least 1).
    Throttled(u64),
}

#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<(String, String, Kind), (f64, Instant)>,
}

impl Throttle {
    /// Take one token for a request of `kind` by `principal` on `subscription`.
    pub fn take(
        &mut self,
        subscription: &str,
        principal: &str,
        kind: Kind,
        time_scale: f64,
    ) -> Decision {
        let (size, rate) = kind.limits();
        if time_scale <= 0.0 || !time_scale.is_finite() {
            return Decision::Allowed(size as u64);
        }
        let now = Instant::now();
        let key = (
            subscription.to_ascii_lowercase(),
            principal.to_ascii_lowercase(),
            kind,
        );
        let (tokens, at) = self.buckets.entry(key).or_insert((size, now));
        let refill = rate / time_scale;
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * refill).min(size);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Decision::Allowed(*tokens as u64);
        }
        // Seconds at scale 1 until one token is back.
        let wait = ((1.0 - *tokens) / rate).ceil().max(1.0);
        Decision::Throttled(wait as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_bucket_is_refused_with_a_retry_after() {
        let mut t = Throttle::default();
        for i in 0..200 {
            assert_eq!(
                t.take("s", "p", Kind::Writes, 1.0),
                Decision::Allowed(199 - i)
            );
        }
        assert_eq!(t.take("s", "p", Kind::Writes, 1.0), Decision::Throttled(1));
        // another principal, another type: their own buckets
        assert_eq!(t.take("s", "q", Kind::Writes, 1.0), Decision::Allowed(199));
        assert_eq!(t.take("s", "p", Kind::Reads, 1.0), Decision::Allowed(249));
        // time scale 0: no limits
        assert_eq!(t.take("s", "p", Kind::Writes, 0.0), Decision::Allowed(200));
    }
}
