//! The management certificate as a TLS client identity (with extra trusted CAs), the
//! reading of private keys and PEM files that the SSH service certificate (`service_cert`)
//! shares, and the one place certificates are made (`self_signed`).
//!
//! Accepts PEM keys in any form OpenSSL reads (PKCS#1, PKCS#8, cert and key in one file or
//! two) and OpenSSH-format RSA private keys. Never writes key material anywhere; never logs it.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use super::error::AsmError;
use super::openssh_key::parse_openssh_rsa_private;

/// A management certificate ready for reqwest/native-tls.
#[derive(Clone)]
pub struct ManagementIdentity {
    /// Certificate chain PEM (leaf first).
    pub cert_pem: Vec<u8>,
    /// The private key, re-encoded as PKCS#8 PEM (what native-tls requires).
    pub key_pkcs8_pem: Vec<u8>,
    /// Uppercase hex SHA-1 of the leaf certificate's DER.
    pub thumbprint: String,
    /// Where the certificate came from, for messages.
    pub cert_path: PathBuf,
}

impl std::fmt::Debug for ManagementIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementIdentity")
            .field("thumbprint", &self.thumbprint)
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

pub(super) fn key_err(path: &Path, detail: impl Into<String>) -> AsmError {
    AsmError::KeyMaterial {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>, AsmError> {
    std::fs::read(path).map_err(|e| key_err(path, format!("cannot read: {e}")))
}

/// PEM blocks of one kind (`CERTIFICATE`, or any `… PRIVATE KEY`) out of a file.
pub(super) fn pem_blocks(text: &str, want_key: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(label) = t
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
        {
            cur = Some((label.to_string(), format!("{t}\n")));
            continue;
        }
        if let Some((label, mut body)) = cur.take() {
            body.push_str(t);
            body.push('\n');
            if t.starts_with("-----END ") {
                let is_key = label.ends_with("PRIVATE KEY");
                let is_cert = label == "CERTIFICATE" || label == "TRUSTED CERTIFICATE";
                if (want_key && is_key) || (!want_key && is_cert) {
                    out.push(body);
                }
            } else {
                cur = Some((label, body));
            }
        }
    }
    out
}

/// Uppercase hex SHA-1 of a certificate's DER (Azure's "thumbprint").
pub fn thumbprint(cert: &X509) -> Result<String, openssl::error::ErrorStack> {
    let d = cert.digest(MessageDigest::sha1())?;
    Ok(d.iter().map(|b| format!("{b:02X}")).collect())
}

/// Parse any private key file we support: PEM (PKCS#1/PKCS#8/SEC1) or OpenSSH format.
pub fn load_private_key(path: &Path) -> Result<PKey<Private>, AsmError> {
    let bytes = read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let rsa = parse_openssh_rsa_private(&text).map_err(|d| key_err(path, d))?;
        return PKey::from_rsa(rsa).map_err(|e| key_err(path, e.to_string()));
    }
    let blocks = pem_blocks(&text, true);
    let Some(block) = blocks.first() else {
        return Err(key_err(path, "no private key found (expected a PEM `-----BEGIN … PRIVATE KEY-----` block or an OpenSSH private key)"));
    };
    if block.contains("ENCRYPTED") || block.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(key_err(
            path,
            "the private key is passphrase-protected; give an unencrypted copy (e.g. `openssl rsa -in KEY -out KEY.plain`)",
        ));
    }
    PKey::private_key_from_pem(block.as_bytes())
        .map_err(|e| key_err(path, format!("cannot parse the private key: {e}")))
}

/// Load the management certificate: `cert_path` holds the certificate (and maybe the key);
/// `key_path`, if given, holds the key. Keys in any PEM form are converted to PKCS#8.
pub fn load_management_identity(
    cert_path: &Path,
    key_path: Option<&Path>,
) -> Result<ManagementIdentity, AsmError> {
    let cert_bytes = read(cert_path)?;
    let cert_text = String::from_utf8_lossy(&cert_bytes);
    let certs = pem_blocks(&cert_text, false);
    let Some(leaf_pem) = certs.first() else {
        return Err(key_err(
            cert_path,
            "no PEM certificate found; `certificate` must be a PEM file holding the management certificate \
             (and usually its key), e.g. made by `openssl req -x509 -nodes -newkey rsa:2048 -keyout cert.pem -out cert.pem`",
        ));
    };
    let leaf = X509::from_pem(leaf_pem.as_bytes())
        .map_err(|e| key_err(cert_path, format!("cannot parse the certificate: {e}")))?;
    let key_source = key_path.unwrap_or(cert_path);
    let key = if key_path.is_none() && pem_blocks(&cert_text, true).is_empty() {
        return Err(key_err(
            cert_path,
            "the file has a certificate but no private key; put the key in the same PEM file",
        ));
    } else {
        load_private_key(key_source)?
    };
    let cert_key = leaf
        .public_key()
        .map_err(|e| key_err(cert_path, e.to_string()))?;
    if !cert_key.public_eq(&key) {
        return Err(key_err(
            key_source,
            format!(
                "the private key does not belong to the certificate in {}",
                cert_path.display()
            ),
        ));
    }
    let key_pkcs8_pem = key
        .private_key_to_pem_pkcs8()
        .map_err(|e| key_err(key_source, e.to_string()))?;
    let cert_pem = certs.concat().into_bytes();
    let thumbprint = thumbprint(&leaf).map_err(|e| key_err(cert_path, e.to_string()))?;
    Ok(ManagementIdentity {
        cert_pem,
        key_pkcs8_pem,
        thumbprint,
        cert_path: cert_path.to_path_buf(),
    })
}

