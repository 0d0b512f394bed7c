//! Fault injection: rates per fault kind and a decision function that is a pure hash of
//! (seed, request key, per-key counter), so the same seed and the same request sequence
//! give the same faults, even with unrelated requests interleaved. It never touches state.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRates {
    /// 500 InternalError on any request.
    pub internal: f64,
    /// 503 ServerBusy on any request.
    pub busy: f64,
    /// 503 TooManyRequests on any request.
    pub throttle: f64,
    /// Spurious 409 ConflictError (exclusive access) on mutating requests.
    pub conflict: f64,
    /// Asynchronous operations that end Failed (500 InternalError) with no effect.
    pub opfail: f64,
    /// Requests that hang for `hang_secs` before the connection is answered 500 OperationTimedOut.
    pub hang: f64,
    /// Seconds a hung request waits (wall clock, not scaled).
    pub hang_secs: f64,
    /// New VMs that never reach ReadyRole (VmSpec.fail_provisioning).
    pub vmfail: f64,
    /// Resource Manager VM PUTs refused `409 SkuNotAvailable` (a size out of capacity).
    #[serde(default)]
    pub skufail: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultSpecError {
    #[error("fault spec item `{0}` is not KEY=VALUE (keys: internal, busy, throttle, conflict, opfail, hang, hang_secs, vmfail, skufail, seed)")]
    Syntax(String),
    #[error("fault spec key `{0}` is unknown (keys: internal, busy, throttle, conflict, opfail, hang, hang_secs, vmfail, skufail, seed)")]
    Key(String),
    #[error("fault spec value `{1}` for `{0}` must be a number between 0 and 1 (a rate), or seconds for hang_secs")]
    Value(String, String),
}

impl FaultRates {
    /// Parse `internal=0.05,busy=0.02,throttle=0.02,conflict=0.05,opfail=0.1,hang=0.01,hang_secs=120,vmfail=0.1`
    /// (any subset, `,` or whitespace separated; empty or `none` = no faults). A `seed=N`
    /// item is returned separately.
    pub fn parse(spec: &str) -> Result<(FaultRates, Option<u64>), FaultSpecError> {
        let mut r = FaultRates {
            hang_secs: 120.0,
            ..Default::default()
        };
        let mut seed = None;
        let spec = spec.trim();
        if spec.is_empty() || spec == "none" {
            return Ok((r, None));
        }
        for item in spec.split(|c: char| c == ',' || c.is_whitespace()) {
            if item.is_empty() {
                continue;
            }
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| FaultSpecError::Syntax(item.into()))?;
            let k = k.trim();
            let v = v.trim();
            if k == "seed" {
                seed = Some(
                    v.parse()
                        .map_err(|_| FaultSpecError::Value(k.into(), v.into()))?,
                );
                continue;
            }
            let x: f64 = v
                .parse()
                .map_err(|_| FaultSpecError::Value(k.into(), v.into()))?;
            let rate_ok = (0.0..=1.0).contains(&x);
            let slot = match k {
                "internal" => &mut r.internal,
                "busy" => &mut r.busy,
                "throttle" => &mut r.throttle,
                "conflict" => &mut r.conflict,
                "opfail" => &mut r.opfail,
                "hang" => &mut r.hang,
                "vmfail" => &mut r.vmfail,
                "skufail" => &mut r.skufail,
                "hang_secs" => {
                    if !(x >= 0.0 && x.is_finite()) {
                        return Err(FaultSpecError::Value(k.into(), v.into()));
                    }
                    r.hang_secs = x;
                    continue;
                }
                _ => return Err(FaultSpecError::Key(k.into())),
            };
            if !rate_ok {
                return Err(FaultSpecError::Value(k.into(), v.into()));
            }
            *slot = x;
        }
        Ok((r, seed))
    }
}

/// Which fault (if any) a request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFault {
    Internal,
    Busy,
    Throttle,
    Conflict,
    Hang,
}

/// Rates + seed + per-key counters.
#[derive(Debug, Default)]
pub struct Faults {
    pub rates: FaultRates,
    pub seed: u64,
    counters: HashMap<String, u64>,
}

fn fnv1a(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325 ^ seed.wrapping_mul(0x9E3779B97F4A7C15);
    for p in parts {
        for b in *p {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100000001b3);
    }
    // final avalanche (splitmix64)
    let mut z = h.wrapping_add(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

impl Faults {
    pub fn new(rates: FaultRates, seed: u64) -> Self {
        Faults {
            rates,
            seed,
            counters: HashMap::new(),
        }
    }

    /// Replace rates (and the seed, restarting every counter).
    pub fn set(&mut self, rates: FaultRates, seed: Option<u64>) {
        self.rates = rates;
        if let Some(s) = seed {
            self.seed = s;
        }
        self.counters.clear();
    }

    /// A uniform number in [0,1) for the n-th draw of `kind` on `key`.
    fn draw(&mut self, kind: &str, key: &str) -> f64 {
        let ck = format!("{kind}\u{0}{key}");
        let n = self.counters.entry(ck).or_insert(0);
        let v = fnv1a(
            self.seed,
            &[kind.as_bytes(), key.as_bytes(), &n.to_le_bytes()],
        );
        *n += 1;
        (v >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decide a request-level fault. `key` is `METHOD path` (without the request id).
    pub fn request(&mut self, key: &str, mutating: bool) -> Option<RequestFault> {
        let r = self.rates.clone();
        if r.internal + r.busy + r.throttle + r.hang + r.conflict <= 0.0 {
            return None;
        }
        let x = self.draw("request", key);
        let mut acc = 0.0;
        for (rate, f) in [
            (r.internal, RequestFault::Internal),
            (r.busy, RequestFault::Busy),
            (r.throttle, RequestFault::Throttle),
            (r.hang, RequestFault::Hang),
            (
                if mutating { r.conflict } else { 0.0 },
                RequestFault::Conflict,
            ),
        ] {
            acc += rate;
            if x < acc {
                return Some(f);
            }
        }
        None
    }

    /// Does this asynchronous operation end Failed?
    pub fn op_fails(&mut self, key: &str) -> bool {
        self.rates.opfail > 0.0 && self.draw("opfail", key) < self.rates.opfail
    }

    /// Does this new VM never reach ReadyRole?
    pub fn vm_fails(&mut self, vm_id: &str) -> bool {
        self.rates.vmfail > 0.0 && self.draw("vmfail", vm_id) < self.rates.vmfail
    }

    /// Is this Resource Manager VM's size out of capacity (its PUT refused)?
    pub fn sku_fails(&mut self, vm_id: &str) -> bool {
        self.rates.skufail > 0.0 && self.draw("skufail", vm_id) < self.rates.skufail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec() {
        let (r, s) = FaultRates::parse("internal=0.1, busy=0.2 vmfail=1 seed=7").unwrap();
        assert_eq!(r.internal, 0.1);
        assert_eq!(r.busy, 0.2);
        assert_eq!(r.vmfail, 1.0);
        assert_eq!(s, Some(7));
        assert!(FaultRates::parse("bogus=1").is_err());
        assert!(FaultRates::parse("internal=2").is_err());
        assert!(FaultRates::parse("internal").is_err());
    }

    #[test]
    fn same_seed_same_decisions() {
        let (r, _) = FaultRates::parse("internal=0.3,throttle=0.2").unwrap();
        let run = |seed| {
            let mut f = Faults::new(r.clone(), seed);
            (0..50)
                .map(|i| f.request(&format!("GET /x/{}", i % 3), false))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        assert!(run(1).iter().any(|x| x.is_some()));
        assert!(run(1).iter().any(|x| x.is_none()));
    }
}
