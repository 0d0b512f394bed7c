//! The ARM provider and the lifecycle against the emulator's Azure Resource Manager face
//! (in-process, API-only backend, over HTTPS with its own token endpoint): start → list →
//! stop leaves nothing; private nodes are reported as reached through the frontend;
//! preflight refuses bad sizes, images, locations and quota with one line and records
//! nothing; a wrong secret, client or tenant is one AADSTS line; throttling (the emulator's
//! seeded 429s) and revoked tokens are ridden out; a VM PUT refused by Azure and a VM whose
//! provisioning fails are dropped with Azure's reason; a crash at *every* ledger write
//! resumes without creating anything twice, or tears down to nothing; resize, remove,
//! `--force` and a second cluster with the same `base_name`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azure_emulator::model::faults::{FaultRates, Faults};
use azure_emulator::RunningEmulator;
use elasticluster::cluster::bring_up::{bring_up, StartRequest};
use elasticluster::cluster::tear_down::{tear_down, StopRequest};
use elasticluster::progress::Progress;
use elasticluster::providers::azure_arm::secret::Secret;
use elasticluster::providers::azure_arm::{ArmProvider, ArmSettings};
use elasticluster::providers::{
    no_events, CloudProvider, ErrorKind, Ledger, LedgerError, MemoryLedger, NodePhase, NodeRequest,
    Resource, TeardownOptions,
};
use support::arm::{self as emu_arm, counter, leftovers, IMAGE};
use support::{Creds, SUB};

/// The emulator's and the client's time scale.
const SCALE: f64 = 0.002;
const OWNER: &str = "0123456789abcdef";

struct Env {
    emu: RunningEmulator,
    creds: Creds,
    _state: tempfile::TempDir,
}

async fn env() -> Env {
    env_with(100).await
}

async fn env_with(max_cores: u32) -> Env {
    let creds = Creds::new();
    let state = tempfile::tempdir().unwrap();
    let emu = emu_arm::emulator(&creds, state.path(), SCALE, max_cores).await;
    Env {
        emu,
        creds,
        _state: state,
    }
}

impl Env {
    fn settings(&self, public: bool) -> ArmSettings {
        emu_arm::settings(&self.emu, &self.creds, "tst", public, SCALE, OWNER)
    }
    fn provider(&self, public: bool) -> ArmProvider {
        ArmProvider::new(self.settings(public)).unwrap()
    }
    fn request(&self, nodes: Vec<NodeRequest>) -> StartRequest {
        StartRequest {
            nodes,
            min_nodes: Default::default(),
            ssh_user: "azureuser".into(),
            ssh_private_key: self.creds.ssh_key(),
            known_hosts: self.creds.dir.path().join("kh"),
            startup_timeout: Duration::from_secs(30),
            probe_ssh: false,
            poll_interval: Duration::from_millis(10),
            ssh_timeout: Duration::from_secs(1),
            report: Default::default(),
        }
    }
}

fn nodes(computes: usize, flavor: &str) -> Vec<NodeRequest> {
    let mk = |kind: &str, i: usize| NodeRequest {
        name: format!("{kind}{i:03}"),
        kind: kind.into(),
        image_id: IMAGE.into(),
        flavor: flavor.into(),
        image_user: "azureuser".into(),
        image_userdata: (kind == "frontend").then(|| "#cloud-config\n".to_string()),
        entry: kind == "frontend",
    };
    std::iter::once(mk("frontend", 1))
        .chain((1..=computes).map(|i| mk("compute", i)))
        .collect()
}

