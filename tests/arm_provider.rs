//! The ARM provider and the lifecycle against a stateful stand-in for ARM and the identity
//! platform (`arm_support::fake`, over HTTPS): start → list → stop leaves nothing; private
//! nodes are reported as reached through the frontend; preflight refuses bad sizes, images,
//! locations and quota with one line and records nothing; a wrong secret is one AADSTS line;
//! throttling and expired tokens are ridden out; per-node PUT and provisioning failures are
//! dropped with Azure's reason; a crash at *every* ledger write resumes without creating
//! anything twice, or tears down to nothing; resize, remove, `--force` and a second cluster
//! with the same `base_name`.

mod arm_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arm_support::fake::{self, Config, FakeArm};
use arm_support::Server;
use elasticluster::cluster::bring_up::{bring_up, StartRequest};
use elasticluster::cluster::tear_down::{tear_down, StopRequest};
use elasticluster::progress::Progress;
use elasticluster::providers::azure_arm::secret::Secret;
use elasticluster::providers::azure_arm::token::Credentials;
use elasticluster::providers::azure_arm::{ArmOptions, ArmProvider, ArmSettings};
use elasticluster::providers::{
    no_events, CloudProvider, ErrorKind, Ledger, LedgerError, MemoryLedger, NodePhase, NodeRequest,
    Resource, TeardownOptions,
};

const IMAGE: &str = "canonical/0001-com-ubuntu-server-jammy/22_04-lts-gen2/latest";

struct Env {
    fake: Arc<FakeArm>,
    server: Server,
    dir: tempfile::TempDir,
}

fn env(cfg: Config) -> Env {
    let (fake, server) = FakeArm::start(cfg);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("id.pub"),
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 test@host\n",
    )
    .unwrap();
    Env { fake, server, dir }
}

