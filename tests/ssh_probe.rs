//! The SSH readiness probe and the ssh command line against a real sshd (foreground, own
//! port, own host key): the probe authenticates with an OpenSSH-format RSA key, records the
//! host key, and `ssh` with StrictHostKeyChecking=yes then accepts exactly that key.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use elasticluster::ssh::{known_hosts::KnownHosts, probe, ssh_command, SshTarget};

struct Sshd(Child);
impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

#[tokio::test]
async fn probe_records_host_key_and_ssh_accepts_it() {
    if !support::can_run(
        Path::new("/usr/sbin/sshd").exists() && support::is_root(),
        "root and /usr/sbin/sshd",
    ) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::create_dir_all("/run/sshd").unwrap();
    keygen(&["-t", "ed25519"], &dir.join("hostkey"));
    keygen(&["-t", "rsa", "-b", "2048"], &dir.join("client"));
    std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
    let port = free_port();
    let cfg = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
         PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
         KexAlgorithms curve25519-sha256\n",
        d = dir.display()
    );
    std::fs::write(dir.join("sshd_config"), cfg).unwrap();
    let _sshd = Sshd(
        Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // poll until sshd answers (deadline, no blind sleep)
    let deadline = Instant::now() + Duration::from_secs(20);
    let key = loop {
        match probe(
            addr,
            "root".into(),
            dir.join("client"),
            Duration::from_secs(5),
        )
        .await
        {
            Ok(k) => break k,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for sshd: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("sshd never answered: {e}"),
        }
    };
    assert_eq!(key.key_type, "ssh-ed25519");
    let host_pub = std::fs::read_to_string(dir.join("hostkey.pub")).unwrap();
    assert!(host_pub.contains(&key.base64));
    let khp = dir.join("c.known_hosts");
    let mut kh = KnownHosts::load(&khp).unwrap();
    assert!(kh.check_or_add("127.0.0.1", port, &key).unwrap());
    kh.save().unwrap();
    // wrong key: auth error, not success
    keygen(&["-t", "rsa", "-b", "2048"], &dir.join("stranger"));
    let e = probe(
        addr,
        "root".into(),
        dir.join("stranger"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("refused key"), "{e}");
    // ssh with our argv and strict checking accepts the recorded key
    let t = SshTarget {
        user: "root".into(),
        host: "127.0.0.1".into(),
        port,
        private_key: dir.join("client"),
        known_hosts: khp.clone(),
        proxy_command: None,
    };
    let mut argv = ssh_command(
        "ssh",
        &t,
        &["echo".into(), "hello-from".into(), "-n".into()],
    );
    argv.insert(1, "-oBatchMode=yes".into());
    let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello-from -n"));
    // and refuses when the recorded key is a different one
    std::fs::write(&khp, format!("[127.0.0.1]:{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n")).unwrap();
    let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    assert!(!out.status.success());
}