async fn stop(p: &ArmProvider, ledger: Arc<dyn Ledger>) {
    let out = tear_down(
        p,
        ledger.clone(),
        &StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(out.clean, "{:?}", out.report.remaining);
    assert!(ledger.resources().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_list_stop_leaves_nothing() {
    let e = env().await;
    let p = e.provider(true);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let out = bring_up(
        &p,
        ledger.clone(),
        &e.request(nodes(2, "Standard_B2s")),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(out.ready.len(), 3, "{:?}", out.dropped);
    let infos = p.nodes(ledger.clone()).await.unwrap();
    for i in &infos {
        assert_eq!(i.phase, NodePhase::Running, "{i:?}");
        // public IPs are loopback addresses of the emulator's block
        assert!(
            i.ssh_host.as_deref().is_some_and(|h| h.starts_with("127.")),
            "{i:?}"
        );
        assert!(
            i.private_ip
                .as_deref()
                .is_some_and(|h| h.starts_with("10.0.0.")),
            "{i:?}"
        );
        assert_eq!(i.via, None);
        assert_eq!(i.ssh_port, Some(22));
    }
    let left = leftovers(&e.emu).await;
    assert!(left.contains(&"resourceGroup tst".to_string()), "{left:?}");
    // the VM PUT carried the user data (`#cloud-config\n`, 14 bytes) to the VM
    let fe = emu_arm::resource(&e.emu, "frontend001").await.unwrap();
    assert_eq!(fe["custom_data_bytes"], 14, "{fe}");
    let c1 = emu_arm::resource(&e.emu, "compute001").await.unwrap();
    assert!(c1["custom_data_bytes"].is_null(), "{c1}");
    stop(&p, ledger).await;
    assert_eq!(leftovers(&e.emu).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_nodes_are_reached_through_the_frontend() {
    let e = env().await;
    let p = e.provider(false);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let out = bring_up(
        &p,
        ledger.clone(),
        &e.request(nodes(2, "Standard_B1s")),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(out.ready.len(), 3);
    let infos = p.nodes(ledger.clone()).await.unwrap();
    let f = infos.iter().find(|i| i.name == "frontend001").unwrap();
    assert!(f.ssh_host.as_deref().unwrap().starts_with("127."), "{f:?}");
    assert_eq!(f.via, None);
    for c in infos.iter().filter(|i| i.name.starts_with("compute")) {
        assert_eq!(c.via.as_deref(), Some("frontend001"), "{c:?}");
        assert_eq!(c.ssh_host, c.private_ip, "{c:?}");
    }
    let left = leftovers(&e.emu).await;
    let pips = left
        .iter()
        .filter(|l| l.starts_with("publicIPAddresses"))
        .count();
    assert_eq!(pips, 1, "{left:?}");
    stop(&p, ledger).await;
    assert_eq!(leftovers(&e.emu).await, Vec::<String>::new());
}

/// Start fails before anything is recorded or created; the message is one line.
async fn refused(e: &Env, reqs: Vec<NodeRequest>, expect: &[&str], kind: ErrorKind) {
    let p = e.provider(true);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let err = p.plan(&reqs, ledger.clone()).await.unwrap_err();
    let msg = err.to_string();
    for x in expect {
        assert!(msg.contains(x), "{x:?} not in: {msg}");
    }
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(err.kind, kind, "{msg}");
    assert!(ledger.resources().is_empty());
    assert_eq!(leftovers(&e.emu).await, Vec::<String>::new());
    assert_eq!(counter(&e.emu, "vms_created"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_refuses_sizes_images_locations_and_quota() {
    let e = env().await;
    refused(
        &e,
        nodes(1, "Standard_Huge"),
        &["flavor `Standard_Huge`", "Standard_B1s"],
        ErrorKind::Invalid,
    )
    .await;
    let mut bad = nodes(1, "Standard_B1s");
    bad[1].image_id = "canonical/nosuchoffer/1/latest".into();
    refused(
        &e,
        bad,
        &["image_id `canonical/nosuchoffer/1/latest`", "not available"],
        ErrorKind::Invalid,
    )
    .await;
    let mut odd = nodes(1, "Standard_B1s");
    odd[0].image_id = "debian-12".into();
    refused(
        &e,
        odd,
        &["image_id `debian-12`", "publisher/offer/sku/version"],
        ErrorKind::Invalid,
    )
    .await;
    refused(
        &e,
        nodes(60, "Standard_B2s"),
        &["122 vCPUs", "leaves 100", "quota increase"],
        ErrorKind::Quota,
    )
    .await;
    let mut s = e.settings(true);
    s.location = "nowhere".into();
    let p = ArmProvider::new(s).unwrap();
    let err = p
        .plan(&nodes(1, "Standard_B1s"), Arc::new(MemoryLedger::default()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("location `nowhere`")
            && err.to_string().contains("NoRegisteredProviderFound"),
        "{err}"
    );
    assert_eq!(err.kind, ErrorKind::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_tenant_or_client_is_one_aadsts_line() {
    let e = env().await;
    for (field, code, key) in [
        ("secret", "AADSTS7000215", "`secret`"),
        ("client", "AADSTS700016", "`client_id`"),
        ("tenant", "AADSTS90002", "`tenant_id`"),
    ] {
        let mut s = e.settings(true);
        match field {
            "secret" => s.credentials.secret = Secret::new("not-the-secret-x9").into(),
            "client" => s.credentials.client_id = "33333333-0000-4000-8000-000000000000".into(),
            _ => s.credentials.tenant = "contoso.example".into(),
        }
        let p = ArmProvider::new(s).unwrap();
        let err = p
            .plan(&nodes(1, "Standard_B1s"), Arc::new(MemoryLedger::default()))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.kind, ErrorKind::Auth, "{msg}");
        assert!(
            msg.contains(code) && msg.contains(key) && !msg.contains('\n'),
            "{msg}"
        );
        assert!(
            !msg.contains(emu_arm::SECRET) && !msg.contains("not-the-secret-x9"),
            "{msg}"
        );
    }
    assert_eq!(leftovers(&e.emu).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_expired_tokens_are_ridden_out() {
    let e = env().await;
    // one request in five is answered 429 SubscriptionRequestsThrottled + Retry-After
    e.emu.set_faults("throttle=0.2,seed=11").unwrap();
    let p = e.provider(true);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let out = bring_up(
        &p,
        ledger.clone(),
        &e.request(nodes(1, "Standard_B1s")),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(out.ready.len(), 2);
    assert!(counter(&e.emu, "throttled") > 0, "the 429s were met");
    e.emu.set_faults("none").unwrap();
    // every token issued so far stops working: ARM answers 401, the provider renews
    let before = counter(&e.emu, "tokens_issued");
    e.emu.revoke_arm_tokens().unwrap();
    let infos = p.nodes(ledger.clone()).await.unwrap();
    assert!(infos.iter().all(|i| i.phase == NodePhase::Running));
    assert!(
        counter(&e.emu, "tokens_issued") > before,
        "a new token was fetched"
    );
    stop(&p, ledger).await;
}

/// A seed under which, of `vms`, exactly `sku` is refused for capacity and exactly
/// `provisioning` fails its provisioning (the emulator decides both per VM and seed).
fn seed_for(vms: &[&str], sku: &str, provisioning: &str) -> u64 {
    let (rates, _) = FaultRates::parse("skufail=0.3,vmfail=0.3").unwrap();
    let id = |vm: &str| format!("{SUB}/tst/{vm}").to_ascii_lowercase();
    (0..10_000u64)
        .find(|seed| {
            let mut f = Faults::new(rates.clone(), *seed);
            vms.iter().all(|vm| {
                let refused = f.sku_fails(&id(vm));
                let failed = !refused && f.vm_fails(&id(vm));
                refused == (*vm == sku) && failed == (*vm == provisioning)
            })
        })
        .expect("a seed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_vms_are_dropped_with_azures_reason() {
    let e = env().await;
    let vms = ["frontend001", "compute001", "compute002", "compute003"];
    let seed = seed_for(&vms, "compute002", "compute003");
    e.emu
        .set_faults(&format!("skufail=0.3,vmfail=0.3,seed={seed}"))
        .unwrap();
    let p = e.provider(true);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let mut req = e.request(nodes(3, "Standard_B1s"));
    req.min_nodes.insert("compute".into(), 1);
    let out = bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 2, "{:?}", out.dropped);
    let why = |n: &str| {
        out.dropped
            .iter()
            .find(|(x, _)| x == n)
            .map(|(_, w)| w.clone())
            .unwrap_or_default()
    };
    assert!(
        why("compute002").contains("SkuNotAvailable")
            && why("compute002").contains("not available"),
        "{:?}",
        out.dropped
    );
    assert!(
        why("compute003").contains("OSProvisioningTimedOut"),
        "{:?}",
        out.dropped
    );
    // the dropped nodes' VM, NIC and public IP are gone; the others are there
    let left = leftovers(&e.emu).await;
    assert!(
        !left
            .iter()
            .any(|l| l.contains("compute002") || l.contains("compute003")),
        "{left:?}"
    );
    assert!(
        left.iter().any(|l| l == "virtualMachines compute001"),
        "{left:?}"
    );
    stop(&p, ledger).await;
    assert_eq!(leftovers(&e.emu).await, Vec::<String>::new());
}

/// A ledger that stops working after `allowed` writes, like a process killed right then;
/// what was written before is what a restart finds.
struct Crashing {
    inner: MemoryLedger,
    allowed: usize,
    writes: AtomicUsize,
}

impl Crashing {
    fn write(&self) -> Result<(), LedgerError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) >= self.allowed {
            return Err(LedgerError("killed".into()));
        }
        Ok(())
    }
}

impl Ledger for Crashing {
    fn record(&self, rs: &[Resource]) -> Result<(), LedgerError> {
        self.write()?;
        self.inner.record(rs)
    }
    fn forget(&self, kind: &str, scope: &str, name: &str) -> Result<(), LedgerError> {
        self.write()?;
        self.inner.forget(kind, scope, name)
    }
    fn forget_all(&self, rs: &[Resource]) -> Result<(), LedgerError> {
        self.write()?;
        for r in rs {
            self.inner.forget(&r.kind, &r.scope, &r.name)?;
        }
        Ok(())
    }
    fn resources(&self) -> Vec<Resource> {
        self.inner.resources()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_ledger_write_resumes_or_tears_down_cleanly() {
    // frontend (public) + one private compute node: 17 ledger writes in a full start; one
    // emulator, a cluster (resource group) of its own per crash point
    let e = env().await;
    let mut k = 0;
    loop {
        for resume in [true, false] {
            let base = format!("crash{k}{}", if resume { "r" } else { "s" });
            let provider = || {
                ArmProvider::new(emu_arm::settings(
                    &e.emu, &e.creds, &base, false, SCALE, OWNER,
                ))
                .unwrap()
            };
            let created_before = counter(&e.emu, "vms_created");
            let p = provider();
            let crashing = Arc::new(Crashing {
                inner: MemoryLedger::default(),
                allowed: k,
                writes: AtomicUsize::new(0),
            });
            let ledger: Arc<dyn Ledger> = crashing.clone();
            let _ = p.plan(&nodes(1, "Standard_B1s"), ledger.clone()).await;
            let _ = p.create(ledger.clone(), no_events()).await;
            // "restart": a new process, the ledger as it was written
            let after = Arc::new(MemoryLedger::default());
            after.record(&crashing.resources()).unwrap();
            let ledger: Arc<dyn Ledger> = after;
            let p = provider();
            if resume {
                let out = bring_up(
                    &p,
                    ledger.clone(),
                    &e.request(nodes(1, "Standard_B1s")),
                    &Progress::hidden(),
                )
                .await
                .unwrap_or_else(|err| panic!("crash at write {k}: resume failed: {err}"));
                assert_eq!(out.ready.len(), 2, "crash at write {k}: {:?}", out.dropped);
                assert_eq!(
                    counter(&e.emu, "vms_created") - created_before,
                    2,
                    "crash at write {k}: a VM was created twice"
                );
            }
            let out = tear_down(
                &p,
                ledger.clone(),
                &StopRequest::default(),
                &Progress::hidden(),
            )
            .await
            .unwrap();
            assert!(
                out.clean,
                "crash at write {k} (resume {resume}): {:?}",
                out.report.remaining
            );
            assert_eq!(
                leftovers(&e.emu).await,
                Vec::<String>::new(),
                "crash at write {k} (resume {resume})"
            );
        }
        if k > 20 {
            break;
        }
        k += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_remove_force_and_a_second_cluster() {
    let e = env().await;
    let p = e.provider(false);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    bring_up(
        &p,
        ledger.clone(),
        &e.request(nodes(1, "Standard_B1s")),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    // resize: two more compute nodes join the same group, behind the frontend
    let out = bring_up(
        &p,
        ledger.clone(),
        &e.request(nodes(3, "Standard_B1s")),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(out.ready.len(), 4);
    let infos = p.nodes(ledger.clone()).await.unwrap();
    let c3 = infos.iter().find(|i| i.name == "compute003").unwrap();
    assert_eq!(c3.via.as_deref(), Some("frontend001"));
    assert!(leftovers(&e.emu)
        .await
        .contains(&"resourceGroup tst".to_string()));
    // remove-node: its VM and NIC go, the ledger forgets them
    p.delete_nodes(&["compute003".to_string()], ledger.clone())
        .await
        .unwrap();
    let left = leftovers(&e.emu).await;
    assert!(!left.iter().any(|l| l.contains("compute003")), "{left:?}");
    assert!(!ledger
        .resources()
        .iter()
        .any(|r| r.name.contains("compute003")));
    // another cluster (another owner id) with the same base_name is refused, creating nothing
    let other: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let mut foreign = e.settings(false);
    foreign.identity.owner_id = Some("fedcba9876543210".into());
    let err = ArmProvider::new(foreign)
        .unwrap()
        .plan(&nodes(1, "Standard_B1s"), other.clone())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("resource group `tst` already exists"),
        "{err}"
    );
    assert!(other.resources().is_empty());
    // the state is lost: discover finds the group by name, with this cluster's owner id;
    // recorded in a ledger, teardown deletes it
    let lost: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let found = p.discover().await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].owner.as_deref(), Some("0123456789abcdef"));
    lost.record(&[found[0].resource.clone()]).unwrap();
    let rep = p
        .teardown(lost.clone(), TeardownOptions::default(), no_events())
        .await
        .unwrap();
    assert!(rep.remaining.is_empty(), "{:?}", rep.remaining);
    assert_eq!(leftovers(&e.emu).await, Vec::<String>::new());
    assert!(lost.resources().is_empty());
}