impl Env {
    fn settings(&self, public: bool) -> ArmSettings {
        ArmSettings {
            subscription_id: fake::SUB.into(),
            credentials: Credentials {
                authority: self.server.base.clone(),
                tenant: fake::TENANT.into(),
                client_id: fake::CLIENT.into(),
                secret: Secret::new(fake::SECRET).into(),
                scope: format!("{}/.default", self.server.base),
            },
            arm_endpoint: self.server.base.clone(),
            ca_certificate: Some(self.server.ca.clone()),
            location: "eastus".into(),
            base_name: "tst".into(),
            use_public_ips: public,
            user_key_public: self.dir.path().join("id.pub"),
            identity: elasticluster::providers::ClusterIdentity {
                name: "c".into(),
                owner_id: Some("0123456789abcdef".into()),
            },
            options: ArmOptions {
                time_scale: 0.001,
                ..ArmOptions::default()
            },
        }
    }
    fn provider(&self, public: bool) -> ArmProvider {
        ArmProvider::new(self.settings(public)).unwrap()
    }
    fn request(&self, nodes: Vec<NodeRequest>) -> StartRequest {
        StartRequest {
            nodes,
            min_nodes: Default::default(),
            ssh_user: "azureuser".into(),
            ssh_private_key: self.dir.path().join("id"),
            known_hosts: self.dir.path().join("kh"),
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
    let e = env(Config::default());
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
        assert!(
            i.ssh_host
                .as_deref()
                .is_some_and(|h| h.starts_with("198.51.100.")),
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
    assert_eq!(e.fake.groups(), ["tst"]);
    // the VM PUT carried the user data, base64
    let puts: Vec<_> = e
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path().contains("virtualMachines/frontend001"))
        .collect();
    assert!(
        puts[0]
            .body
            .contains("\"customData\":\"I2Nsb3VkLWNvbmZpZwo=\""),
        "{}",
        puts[0].body
    );
    stop(&p, ledger).await;
    assert_eq!(e.fake.leftovers(), Vec::<String>::new());
    // every ARM request named its api-version; the secret was only sent to the token endpoint
    for r in e.server.requests() {
        if r.path().ends_with("/token") {
            continue;
        }
        assert!(
            r.query("api-version").is_some(),
            "{} {}",
            r.method,
            r.target
        );
        assert!(!r.body.contains(fake::SECRET) && !r.target.contains(fake::SECRET));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_nodes_are_reached_through_the_frontend() {
    let e = env(Config::default());
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
    assert!(
        f.ssh_host.as_deref().unwrap().starts_with("198.51.100."),
        "{f:?}"
    );
    assert_eq!(f.via, None);
    for c in infos.iter().filter(|i| i.name.starts_with("compute")) {
        assert_eq!(c.via.as_deref(), Some("frontend001"), "{c:?}");
        assert_eq!(c.ssh_host, c.private_ip, "{c:?}");
    }
    let pips = e
        .fake
        .leftovers()
        .iter()
        .filter(|l| l.starts_with("publicIPAddresses"))
        .count();
    assert_eq!(pips, 1, "{:?}", e.fake.leftovers());
    stop(&p, ledger).await;
    assert_eq!(e.fake.leftovers(), Vec::<String>::new());
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
    assert_eq!(e.fake.leftovers(), Vec::<String>::new());
    assert_eq!(e.fake.vm_creates(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_refuses_sizes_images_locations_and_quota() {
    let e = env(Config::default());
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
    let e = env(Config::default());
    for (field, code, key) in [
        ("secret", "AADSTS7000215", "`secret`"),
        ("client", "AADSTS700016", "`client_id`"),
        ("tenant", "AADSTS90002", "`tenant_id`"),
    ] {
        let mut s = e.settings(true);
        match field {
            "secret" => s.credentials.secret = Secret::new("wrong").into(),
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
            !msg.contains(fake::SECRET) && !msg.contains("wrong"),
            "{msg}"
        );
    }
    assert_eq!(e.fake.leftovers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_expired_tokens_are_ridden_out() {
    let e = env(Config {
        throttle_next: 6,
        ..Config::default()
    });
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
    assert_eq!(
        e.fake.cfg.lock().unwrap().throttle_next,
        0,
        "the 429s were met"
    );
    let before = e.fake.token_requests();
    e.fake.revoke_tokens();
    let infos = p.nodes(ledger.clone()).await.unwrap();
    assert!(infos.iter().all(|i| i.phase == NodePhase::Running));
    assert!(e.fake.token_requests() > before, "a new token was fetched");
    stop(&p, ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_vms_are_dropped_with_azures_reason() {
    let mut cfg = Config::default();
    cfg.fail_vm_put.insert(
        "compute002".into(),
        (409, "OperationNotAllowed".into(), "Operation could not be completed as it results in exceeding approved standardBSFamily Cores quota. Current Limit: 4.".into()),
    );
    cfg.fail_provisioning.insert("compute003".into());
    let e = env(cfg);
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
        why("compute002").contains("OperationNotAllowed") && why("compute002").contains("quota"),
        "{:?}",
        out.dropped
    );
    assert!(
        why("compute003").contains("OSProvisioningTimedOut"),
        "{:?}",
        out.dropped
    );
    // the dropped nodes' VM, NIC and public IP are gone; the others are there
    let left = e.fake.leftovers();
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
    assert_eq!(e.fake.leftovers(), Vec::<String>::new());
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
    // frontend (public) + one private compute node: 17 ledger writes in a full start
    let mut k = 0;
    loop {
        for resume in [true, false] {
            let e = env(Config::default());
            let p = e.provider(false);
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
            let p = e.provider(false);
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
                    e.fake.vm_creates(),
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
                e.fake.leftovers(),
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
    let e = env(Config::default());
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
    assert_eq!(e.fake.groups(), ["tst"]);
    // remove-node: its VM and NIC go, the ledger forgets them
    p.delete_nodes(&["compute003".to_string()], ledger.clone())
        .await
        .unwrap();
    assert!(
        !e.fake.leftovers().iter().any(|l| l.contains("compute003")),
        "{:?}",
        e.fake.leftovers()
    );
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
    assert_eq!(e.fake.leftovers(), Vec::<String>::new());
    assert!(lost.resources().is_empty());
}
