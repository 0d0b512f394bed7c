//! Nodes reached through another one (a jump host), against two real sshd (foreground, own
//! ports, own host keys): the lifecycle's SSH probe reaches the inner node through the
//! entry node once that one answers, records both host keys, and the jump sshd's own log
//! shows the forwarded connection; `elasticluster ssh`'s command line (ProxyCommand) runs a
//! command there with strict host-key checking on both hops; without the jump host's key
//! in known_hosts the probe fails with OpenSSH's reason.

mod support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use elasticluster::cluster::bring_up::{bring_up, StartRequest};
use elasticluster::progress::Progress;
use elasticluster::providers::{
    CloudProvider, Discovered, Events, Ledger, MemoryLedger, NodeInfo, NodePhase, NodeRequest,
    PlanSummary, Preflight, ProviderError, Resource, TeardownOptions, TeardownReport,
};
use elasticluster::ssh::{probe_via, proxy_command, ssh_command, JumpHost, KnownHosts, SshTarget};

struct Sshd {
    child: Child,
    port: u16,
    log: PathBuf,
}
impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(args: &[&str], path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-N", ""])
        .args(args)
        .arg("-f")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// An sshd on 127.0.0.1 accepting `client.pub` for root, logging at DEBUG1 to its own file.
fn sshd(dir: &Path, name: &str) -> Sshd {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    keygen(&["-t", "ed25519"], &d.join("hostkey"));
    let port = free_port();
    let log = d.join("sshd.log");
    let cfg = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {k}/client.pub\n\
         PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
         AllowTcpForwarding yes\nLogLevel DEBUG1\n",
        d = d.display(),
        k = dir.display()
    );
    std::fs::write(d.join("sshd_config"), cfg).unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-f"])
        .arg(d.join("sshd_config"))
        .arg("-E")
        .arg(&log)
        .spawn()
        .unwrap();
    Sshd { child, port, log }
}

/// Wait (deadline, no blind sleep) until something accepts connections on `port`.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd on port {port} never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cloud whose compute node is only reachable through the frontend.
struct Behind {
    front: u16,
    inner: u16,
}

#[async_trait]
impl CloudProvider for Behind {
    async fn preflight(
        &self,
        _nodes: &[NodeRequest],
        _ledger: Arc<dyn Ledger>,
    ) -> Result<Preflight, ProviderError> {
        Ok(Preflight::default())
    }
    async fn discover(&self) -> Result<Vec<Discovered>, ProviderError> {
        Ok(Vec::new())
    }
    async fn plan(
        &self,
        nodes: &[NodeRequest],
        ledger: Arc<dyn Ledger>,
    ) -> Result<PlanSummary, ProviderError> {
        let rs: Vec<Resource> = nodes
            .iter()
            .map(|n| Resource::new("vm", "s", &n.name).with("node", &n.name))
            .collect();
        ledger.record(&rs)?;
        Ok(PlanSummary::default())
    }
    async fn create(
        &self,
        ledger: Arc<dyn Ledger>,
        _e: Events,
    ) -> Result<Vec<(String, Result<(), String>)>, ProviderError> {
        Ok(ledger
            .resources()
            .into_iter()
            .map(|r| (r.name, Ok(())))
            .collect())
    }
    async fn nodes(&self, ledger: Arc<dyn Ledger>) -> Result<Vec<NodeInfo>, ProviderError> {
        Ok(ledger
            .resources()
            .into_iter()
            .map(|r| {
                let inner = r.name.starts_with("compute");
                NodeInfo {
                    name: r.name.clone(),
                    instance_id: r.name,
                    phase: NodePhase::Running,
                    ssh_host: Some("127.0.0.1".into()),
                    ssh_port: Some(if inner { self.inner } else { self.front }),
                    private_ip: None,
                    cloud_status: "Succeeded".into(),
                    via: inner.then(|| "frontend001".to_string()),
                }
            })
            .collect())
    }
    async fn delete_nodes(
        &self,
        _names: &[String],
        _ledger: Arc<dyn Ledger>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn teardown(
        &self,
        _l: Arc<dyn Ledger>,
        _o: TeardownOptions,
        _e: Events,
    ) -> Result<TeardownReport, ProviderError> {
        Ok(TeardownReport::default())
    }
}

fn node(name: &str, kind: &str) -> NodeRequest {
    NodeRequest {
        name: name.into(),
        kind: kind.into(),
        image_id: "img".into(),
        flavor: "f".into(),
        image_user: "root".into(),
        image_userdata: None,
        entry: kind == "frontend",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_ssh_and_refusal_through_a_jump_host() {
    if !support::can_run(
        Path::new("/usr/sbin/sshd").exists() && support::is_root(),
        "root and /usr/sbin/sshd",
    ) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::create_dir_all("/run/sshd").unwrap();
    keygen(&["-t", "rsa", "-b", "2048"], &dir.join("client"));
    let front = sshd(dir, "front");
    let inner = sshd(dir, "inner");
    wait_listening(front.port);
    wait_listening(inner.port);

    // The lifecycle: compute001 is probed through frontend001, after it.
    let kh = dir.join("c.known_hosts");
    let req = StartRequest {
        nodes: vec![
            node("frontend001", "frontend"),
            node("compute001", "compute"),
        ],
        min_nodes: Default::default(),
        ssh_user: "root".into(),
        ssh_private_key: dir.join("client"),
        known_hosts: kh.clone(),
        startup_timeout: Duration::from_secs(60),
        probe_ssh: true,
        poll_interval: Duration::from_millis(20),
        ssh_timeout: Duration::from_secs(5),
        report: Default::default(),
    };
    let cloud = Behind {
        front: front.port,
        inner: inner.port,
    };
    let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
    let out = bring_up(&cloud, ledger, &req, &Progress::hidden())
        .await
        .unwrap();
    let ready: BTreeSet<&str> = out.ready.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        ready,
        BTreeSet::from(["frontend001", "compute001"]),
        "{:?}",
        out.dropped
    );
    let known = KnownHosts::load(&kh).unwrap();
    assert_eq!(known.get("127.0.0.1", front.port).len(), 1);
    assert_eq!(known.get("127.0.0.1", inner.port).len(), 1);
    // The frontend's sshd forwarded the probe (OpenSSH logs direct-tcpip at DEBUG1).
    let target = format!("target 127.0.0.1 port {}", inner.port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&front.log).unwrap_or_default();
        if log.contains("direct-tcpip") && log.contains(&target) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the jump sshd never forwarded: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // `elasticluster ssh -n compute001`: ProxyCommand through the frontend.
    let jump = JumpHost {
        user: "root".into(),
        host: "127.0.0.1".into(),
        port: front.port,
    };
    let t = SshTarget {
        user: "root".into(),
        host: "127.0.0.1".into(),
        port: inner.port,
        private_key: dir.join("client"),
        known_hosts: kh.clone(),
        proxy_command: Some(proxy_command(&jump, &dir.join("client"), &kh)),
    };
    let mut argv = ssh_command("ssh", &t, &["echo".into(), "through-the-jump".into()]);
    argv.insert(1, "-oBatchMode=yes".into());
    let o = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("through-the-jump"));

    // Without the jump host's key, OpenSSH refuses the outer hop: one clear error.
    let stranger = dir.join("empty.known_hosts");
    std::fs::write(&stranger, "").unwrap();
    let e = probe_via(
        format!("127.0.0.1:{}", inner.port).parse().unwrap(),
        jump,
        stranger,
        "root".into(),
        dir.join("client"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("through root@127.0.0.1") && e.contains("verification failed"),
        "{e}"
    );
}
