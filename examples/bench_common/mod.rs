//! Shared by the start/stop benchmarks (not a test): their arguments, an emulator serving
//! several subscriptions, timestamped lifecycle events, and the comparison of each phase's
//! wall time with its share of the emulator's critical path for the layout that ran —
//! naming the phase that loses the time when wall / bound is over the target.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use azure_emulator::{Bound, Bounds, EmulatorOptions, RunningEmulator};

/// wall / bound at or under this is on target.
pub const TARGET: f64 = 1.10;
/// Cloud services per subscription (Azure's default quota).
pub const SERVICES_PER_SUBSCRIPTION: u32 = 20;

/// `[N ...] [--scale S[,S...]]` (defaults: N = 10 50 200 1000, scales 0.01 and 0.1).
pub struct Args {
    pub ns: Vec<usize>,
    pub scales: Vec<f64>,
}

pub fn args() -> Args {
    let mut ns = Vec::new();
    let mut scales = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--scale" {
            if let Some(v) = it.next() {
                scales.extend(v.split(',').filter_map(|s| s.parse::<f64>().ok()));
            }
        } else if let Ok(n) = a.parse::<usize>() {
            ns.push(n.max(1));
        }
    }
    Args {
        ns: if ns.is_empty() {
            vec![10, 50, 200, 1000]
        } else {
            ns
        },
        scales: if scales.is_empty() {
            vec![0.01, 0.1]
        } else {
            scales
        },
    }
}

/// Subscriptions a cluster of `n` VMs is spread over: one per 200 VMs (20 cloud services
/// of 10 VMs each), so 1,000 VMs need no service fuller than 200 do.
pub fn subscriptions_for(n: usize) -> usize {
    n.div_ceil(200).max(1)
}

/// One subscription: its id and the management certificate (PEM, key included).
pub struct Sub {
    pub id: String,
    pub cert: PathBuf,
}

/// `k` subscriptions: the support module's first one, then new ids and certificates in `dir`.
pub fn subscriptions(first: (&str, PathBuf), k: usize, dir: &Path) -> Vec<Sub> {
    let mut subs = vec![Sub {
        id: first.0.to_string(),
        cert: first.1,
    }];
    for i in 1..k {
        let cert = dir.join(format!("mgmt{i}.pem"));
        let pem = elasticluster::providers::azure_classic::identity::new_identity_pem(
            "AzureMgmtCert",
            2,
            None,
        )
        .expect("management certificate");
        std::fs::write(&cert, pem).expect("write certificate");
        subs.push(Sub {
            id: format!("0a1b2c3d-0000-4000-8000-{i:012x}"),
            cert,
        });
    }
    subs
}

