//! The Azure classic provider + lifecycle against the in-process emulator (API-only `none`
//! backend, time scale 0.01): start, list, stop leaves nothing; quota-driven spread; vnets of
//! others survive; interrupted starts resume or tear down cleanly; failed VMs are dropped at
//! once; a wrong certificate gives one clear line; nodes added when every cloud service is
//! full get a new one.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use elasticluster::cluster::{bring_up, tear_down};
use elasticluster::progress::Progress;
use elasticluster::providers::azure_classic::resources;
use elasticluster::providers::azure_classic::transport::AsmClient;
use elasticluster::providers::{CloudProvider, Ledger, MemoryLedger, NodePhase};
use support::*;

const SCALE: f64 = 0.01;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_cluster_start_list_stop_leaves_nothing_and_keeps_other_vnets() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    // someone else's vnet, created before us
    let c = AsmClient::new(&access(&creds, &emu), Default::default()).unwrap();
    resources::ensure_vnet(&c, "othernet", "West Europe", || {})
        .await
        .unwrap();

    let p = provider(&creds, &emu, "tst1", SCALE);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let req = start_request(
        nodes(1, 2),
        &creds,
        st.path().join("c.known_hosts"),
        Duration::from_secs(60),
    );
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 3, "{:?}", out.dropped);
    let listed = p.nodes(ledger.clone()).await.unwrap();
    assert_eq!(listed.len(), 3);
    let mut ports = std::collections::BTreeSet::new();
    for n in &listed {
        assert_eq!(n.phase, NodePhase::Running, "{n:?}");
        assert!(n.ssh_host.is_some() && n.ssh_port.is_some(), "{n:?}");
        assert!(
            ports.insert((n.ssh_host.clone(), n.ssh_port)),
            "duplicate endpoint {n:?}"
        );
    }
    let inv = emu.inventory().await.to_string();
    assert!(
        inv.contains("othernet") && inv.contains("tst1vn0-"),
        "{inv}"
    );

    let res = tear_down::tear_down(
        &p,
        ledger.clone(),
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert!(ledger.resources().is_empty());
    assert_eq!(leftovers(&emu, &["othernet"]).await, Vec::<String>::new());
    let inv = emu.inventory().await.to_string();
    assert!(
        inv.contains("othernet"),
        "the other vnet must survive: {inv}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_five_vms_use_every_allowed_cloud_service() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    let p = provider(&creds, &emu, "tst2", SCALE);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let req = start_request(
        nodes(1, 24),
        &creds,
        st.path().join("c.known_hosts"),
        Duration::from_secs(120),
    );
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 25, "{:?}", out.dropped);
    let inv = emu.inventory().await;
    let services = inv["subscriptions"][SUB]["hosted_services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(services.len(), 20, "quota allows 20 cloud services");
    let roles: usize = services
        .iter()
        .map(|s| s["deployment"]["roles"].as_array().map_or(0, |r| r.len()))
        .sum();
    assert_eq!(roles, 25);
    let res = tear_down::tear_down(
        &p,
        ledger.clone(),
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_start_resumes_or_tears_down_cleanly() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    for (i, cut_ms) in [30u64, 250, 700, 1200].into_iter().enumerate() {
        let base = format!("cut{i}");
        let p = provider(&creds, &emu, &base, SCALE);
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let req = start_request(
            nodes(1, 3),
            &creds,
            st.path().join(format!("{base}.kh")),
            Duration::from_secs(60),
        );
        // "kill" the start at some point: the future is dropped mid-flight
        let _ = tokio::time::timeout(
            Duration::from_millis(cut_ms),
            bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden()),
        )
        .await;
        if i % 2 == 0 {
            // resume, then stop
            let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
                .await
                .unwrap();
            assert_eq!(out.ready.len(), 4, "cut at {cut_ms} ms: {:?}", out.dropped);
        }
        let res = tear_down::tear_down(
            &p,
            ledger.clone(),
            &tear_down::StopRequest::default(),
            &Progress::hidden(),
        )
        .await
        .unwrap();
        assert!(res.clean, "cut at {cut_ms} ms: {:?}", res.report.remaining);
        let left = leftovers(&emu, &[]).await;
        assert!(left.is_empty(), "cut at {cut_ms} ms left {left:?}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_stop_finds_resources_the_ledger_lost() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    let p = provider(&creds, &emu, "lost1", SCALE);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let req = start_request(
        nodes(1, 1),
        &creds,
        st.path().join("c.kh"),
        Duration::from_secs(60),
    );
    bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    // the state is lost: a fresh, empty ledger gets what discovery finds with our owner id
    let empty: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let found = p.discover().await.unwrap();
    let owner = identity("lost1").owner_id;
    assert!(found.len() >= 5, "{found:?}");
    assert!(found.iter().all(|d| d.owner == owner), "{found:?}");
    let adopt: Vec<_> = found.into_iter().map(|d| d.resource).collect();
    empty.record(&adopt).unwrap();
    let res = tear_down::tear_down(
        &p,
        empty.clone(),
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_failed_vms_are_dropped_at_once() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    emu.set_faults("vmfail=1,seed=3").unwrap();
    let p = provider(&creds, &emu, "fail1", SCALE);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    // a long startup_timeout: the failure must be noticed from the status, not the timeout
    let req = start_request(
        nodes(1, 2),
        &creds,
        st.path().join("c.kh"),
        Duration::from_secs(600),
    );
    let t = Instant::now();
    let e = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t.elapsed()
    );
    assert!(e.contains("not enough") && e.contains("001"), "{e}");
    // the failed VMs were deleted; only the empty scaffolding remains for stop
    let inv = emu.inventory().await;
    let roles: usize = inv["subscriptions"][SUB]["hosted_services"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| s["deployment"]["roles"].as_array().map_or(0, |r| r.len()))
        .sum();
    assert_eq!(roles, 0, "{inv}");
    emu.set_faults("none").unwrap();
    let res = tear_down::tear_down(
        &p,
        ledger,
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_certificate_gives_one_clear_line() {
    let creds = Creds::new();
    let other = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    let mut a = access(&creds, &emu);
    a.certificate = other.mgmt();
    let c = AsmClient::new(&a, Default::default()).unwrap();
    let e = resources::get_subscription(&c)
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.contains(SUB), "{e}");
    assert!(e.contains(&other.mgmt().display().to_string()), "{e}");
    assert!(e.contains(c.thumbprint()), "{e}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_injected_faults_and_still_leaks_nothing() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    emu.set_faults("internal=0.08,busy=0.05,throttle=0.05,conflict=0.1,opfail=0.1,hang=0.01,hang_secs=8,seed=11")
        .unwrap();
    let p = provider(&creds, &emu, "flaky1", SCALE);
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let req = start_request(
        nodes(1, 3),
        &creds,
        st.path().join("c.kh"),
        Duration::from_secs(120),
    );
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 4, "{:?}", out.dropped);
    let res = tear_down::tear_down(
        &p,
        ledger.clone(),
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    emu.set_faults("none").unwrap();
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_ips_give_each_vm_its_own_address_on_port_22() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 1).await;
    let mut s = settings(&creds, &emu, "pip1", SCALE);
    s.use_public_ips = true;
    let p =
        elasticluster::providers::azure_classic::provider::AzureClassicProvider::new(s).unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    // quota for one cloud service: both VMs share it (and its VIP)
    let req = start_request(
        nodes(1, 1),
        &creds,
        st.path().join("c.kh"),
        Duration::from_secs(60),
    );
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 2);
    let hosts: std::collections::BTreeSet<_> =
        out.ready.iter().map(|n| n.ssh_host.clone()).collect();
    assert_eq!(hosts.len(), 2, "{:?}", out.ready);
    assert!(out
        .ready
        .iter()
        .all(|n| n.ssh_port == Some(22) && n.ssh_host.is_some()));
    let res = tear_down::tear_down(
        &p,
        ledger,
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_subscriptions_share_the_cluster_and_are_all_cleaned() {
    use azure_emulator::{BackendKind, EmulatorOptions};
    const SUB2: &str = "0a1b2c3d-0000-4000-8000-00000000cafe";
    let creds = Creds::new();
    let other = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = azure_emulator::start(EmulatorOptions {
        state_dir: st.path().to_path_buf(),
        subscriptions: vec![
            (SUB.to_string(), creds.mgmt()),
            (SUB2.to_string(), other.mgmt()),
        ],
        backend: BackendKind::None,
        time_scale: SCALE,
        max_hosted_services: 2,
        max_cores: 1000,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut s = settings(&creds, &emu, "multi1", SCALE);
    let mut second = access(&other, &emu);
    second.id = SUB2.into();
    s.subscriptions.push(second);
    let p =
        elasticluster::providers::azure_classic::provider::AzureClassicProvider::new(s).unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let req = start_request(
        nodes(1, 5),
        &creds,
        st.path().join("c.kh"),
        Duration::from_secs(60),
    );
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 6, "{:?}", out.dropped);
    let inv = emu.inventory().await;
    for sub in [SUB, SUB2] {
        let hs = inv["subscriptions"][sub]["hosted_services"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(hs.len(), 2, "two cloud services in {sub}: {inv}");
        let vn = inv["subscriptions"][sub]["vnet_sites"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(vn.len(), 1, "one vnet in {sub}");
    }
    let res = tear_down::tear_down(
        &p,
        ledger,
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

/// Nodes added to a cluster whose every cloud service holds 50 VMs go into a new cloud
/// service (with the SSH certificate), which teardown deletes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_nodes_get_a_new_cloud_service_when_all_are_full() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    let mut s = settings(&creds, &emu, "full1", SCALE);
    s.n_cloud_services = Some(1);
    let p = elasticluster::providers::azure_classic::provider::AzureClassicProvider::new(s)
        .expect("provider");
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let kh = st.path().join("c.known_hosts");
    let req = start_request(nodes(1, 49), &creds, kh.clone(), Duration::from_secs(300));
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 50, "{:?}", out.dropped);
    let roles_per_service = |inv: &serde_json::Value| -> Vec<(String, usize)> {
        inv["subscriptions"][SUB]["hosted_services"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap_or("?").to_string(),
                    s["deployment"]["roles"].as_array().map_or(0, |r| r.len()),
                )
            })
            .collect()
    };
    assert_eq!(
        roles_per_service(&emu.inventory().await),
        [("full1cs0".to_string(), 50)]
    );
    // one more compute node: the only service is full
    let req = start_request(nodes(1, 50), &creds, kh, Duration::from_secs(300));
    let out = bring_up::bring_up(&p, ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    assert_eq!(out.ready.len(), 51, "{:?}", out.dropped);
    let mut services = roles_per_service(&emu.inventory().await);
    services.sort();
    assert_eq!(
        services,
        [("full1cs0".to_string(), 50), ("full1cs1".to_string(), 1)]
    );
    let new_vm = ledger
        .resources()
        .into_iter()
        .find(|r| r.node() == Some("compute050"))
        .expect("the new node's VM");
    assert_eq!(new_vm.attr("cloud_service"), Some("full1cs1"));
    let res = tear_down::tear_down(
        &p,
        ledger.clone(),
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_never_adopts_or_deletes_another_clusters_resources() {
    use elasticluster::providers::azure_classic::provider::AzureClassicProvider;
    use elasticluster::providers::ClusterIdentity;
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), SCALE, 20).await;
    let a = provider(&creds, &emu, "mine1", SCALE);
    let a_ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let req = start_request(
        nodes(1, 1),
        &creds,
        st.path().join("a.kh"),
        Duration::from_secs(60),
    );
    bring_up::bring_up(&a, a_ledger.clone(), &req, &Progress::hidden())
        .await
        .unwrap();
    let before = leftovers(&emu, &[]).await;
    // Another cluster with the same names (another owner id), as if its checks were skipped.
    let mut s = settings(&creds, &emu, "mine1", SCALE);
    s.identity = ClusterIdentity {
        name: "intruder".into(),
        owner_id: Some("00000000000000ff".into()),
    };
    let b = AzureClassicProvider::new(s).unwrap();
    let found = b.discover().await.unwrap();
    assert!(
        found.iter().all(|d| d.owner == identity("mine1").owner_id),
        "{found:?}"
    );
    let b_ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    b.plan(&nodes(1, 1), b_ledger.clone()).await.unwrap();
    let created = b
        .create(b_ledger.clone(), elasticluster::providers::no_events())
        .await
        .unwrap();
    assert!(created.iter().all(|(_, r)| r.is_err()), "{created:?}");
    let why = created[0].1.as_ref().unwrap_err();
    assert!(why.contains("not this cluster's"), "{why}");
    assert!(
        b_ledger.resources().iter().all(
            |r| r.kind == "vnet" || r.state != elasticluster::providers::ResourceState::Created
        ),
        "nothing of A's was marked as B's"
    );
    // B's teardown forgets A's resources without touching them.
    let res = tear_down::tear_down(
        &b,
        b_ledger.clone(),
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert!(
        res.report
            .left_alone
            .iter()
            .any(|(what, owner)| what == "cloud service mine1cs0"
                && owner == &identity("mine1").owner_id.unwrap()),
        "{:?}",
        res.report.left_alone
    );
    let mut after = leftovers(&emu, &[]).await;
    after.retain(|r| !r.starts_with("vnet mine1vn0-00000000000000ff"));
    assert_eq!(after, before, "A's resources are intact");
    assert_eq!(a.nodes(a_ledger.clone()).await.unwrap().len(), 2);
    let res = tear_down::tear_down(
        &a,
        a_ledger,
        &tear_down::StopRequest::default(),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert!(res.clean, "{:?}", res.report.remaining);
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}