/// Load extra trusted CA certificates (PEM bundle) for `ca_certificate`.
pub fn load_ca_bundle(path: &Path) -> Result<Vec<Vec<u8>>, AsmError> {
    let bytes = read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let certs = pem_blocks(&text, false);
    if certs.is_empty() {
        return Err(key_err(
            path,
            "not a PEM certificate (no `-----BEGIN CERTIFICATE-----` block) — point `ca_certificate` at a PEM CA bundle",
        ));
    }
    for (i, pem) in certs.iter().enumerate() {
        if openssl::x509::X509::from_pem(pem.as_bytes()).is_err() {
            return Err(key_err(
                path,
                format!(
                    "not a PEM certificate (certificate block {} cannot be decoded) — point `ca_certificate` at a PEM CA bundle",
                    i + 1
                ),
            ));
        }
    }
    Ok(certs.into_iter().map(String::into_bytes).collect())
}

/// What a self-signed certificate says.
pub struct SelfSigned<'a> {
    pub cn: &'a str,
    pub serial: &'a [u8],
    pub not_before: Asn1Time,
    pub not_after: Asn1Time,
    /// An IP address subject alternative name (a TLS server on loopback).
    pub ip_san: Option<&'a str>,
}

/// The one place certificates are made: `subject` certified by its own private key `signer`.
pub fn self_signed<T: openssl::pkey::HasPublic>(
    subject: &PKey<T>,
    signer: &PKey<Private>,
    what: &SelfSigned<'_>,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", what.cn)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = BigNum::from_slice(what.serial)?.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(subject)?;
    b.set_not_before(&what.not_before)?;
    b.set_not_after(&what.not_after)?;
    if let Some(ip) = what.ip_san {
        let san = openssl::x509::extension::SubjectAlternativeName::new()
            .ip(ip)
            .build(&b.x509v3_context(None, None))?;
        b.append_extension(san)?;
    }
    b.sign(signer, MessageDigest::sha256())?;
    Ok(b.build())
}

/// A new RSA key and a self-signed certificate for it valid `days` days, as one PEM: key
/// (PKCS#8) first, then the certificate — the layout of
/// `openssl req -x509 -nodes -newkey rsa:2048 -keyout x.pem -out x.pem`.
pub fn new_identity_pem(
    cn: &str,
    days: u32,
    ip_san: Option<&str>,
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let serial: [u8; 8] = rand::random();
    let cert = self_signed(
        &key,
        &key,
        &SelfSigned {
            cn,
            serial: &serial,
            not_before: Asn1Time::days_from_now(0)?,
            not_after: Asn1Time::days_from_now(days)?,
            ip_san,
        },
    )?;
    let mut pem = key.private_key_to_pem_pkcs8()?;
    pem.extend(cert.to_pem()?);
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn have(cmd: &str) -> bool {
        Command::new(cmd).arg("-h").output().is_ok()
    }

    #[test]
    fn management_identity_accepts_pkcs1_pkcs8_combined_and_split() {
        // Not a skip: without the command this test would prove nothing.
        assert!(
            have("openssl"),
            "this test needs the `openssl` command (.ci/run installs it)"
        );
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("k.pem");
        let cert = d.path().join("c.pem");
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-nodes", "-days", "2", "-newkey", "rsa:2048",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args(["-subj", "/CN=AzureMgmtCert"])
            .output()
            .unwrap();
        assert!(ok.status.success());
        let pkcs1 = d.path().join("k1.pem");
        assert!(Command::new("openssl")
            .args(["rsa", "-traditional", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&pkcs1)
            .output()
            .unwrap()
            .status
            .success());
        let a = load_management_identity(&cert, Some(&key)).unwrap();
        let b = load_management_identity(&cert, Some(&pkcs1)).unwrap();
        assert_eq!(a.thumbprint, b.thumbprint);
        assert_eq!(a.thumbprint.len(), 40);
        assert!(
            String::from_utf8_lossy(&b.key_pkcs8_pem).starts_with("-----BEGIN PRIVATE KEY-----")
        );
        // combined, key first (the README's `-keyout x -out x` layout), PKCS#1 key
        let combined = d.path().join("both.pem");
        let mut all = std::fs::read(&pkcs1).unwrap();
        all.extend(std::fs::read(&cert).unwrap());
        std::fs::write(&combined, all).unwrap();
        let c = load_management_identity(&combined, None).unwrap();
        assert_eq!(c.thumbprint, a.thumbprint);
        // certificate only: clear error
        let e = load_management_identity(&cert, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no private key"), "{e}");
        // wrong key
        let other = d.path().join("o.pem");
        Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&other)
            .arg("2048")
            .output()
            .unwrap();
        let e = load_management_identity(&cert, Some(&other))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not belong"), "{e}");
    }
}
