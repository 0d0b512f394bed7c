//! The certificate that carries the user's SSH public key to the VMs (a service certificate,
//! uploaded to each cloud service): a PEM certificate used as is, or an OpenSSH `ssh-rsa`
//! key wrapped into a deterministic self-signed certificate.
//!
//! Never writes key material anywhere; never logs it.

use std::path::Path;

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::x509::X509;

use super::error::AsmError;
use super::identity::{
    key_err, load_private_key, pem_blocks, read, self_signed, thumbprint, SelfSigned,
};
use super::openssh_key::parse_openssh_rsa_public;

/// The certificate uploaded to each cloud service so that Azure installs the user's SSH key.
#[derive(Clone, Debug)]
pub struct SshServiceCert {
    /// DER of the X.509 certificate.
    pub der: Vec<u8>,
    /// Uppercase hex SHA-1 thumbprint: the `Fingerprint` in the VM's `SSH/PublicKeys`.
    pub thumbprint: String,
}

impl SshServiceCert {
    /// Body data of Add Service Certificate (`CertificateFormat` = `cer`).
    pub fn data_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }
}

/// Build the SSH service certificate from `[login] user_key_public` / `user_key_private`.
///
/// * `user_key_public` holding a PEM certificate: used as is (the original's instructions).
/// * `user_key_public` holding an OpenSSH `ssh-rsa` line: wrapped into a self-signed X.509
///   certificate signed with `user_key_private` (which must be the matching private key).
pub fn ssh_service_cert(
    public_path: &Path,
    private_path: &Path,
    subject_cn: &str,
) -> Result<SshServiceCert, AsmError> {
    let bytes = read(public_path)?;
    let text = String::from_utf8_lossy(&bytes);
    if let Some(pem) = pem_blocks(&text, false).first() {
        let cert = X509::from_pem(pem.as_bytes())
            .map_err(|e| key_err(public_path, format!("cannot parse the certificate: {e}")))?;
        let der = cert
            .to_der()
            .map_err(|e| key_err(public_path, e.to_string()))?;
        let thumbprint = thumbprint(&cert).map_err(|e| key_err(public_path, e.to_string()))?;
        return Ok(SshServiceCert { der, thumbprint });
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let public = parse_openssh_rsa_public(line).map_err(|d| key_err(public_path, d))?;
    let private = load_private_key(private_path)?;
    let priv_rsa = private.rsa().map_err(|_| {
        key_err(
            private_path,
            "not an RSA private key: Azure classic accepts only RSA SSH keys",
        )
    })?;
    if priv_rsa.n() != public.n() || priv_rsa.e() != public.e() {
        return Err(key_err(
            private_path,
            format!(
                "this private key does not match the public key in {}",
                public_path.display()
            ),
        ));
    }
    let der = self_signed_der(&public, &private, subject_cn).map_err(|e| {
        key_err(
            private_path,
            format!("cannot make the SSH certificate: {e}"),
        )
    })?;
    let cert = X509::from_der(&der).map_err(|e| key_err(private_path, e.to_string()))?;
    let thumbprint = thumbprint(&cert).map_err(|e| key_err(private_path, e.to_string()))?;
    Ok(SshServiceCert { der, thumbprint })
}

fn self_signed_der(
    public: &Rsa<Public>,
    private: &PKey<Private>,
    cn: &str,
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let pubkey = PKey::from_rsa(public.clone())?;
    // Deterministic serial from the key and a fixed validity window: re-runs upload the
    // same certificate (same bytes, same thumbprint).
    let digest = openssl::hash::hash(MessageDigest::sha1(), &public.public_key_to_der()?)?;
    let cert = self_signed(
        &pubkey,
        private,
        &SelfSigned {
            cn,
            serial: &digest[..16],
            not_before: Asn1Time::from_str("20200101000000Z")?,
            not_after: Asn1Time::from_str("20491231235959Z")?,
            ip_san: None,
        },
    )?;
    cert.to_der()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn have(cmd: &str) -> bool {
        Command::new(cmd).arg("-h").output().is_ok()
    }

    #[test]
    fn ssh_key_is_wrapped_deterministically_and_pem_cert_used_as_is() {
        // Not a skip: without the command this test would prove nothing.
        assert!(
            have("ssh-keygen"),
            "this test needs the `ssh-keygen` command (.ci/run installs it)"
        );
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("id_rsa");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        let public = d.path().join("id_rsa.pub");
        let c1 = ssh_service_cert(&public, &key, "x").unwrap();
        let c2 = ssh_service_cert(&public, &key, "x").unwrap();
        assert_eq!(c1.thumbprint, c2.thumbprint);
        let cert = X509::from_der(&c1.der).unwrap();
        let rsa = cert.public_key().unwrap().rsa().unwrap();
        let want = parse_openssh_rsa_public(&std::fs::read_to_string(&public).unwrap()).unwrap();
        assert_eq!(rsa.n(), want.n());
        // signed by the key itself
        assert!(cert.verify(&cert.public_key().unwrap()).unwrap());
        // a PEM copy of the private key gives the same result
        let pem = d.path().join("id_rsa_pem");
        std::fs::copy(&key, &pem).unwrap();
        assert!(Command::new("ssh-keygen")
            .args(["-q", "-p", "-N", "", "-m", "PEM", "-f"])
            .arg(&pem)
            .output()
            .unwrap()
            .status
            .success());
        let c3 = ssh_service_cert(&public, &pem, "x").unwrap();
        assert_eq!(c3.thumbprint, c1.thumbprint);
        // PEM certificate as user_key_public: used as is
        let certpem = d.path().join("cert.pem");
        std::fs::write(&certpem, cert.to_pem().unwrap()).unwrap();
        let c4 = ssh_service_cert(&certpem, &key, "ignored").unwrap();
        assert_eq!(c4.der, c1.der);
        // mismatched private key
        let k2 = d.path().join("other");
        Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
            .arg(&k2)
            .output()
            .unwrap();
        let e = ssh_service_cert(&public, &k2, "x").unwrap_err().to_string();
        assert!(e.contains("does not match"), "{e}");
        // ed25519 → clear message
        let k3 = d.path().join("ed");
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&k3)
            .output()
            .unwrap();
        let e = ssh_service_cert(&d.path().join("ed.pub"), &k3, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("only RSA"), "{e}");
    }
}