/// The API-only emulator at `scale` serving every subscription in `subs`.
pub async fn emulator_for(state: &Path, scale: f64, subs: &[Sub]) -> RunningEmulator {
    azure_emulator::start(EmulatorOptions {
        state_dir: state.to_path_buf(),
        subscriptions: subs
            .iter()
            .map(|s| (s.id.clone(), s.cert.clone()))
            .collect(),
        time_scale: scale,
        max_hosted_services: SERVICES_PER_SUBSCRIPTION,
        max_cores: 100_000,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

/// The 1-minute load average (the machine is shared: ratios mean little without it).
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A lifecycle event and when it came (seconds since the command started).
#[derive(Clone, Debug)]
pub struct Timed {
    pub at: f64,
    pub event: String,
    pub status: String,
    pub resource: String,
}

/// Collects events with their arrival time.
#[derive(Clone)]
pub struct Recorder {
    t0: Instant,
    events: Arc<Mutex<Vec<Timed>>>,
}

impl Recorder {
    pub fn new(t0: Instant) -> Self {
        Recorder {
            t0,
            events: Arc::default(),
        }
    }
    pub fn push(&self, event: &str, status: &str, resource: Option<&str>) {
        let at = self.t0.elapsed().as_secs_f64();
        if let Ok(mut v) = self.events.lock() {
            v.push(Timed {
                at,
                event: event.into(),
                status: status.into(),
                resource: resource.unwrap_or_default().into(),
            });
        }
    }
    /// One `--json-events` line.
    pub fn push_json(&self, line: &str) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            let s = |k: &str| v[k].as_str().map(str::to_string);
            self.push(
                &s("event").unwrap_or_default(),
                &s("status").unwrap_or_default(),
                s("resource").as_deref(),
            );
        }
    }
    pub fn events(&self) -> Vec<Timed> {
        self.events.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// One phase: wall seconds and the bound's share.
pub struct Phase {
    pub name: String,
    pub wall: f64,
    pub bound: f64,
}

fn first(ev: &[Timed], f: impl Fn(&Timed) -> bool) -> Option<f64> {
    ev.iter().find(|e| f(e)).map(|e| e.at)
}

fn last(ev: &[Timed], f: impl Fn(&Timed) -> bool) -> Option<f64> {
    ev.iter().filter(|e| f(e)).map(|e| e.at).reduce(f64::max)
}

/// Consecutive milestones → phases (a missing milestone merges its phase into the next).
fn phases(milestones: &[(&str, Option<f64>, f64)], end: f64) -> Vec<Phase> {
    let mut out = Vec::new();
    let mut from = 0.0;
    let mut carried = 0.0;
    for (name, at, bound) in milestones {
        match at {
            Some(at) => {
                out.push(Phase {
                    name: name.to_string(),
                    wall: (at - from).max(0.0),
                    bound: bound + carried,
                });
                from = *at;
                carried = 0.0;
            }
            None => carried += bound,
        }
    }
    out.push(Phase {
        name: "finish".into(),
        wall: (end - from).max(0.0),
        bound: carried,
    });
    out
}

fn share(b: &Bound, phase: &str) -> f64 {
    b.phases.get(phase).copied().unwrap_or(0.0)
}

/// Start phases: process start (CLI), checks and plan, preparation resources, VM creation
/// (all queues), waiting for running, finishing.
pub fn start_phases(ev: &[Timed], end: f64, b: &Bounds) -> Vec<Phase> {
    let milestones = [
        ("startup", first(ev, |e| e.event == "start"), 0.0),
        ("checks+plan", first(ev, |e| e.event == "plan"), 0.0),
        (
            "preparation",
            last(ev, |e| e.event == "resource" && e.status == "created"),
            share(&b.start, "preparation"),
        ),
        (
            "vm_creation",
            last(ev, |e| e.event == "vm" && e.status == "created"),
            share(&b.start, "vm_creation"),
        ),
        (
            "running",
            last(ev, |e| e.event == "node" && e.status == "ready"),
            share(&b.start, "boot"),
        ),
    ];
    phases(&milestones, end)
}

/// Stop phases: process start (CLI), deployments, what goes after them, finishing.
pub fn stop_phases(ev: &[Timed], end: f64, b: &Bounds) -> Vec<Phase> {
    let milestones = [
        ("startup", first(ev, |e| e.event == "stop"), 0.0),
        (
            "deployments",
            last(ev, |e| {
                e.event == "resource"
                    && e.status == "deleted"
                    && e.resource.starts_with("deployment ")
            }),
            share(&b.stop, "deployments"),
        ),
        (
            "after_deployments",
            last(ev, |e| e.event == "resource" && e.status == "deleted"),
            share(&b.stop, "after_deployments") + share(&b.stop, "disks"),
        ),
    ];
    phases(&milestones, end)
}

/// The VM queue (cloud service) that took longest beyond its own bound: its gates (cloud
/// service with certificate, virtual network) opening → its last VM created, against one
/// Create Deployment plus an Add Role per further VM. `(service, wall, bound)`.
pub fn worst_queue(ev: &[Timed], b: &Bounds) -> Option<(String, f64, f64)> {
    let lat = azure_emulator::latency_model(b.time_scale);
    let mut worst: Option<(String, f64, f64)> = None;
    for sub in &b.layout.subscriptions {
        let vnet_ready = sub
            .vnets
            .iter()
            .filter_map(|v| {
                last(ev, |e| {
                    e.event == "resource"
                        && e.status == "created"
                        && e.resource == format!("vnet {v}")
                })
            })
            .reduce(f64::max);
        for cs in &sub.cloud_services {
            let Some(done) = last(ev, |e| e.event == "vm" && e.resource == cs.name) else {
                continue;
            };
            let gate = last(ev, |e| {
                e.event == "resource"
                    && e.status == "created"
                    && e.resource == format!("cloud_service {}", cs.name)
            });
            let opened = gate
                .into_iter()
                .chain(vnet_ready)
                .reduce(f64::max)
                .unwrap_or(0.0);
            let k = cs.roles.len().max(1);
            let bound = (lat.create_deployment + (k - 1) as f64 * lat.add_role) * b.time_scale;
            let wall = done - opened;
            if worst.as_ref().is_none_or(|w| wall - bound > w.1 - w.2) {
                worst = Some((cs.name.clone(), wall, bound));
            }
        }
    }
    worst
}

/// `name wall/bound` per phase, and — over target — which phase loses the most.
pub fn describe(label: &str, ph: &[Phase], wall: f64, bound: f64) -> String {
    let parts: Vec<String> = ph
        .iter()
        .map(|p| format!("{} {:.2}/{:.2}", p.name, p.wall, p.bound))
        .collect();
    let mut s = format!("{label}: {}", parts.join(", "));
    if bound > 0.0 && wall / bound > TARGET {
        if let Some(p) = ph
            .iter()
            .max_by(|a, b| (a.wall - a.bound).total_cmp(&(b.wall - b.bound)))
        {
            s.push_str(&format!(
                "  → over {TARGET:.2}: `{}` loses {:.2} s",
                p.name,
                p.wall - p.bound
            ));
        }
    }
    s
}

pub fn header() {
    println!(
        "{:>5} {:>6} {:>4} {:>5} {:>5} {:>8} {:>8} {:>6} {:>7} {:>7} {:>6}",
        "scale",
        "N",
        "subs",
        "svcs",
        "load",
        "start s",
        "bound s",
        "ratio",
        "stop s",
        "bound s",
        "ratio"
    );
}

/// One row of the table.
pub fn row(scale: f64, n: usize, subs: usize, load: &str, b: &Bounds, start: f64, stop: f64) {
    let services: usize = b
        .layout
        .subscriptions
        .iter()
        .map(|s| s.cloud_services.len())
        .sum();
    println!(
        "{:>5} {:>6} {:>4} {:>5} {:>5} {:>8.2} {:>8.2} {:>6.2} {:>7.2} {:>7.2} {:>6.2}",
        scale,
        n,
        subs,
        services,
        load,
        start,
        b.start.seconds,
        start / b.start.seconds,
        stop,
        b.stop.seconds,
        stop / b.stop.seconds
    );
}
