//! The `azure-emulator` binary: --help documents every flag, `serve` prints the
//! endpoint JSON line and writes endpoint.json, answers HTTPS, exits 0 on SIGTERM, and bad
//! input gives one clear line and exit status 1.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_azure-emulator");

#[test]
fn help_documents_every_flag() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--state-dir",
        "--listen",
        "--subscription",
        "--backend",
        "--shared-home",
        "--image-dir",
        "--time-scale",
        "--faults",
        "--seed",
        "--max-cores",
        "--max-hosted-services",
        "--max-storage-accounts",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    let out = Command::new(BIN)
        .args(["build-image", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--image-dir") && help.contains("--force"));
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--subscription".into(),
                format!("abc={}", dir.path().join("missing.pem").display()),
            ],
            "missing.pem",
        ),
        (
            vec!["--subscription".into(), "no-equals-sign".into()],
            "ID=PATH",
        ),
    ];
    for (args, needle) in cases {
        let out = Command::new(BIN)
            .arg("serve")
            .arg("--state-dir")
            .arg(dir.path().join("st"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
    // An invalid fault spec names the bad key.
    let c = Cert::new("m");
    let p = c.write(dir.path(), "m.pem");
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--state-dir")
        .arg(dir.path().join("st2"))
        .arg("--subscription")
        .arg(format!("{SUB}={}", p.display()))
        .args(["--faults", "boom=0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`boom`"));
}

#[tokio::test]
async fn serve_prints_endpoint_answers_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mgmt = Cert::new("m");
    let p = mgmt.write(dir.path(), "m.pem");
    // A DER copy works as well.
    let der = dir.path().join("m.cer");
    std::fs::write(&der, mgmt.x509.to_der().unwrap()).unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--state-dir")
        .arg(dir.path().join("st"))
        .arg("--subscription")
        .arg(format!("{SUB}={}", p.display()))
        .arg("--subscription")
        .arg(format!(
            "22222222-0000-0000-0000-000000000000={}",
            der.display()
        ))
        .args(["--time-scale", "0.01", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ep: serde_json::Value = serde_json::from_str(&line).unwrap();
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("st/endpoint.json")).unwrap())
            .unwrap();
    assert_eq!(ep, on_disk);
    assert_eq!(ep["pid"], child.id());
    let url = ep["url"].as_str().unwrap();
    let ca = std::path::PathBuf::from(ep["ca"].as_str().unwrap());
    let client = client_for(&mgmt, &ca);
    for sub in [SUB, "22222222-0000-0000-0000-000000000000"] {
        let r = client
            .get(format!("{url}/{sub}/locations"))
            .header("x-ms-version", "2014-10-01")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
}
