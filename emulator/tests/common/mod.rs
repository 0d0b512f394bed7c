//! Test harness: starts the emulator in-process (none backend, fast time scale), makes
//! management and service certificates with the emulator's certificate helper, and talks
//! HTTPS with reqwest + native-tls exactly like a real ASM client.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use azure_emulator::{tls, EmulatorOptions, RunningEmulator};
use openssl::x509::X509;

pub const SUB: &str = "00000000-0000-0000-0000-000000000000";
pub const IMAGE: &str = "debian-12-elasticluster";

pub struct Cert {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub x509: X509,
}

impl Cert {
    /// A self-signed certificate and key, valid 30 days.
    pub fn new(cn: &str) -> Cert {
        let (key, x509) = tls::issue_certificate(cn, 30, tls::CertificateUse::Plain, None).unwrap();
        Cert {
            cert_pem: x509.to_pem().unwrap(),
            key_pem: key.private_key_to_pem_pkcs8().unwrap(),
            x509,
        }
    }
    pub fn thumbprint(&self) -> String {
        tls::thumbprint(&self.x509).unwrap()
    }
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, &self.cert_pem).unwrap();
        p
    }
}

pub struct Harness {
    pub emu: Option<RunningEmulator>,
    pub dir: tempfile::TempDir,
    pub mgmt: Cert,
    pub client: reqwest::Client,
    pub url: String,
    pub opts: EmulatorOptions,
}

