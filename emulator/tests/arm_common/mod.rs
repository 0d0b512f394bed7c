//! Harness of the ARM face tests: an in-process emulator (API-only backend) with a tenant and
//! a service principal registered, a bearer token from its token endpoint, and plain HTTPS
//! calls with reqwest like any ARM client makes (answers as status, headers, JSON).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use azure_emulator::arm::ArmCredentials;
use azure_emulator::{EmulatorOptions, RunningEmulator};
use serde_json::Value;

pub const SUB: &str = "00000000-0000-0000-0000-0000000000a1";
pub const TENANT: &str = "72f988bf-0000-4000-8000-0000000000a1";
pub const CLIENT: &str = "c11e0000-0000-4000-8000-0000000000a1";
pub const SECRET: &str = "s3cr3t-value-of-the-client";
pub const IMAGE: (&str, &str, &str) = ("elasticluster", "sandbox", "debian-12-elasticluster");

pub struct Arm {
    pub emu: RunningEmulator,
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
    _dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Arm {
    /// An emulator at `scale` with `max_cores`; `f` may change the options further.
    pub async fn start(scale: f64, max_cores: u32) -> Arm {
        Self::start_with(scale, max_cores, |_| {}).await
    }

    pub async fn start_with(
        scale: f64,
        max_cores: u32,
        f: impl FnOnce(&mut EmulatorOptions),
    ) -> Arm {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = azure_emulator::tls::issue_certificate(
            "mgmt",
            30,
            azure_emulator::tls::CertificateUse::Plain,
            None,
        )
        .unwrap();
        let _ = key;
        let mgmt = dir.path().join("mgmt.pem");
        std::fs::write(&mgmt, cert.to_pem().unwrap()).unwrap();
        let mut opts = EmulatorOptions {
            state_dir: dir.path().join("state"),
            subscriptions: vec![(SUB.to_string(), mgmt)],
            time_scale: scale,
            max_cores,
            arm: ArmCredentials {
                tenants: vec![TENANT.into()],
                clients: vec![(CLIENT.into(), SECRET.into())],
            },
            ..Default::default()
        };
        f(&mut opts);
        let emu = azure_emulator::start(opts).await.unwrap();
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(emu.ca_pem_path()).unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .tls_backend_native()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let url = emu.arm_url().unwrap().to_string();
        let mut arm = Arm {
            emu,
            http,
            url,
            token: String::new(),
            _dir: dir,
        };
        let t = arm
            .token_request(
                TENANT,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", CLIENT),
                    ("client_secret", SECRET),
                    ("scope", "https://management.azure.com/.default"),
                ],
                true,
            )
            .await;
        assert_eq!(t.status, 200, "{}", t.text);
        arm.token = t.body["access_token"].as_str().unwrap().to_string();
        arm
    }

    /// POST a token request (`v2`: `/oauth2/v2.0/token`, else `/oauth2/token`).
    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)], v2: bool) -> Answer {
        let path = if v2 {
            "oauth2/v2.0/token"
        } else {
            "oauth2/token"
        };
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .http
            .post(format!("{}/{tenant}/{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    /// A call with the bearer token; `path` starts with `/` (and carries the query).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_as(method, path, body, Some(&self.token)).await
    }

    pub async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Answer {
        let url = if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        };
        let mut r = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r = match body {
            Some(b) => r
                .header("content-type", "application/json")
                .body(b.to_string()),
            None if method != "GET" && method != "HEAD" => r.header("content-length", "0"),
            None => r,
        };
        answer(r.send().await.unwrap()).await
    }

    /// Follow `Azure-AsyncOperation` until the status is terminal; returns the final body.
    pub async fn wait(&self, op_url: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let a = self.call("GET", op_url, None).await;
            assert_eq!(a.status, 200, "{}", a.text);
            let s = a.body["status"].as_str().unwrap_or_default().to_string();
            if s != "InProgress" {
                return a.body;
            }
            assert!(
                Instant::now() < deadline,
                "operation still running: {op_url}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn sub(&self) -> String {
        format!("/subscriptions/{SUB}")
    }

    pub fn rg(&self, rg: &str) -> String {
        format!("{}/resourcegroups/{rg}", self.sub())
    }

    pub fn net(&self, rg: &str, ty: &str, name: &str) -> String {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.Network/{ty}/{name}",
            self.sub()
        )
    }

    pub fn vm(&self, rg: &str, name: &str) -> String {
        format!(
            "{}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}",
            self.sub()
        )
    }

    /// Group, VNet 10.0.0.0/16 with subnet `default` 10.0.0.0/24, and (waited for).
    pub async fn network(&self, rg: &str) {
        let a = self
            .call(
                "PUT",
                &format!("{}?api-version=2021-04-01", self.rg(rg)),
                Some(serde_json::json!({"location": "eastus"})),
            )
            .await;
        assert!(a.status == 201 || a.status == 200, "{}", a.text);
        let a = self
            .call(
                "PUT",
                &format!("{}?api-version=2023-09-01", self.net(rg, "virtualNetworks", "vnet")),
                Some(serde_json::json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        let op = a.header("azure-asyncoperation").unwrap().to_string();
        assert_eq!(self.wait(&op).await["status"], "Succeeded");
    }

    /// A NIC in `rg`'s subnet `default` (with public IP `pip` if given).
    pub async fn nic(&self, rg: &str, name: &str, pip: Option<&str>) -> Answer {
        let mut ipc = serde_json::json!({"subnet": {"id": format!("{}/subnets/default", self.net(rg, "virtualNetworks", "vnet"))}});
        if let Some(p) = pip {
            ipc["publicIPAddress"] =
                serde_json::json!({"id": self.net(rg, "publicIPAddresses", p)});
        }
        self.call(
            "PUT",
            &format!("{}?api-version=2023-09-01", self.net(rg, "networkInterfaces", name)),
            Some(serde_json::json!({"location": "eastus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": ipc}]}})),
        )
        .await
    }

    /// A Linux VM body using NIC `nic`.
    pub fn vm_body(&self, rg: &str, name: &str, nic: &str, size: &str) -> Value {
        serde_json::json!({
            "location": "eastus",
            "properties": {
                "hardwareProfile": {"vmSize": size},
                "storageProfile": {
                    "imageReference": {"publisher": IMAGE.0, "offer": IMAGE.1, "sku": IMAGE.2, "version": "latest"},
                    "osDisk": {"name": format!("{name}-osdisk"), "createOption": "FromImage", "caching": "ReadWrite", "managedDisk": {"storageAccountType": "Standard_LRS"}, "deleteOption": "Delete"}
                },
                "osProfile": {
                    "computerName": name,
                    "adminUsername": "azureuser",
                    "linuxConfiguration": {"disablePasswordAuthentication": true, "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 test@host"}]}}
                },
                "networkProfile": {"networkInterfaces": [{"id": format!("{}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/{nic}", self.sub()), "properties": {"primary": true, "deleteOption": "Delete"}}]}
            }
        })
    }
}

/// `Retry-After` of an answer: whole seconds, at least 1.
pub fn retry_after(a: &Answer) -> u64 {
    let v = a
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {}", a.text));
    let n: u64 = v
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After `{v}` is not whole seconds"));
    assert!(n >= 1, "Retry-After {n}");
    n
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// `application/x-www-form-urlencoded` value encoding.
pub fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