pub fn client_for(cert: &Cert, ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let id = reqwest::Identity::from_pkcs8_pem(&cert.cert_pem, &cert.key_pem).unwrap();
    reqwest::Client::builder()
        .tls_backend_native()
        .tls_certs_only([ca])
        .identity(id)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn options(dir: &Path, mgmt_path: PathBuf) -> EmulatorOptions {
    EmulatorOptions {
        state_dir: dir.join("state"),
        subscriptions: vec![(SUB.to_string(), mgmt_path)],
        time_scale: 0.01,
        ..Default::default()
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut EmulatorOptions)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mgmt = Cert::new("management");
        let p = mgmt.write(dir.path(), "mgmt.pem");
        let mut opts = options(dir.path(), p);
        f(&mut opts);
        let emu = azure_emulator::start(opts.clone()).await.unwrap();
        let client = client_for(&mgmt, emu.ca_pem_path());
        let url = emu.url().to_string();
        Harness {
            emu: Some(emu),
            dir,
            mgmt,
            client,
            url,
            opts,
        }
    }

    /// Stop and start again on the same state dir (new port).
    pub async fn restart(&mut self) {
        if let Some(e) = self.emu.take() {
            e.shutdown().await;
        }
        let emu = azure_emulator::start(self.opts.clone()).await.unwrap();
        self.client = client_for(&self.mgmt, emu.ca_pem_path());
        self.url = emu.url().to_string();
        self.emu = Some(emu);
    }

    pub async fn stop(mut self) {
        if let Some(e) = self.emu.take() {
            e.shutdown().await;
        }
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let url = format!("{}/{SUB}{path}", self.url);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .client
            .request(m, url)
            .header("x-ms-version", "2014-10-01");
        if let Some(b) = body {
            r = r
                .header("content-type", "application/xml")
                .body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (status, headers, text)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let (s, _, b) = self.req("GET", path, None).await;
        (s, b)
    }

    /// Send a mutating request and return (status, request id, body).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, String, String) {
        let (s, h, b) = self.req(method, path, body).await;
        let id = h
            .get("x-ms-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (s, id, b)
    }

    /// Poll Get Operation Status until it leaves InProgress; returns the final body.
    pub async fn wait_op(&self, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (s, b) = self.get(&format!("/operations/{id}")).await;
            assert_eq!(s, 200, "{b}");
            if !b.contains("<Status>InProgress</Status>") {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "operation {id} still in progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Async request that must be accepted (202) and succeed.
    pub async fn ok_async(&self, method: &str, path: &str, body: Option<&str>) {
        let (s, id, b) = self.send(method, path, body).await;
        assert_eq!(s, 202, "{method} {path}: {b}");
        let op = self.wait_op(&id).await;
        assert!(
            op.contains("<Status>Succeeded</Status>"),
            "{method} {path}: {op}"
        );
    }

    pub async fn inventory(&self) -> serde_json::Value {
        let r = self
            .client
            .get(format!("{}/_emulator/inventory", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    }

    /// Poll until `f(deployment xml)` holds.
    pub async fn wait_deployment(&self, svc: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (s, b) = self
                .get(&format!(
                    "/services/hostedservices/{svc}/deploymentslots/Production"
                ))
                .await;
            if s == 200 && f(&b) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "deployment condition not reached: {b}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Storage account + hosted service + service certificate (the SSH key).
    pub async fn base(&self, svc: &str, sa: &str, key: &Cert) {
        self.ok_async("POST", "/services/storageservices", Some(&storage_xml(sa)))
            .await;
        let (s, _, b) = self
            .send(
                "POST",
                "/services/hostedservices",
                Some(&hosted_service_xml(svc)),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        self.ok_async(
            "POST",
            &format!("/services/hostedservices/{svc}/certificates"),
            Some(&cert_xml(key)),
        )
        .await;
    }
}

pub fn base64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn hosted_service_xml(name: &str) -> String {
    format!("<CreateHostedService xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\"><ServiceName>{name}</ServiceName><Label>{}</Label><Location>West US</Location></CreateHostedService>", base64(name.as_bytes()))
}

pub fn storage_xml(name: &str) -> String {
    format!("<CreateStorageServiceInput xmlns=\"http://schemas.microsoft.com/windowsazure\"><ServiceName>{name}</ServiceName><Label>{}</Label><Location>West US</Location><AccountType>Standard_LRS</AccountType></CreateStorageServiceInput>", base64(name.as_bytes()))
}

/// PEM text sent as `pfx` without password, like the Azure CLI and packer did.
pub fn cert_xml(c: &Cert) -> String {
    format!("<CertificateFile xmlns=\"http://schemas.microsoft.com/windowsazure\"><Data>{}</Data><CertificateFormat>pfx</CertificateFormat><Password></Password></CertificateFile>", base64(&c.cert_pem))
}

pub fn role_body(role: &str, port: u16, thumb: &str, sa: &str, subnet: Option<&str>) -> String {
    let subnets = match subnet {
        Some(s) => format!("<SubnetNames><SubnetName>{s}</SubnetName></SubnetNames>"),
        None => "<SubnetNames/>".into(),
    };
    format!("<RoleName>{role}</RoleName><RoleType>PersistentVMRole</RoleType><ConfigurationSets><ConfigurationSet><ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType><HostName>{role}</HostName><UserName>azureuser</UserName><DisableSshPasswordAuthentication>true</DisableSshPasswordAuthentication><SSH><PublicKeys><PublicKey><Fingerprint>{thumb}</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path></PublicKey></PublicKeys></SSH></ConfigurationSet><ConfigurationSet><ConfigurationSetType>NetworkConfiguration</ConfigurationSetType><InputEndpoints><InputEndpoint><LocalPort>22</LocalPort><Name>SSH</Name><Port>{port}</Port><Protocol>tcp</Protocol></InputEndpoint></InputEndpoints>{subnets}</ConfigurationSet></ConfigurationSets><OSVirtualHardDisk><MediaLink>https://{sa}.blob.core.windows.net/vhds/{role}.vhd</MediaLink><SourceImageName>{IMAGE}</SourceImageName></OSVirtualHardDisk><RoleSize>Small</RoleSize>")
}

pub fn deployment_xml(dep: &str, role: &str, port: u16, thumb: &str, sa: &str) -> String {
    format!("<Deployment xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\"><Name>{dep}</Name><DeploymentSlot>production</DeploymentSlot><Label>{dep}</Label><RoleList><Role>{}</Role></RoleList></Deployment>", role_body(role, port, thumb, sa, None))
}

pub fn add_role_xml(role: &str, port: u16, thumb: &str, sa: &str) -> String {
    format!("<PersistentVMRole xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\">{}</PersistentVMRole>", role_body(role, port, thumb, sa, None))
}

/// Text between `<tag>` and `</tag>` (first occurrence).
pub fn between<'a>(s: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let i = s.find(&open)? + open.len();
    let j = s[i..].find(&close)? + i;
    Some(&s[i..j])
}

pub fn all_between<'a>(s: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut v = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(&open) {
        let from = i + open.len();
        let Some(j) = rest[from..].find(&close) else {
            break;
        };
        v.push(&rest[from..from + j]);
        rest = &rest[from + j..];
    }
    v
}

/// Ordered distinct element paths of a body (values ignored).
pub fn paths(xml: &str) -> Vec<String> {
    let doc = azure_emulator::xml::parse(xml).unwrap_or_else(|e| panic!("{e:?}: {xml}"));
    let mut v = Vec::new();
    fn go(n: &azure_emulator::xml::Node, prefix: &str, v: &mut Vec<String>) {
        let p = format!("{prefix}/{}", n.name);
        if !v.contains(&p) {
            v.push(p.clone());
        }
        for c in &n.children {
            go(c, &p, v);
        }
    }
    go(&doc, "", &mut v);
    v
}

/// Values replaced by `#` so only the byte shape remains.
pub fn shape(xml: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut text = false;
    for ch in xml.chars() {
        match ch {
            '<' => {
                if text {
                    out.push('#');
                }
                text = false;
                in_tag = true;
                out.push(ch);
            }
            '>' => {
                in_tag = false;
                out.push(ch);
            }
            _ if in_tag => out.push(ch),
            _ => text = true,
        }
    }
    out
}
