//! TLS and certificates: the emulator's own CA and server certificate (generated once into
//! the state dir and reused), the acceptor that asks every client for a certificate,
//! management-certificate thumbprints, service-certificate parsing (pfx, DER, PEM) and the
//! X.509 → OpenSSH public key conversion Azure's Linux agent performed.
//! It never decides who may do what: it only reports thumbprints.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509NameBuilder, X509};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
    #[error("TLS setup failed: {0}")]
    Ssl(String),
}

fn ssl_error<E: std::fmt::Display>(e: E) -> TlsError {
    TlsError::Ssl(e.to_string())
}

/// Paths of the generated CA and server identity inside the state dir.
pub struct ServerIdentity {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let err = |e: std::io::Error| TlsError::File {
        path: path.to_path_buf(),
        msg: e.to_string(),
    };
    fs::write(&tmp, data).map_err(err)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    fs::rename(&tmp, path).map_err(err)
}

fn serial() -> Result<openssl::asn1::Asn1Integer, TlsError> {
    let mut bn = BigNum::new().map_err(ssl_error)?;
    bn.rand(120, MsbOption::MAYBE_ZERO, false)
        .map_err(ssl_error)?;
    bn.to_asn1_integer().map_err(ssl_error)
}

/// What a new certificate is for (its X.509 v3 extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateUse {
    /// A CA: basic constraints CA, key usage certificate and CRL signing.
    Authority,
    /// A TLS server for `localhost` / `127.0.0.1`.
    LocalServer,
    /// No extensions: management certificates and SSH keys as Azure users made them.
    Plain,
}

/// A new RSA-2048 key and an X.509 v3 certificate (SHA-256, random serial) for
/// `common_name`, valid from now for `days`, signed by `issuer` (its certificate and key)
/// or self-signed. The one certificate helper of the emulator (its CA and server
/// identity, and the tests' management and SSH certificates).
pub fn issue_certificate(
    common_name: &str,
    days: u32,
    usage: CertificateUse,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> Result<(PKey<Private>, X509), TlsError> {
    let key = PKey::from_rsa(Rsa::generate(2048).map_err(ssl_error)?).map_err(ssl_error)?;
    let mut name = X509NameBuilder::new().map_err(ssl_error)?;
    name.append_entry_by_text("CN", common_name)
        .map_err(ssl_error)?;
    let name = name.build();
    let mut b = X509::builder().map_err(ssl_error)?;
    b.set_version(2).map_err(ssl_error)?;
    let serial = serial()?;
    b.set_serial_number(&serial).map_err(ssl_error)?;
    b.set_subject_name(&name).map_err(ssl_error)?;
    match issuer {
        Some((cert, _)) => b.set_issuer_name(cert.subject_name()).map_err(ssl_error)?,
        None => b.set_issuer_name(&name).map_err(ssl_error)?,
    }
    b.set_pubkey(&key).map_err(ssl_error)?;
    let not_before = Asn1Time::days_from_now(0).map_err(ssl_error)?;
    let not_after = Asn1Time::days_from_now(days).map_err(ssl_error)?;
    b.set_not_before(&not_before).map_err(ssl_error)?;
    b.set_not_after(&not_after).map_err(ssl_error)?;
    match usage {
        CertificateUse::Authority => {
            let constraints = BasicConstraints::new().critical().ca().build();
            b.append_extension(constraints.map_err(ssl_error)?)
                .map_err(ssl_error)?;
            let key_usage = KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build();
            b.append_extension(key_usage.map_err(ssl_error)?)
                .map_err(ssl_error)?;
        }
        CertificateUse::LocalServer => {
            let san = SubjectAlternativeName::new()
                .dns("localhost")
                .ip("127.0.0.1")
                .build(&b.x509v3_context(issuer.map(|(cert, _)| &**cert), None))
                .map_err(ssl_error)?;
            b.append_extension(san).map_err(ssl_error)?;
            let server_auth = ExtendedKeyUsage::new().server_auth().build();
            b.append_extension(server_auth.map_err(ssl_error)?)
                .map_err(ssl_error)?;
        }
        CertificateUse::Plain => {}
    }
    let signer = issuer.map(|(_, k)| k).unwrap_or(&key);
    b.sign(signer, MessageDigest::sha256()).map_err(ssl_error)?;
    Ok((key, b.build()))
}

/// Create `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem` unless they exist already.
pub fn ensure_server_identity(dir: &Path) -> Result<ServerIdentity, TlsError> {
    let id = ServerIdentity {
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("server.pem"),
        key_pem: dir.join("server-key.pem"),
    };
    if id.ca_pem.exists() && id.cert_pem.exists() && id.key_pem.exists() {
        return Ok(id);
    }
    let (ca_key, ca) =
        issue_certificate("Azure emulator CA", 3650, CertificateUse::Authority, None)?;
    let (key, cert) = issue_certificate(
        "localhost",
        3650,
        CertificateUse::LocalServer,
        Some((&ca, &ca_key)),
    )?;
    write_file(
        &dir.join("ca-key.pem"),
        &ca_key.private_key_to_pem_pkcs8().map_err(ssl_error)?,
        true,
    )?;
    write_file(
        &id.key_pem,
        &key.private_key_to_pem_pkcs8().map_err(ssl_error)?,
        true,
    )?;
    write_file(&id.cert_pem, &cert.to_pem().map_err(ssl_error)?, false)?;
    write_file(&id.ca_pem, &ca.to_pem().map_err(ssl_error)?, false)?;
    Ok(id)
}

/// Server acceptor: asks for a client certificate, accepts any (authorisation maps the
/// thumbprint to a subscription per request, answering 403 like Azure).
pub fn acceptor(id: &ServerIdentity) -> Result<SslAcceptor, TlsError> {
    let read = |p: &Path| {
        fs::read(p).map_err(|e| TlsError::File {
            path: p.to_path_buf(),
            msg: e.to_string(),
        })
    };
    let key: PKey<Private> = PKey::private_key_from_pem(&read(&id.key_pem)?).map_err(ssl_error)?;
    let cert = X509::from_pem(&read(&id.cert_pem)?).map_err(ssl_error)?;
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(ssl_error)?;
    b.set_private_key(&key).map_err(ssl_error)?;
    b.set_certificate(&cert).map_err(ssl_error)?;
    b.check_private_key().map_err(ssl_error)?;
    b.set_session_id_context(b"azure-emulator")
        .map_err(ssl_error)?;
    b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    Ok(b.build())
}

/// Uppercase hex SHA-1 of the certificate's DER (Azure's thumbprint).
pub fn thumbprint(cert: &X509) -> Result<String, TlsError> {
    let d = cert.digest(MessageDigest::sha1()).map_err(ssl_error)?;
    Ok(hex_upper(&d))
}

pub fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Load a management certificate (.cer): PEM (first certificate) or DER.
pub fn load_certificate(path: &Path) -> Result<X509, TlsError> {
    let data = fs::read(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        msg: format!("cannot read the certificate: {e}"),
    })?;
    parse_certificate(&data).ok_or_else(|| TlsError::File {
        path: path.to_path_buf(),
        msg: "not a PEM or DER X.509 certificate".into(),
    })
}

pub fn parse_certificate(data: &[u8]) -> Option<X509> {
    if data.windows(5).any(|w| w == b"-----") {
        X509::from_pem(data).ok()
    } else {
        X509::from_der(data).ok()
    }
}

fn load_legacy_provider() {
    static LEGACY: OnceLock<Option<(openssl::provider::Provider, openssl::provider::Provider)>> =
        OnceLock::new();
    LEGACY.get_or_init(|| {
        let legacy = openssl::provider::Provider::try_load(None, "legacy", true).ok()?;
        let default = openssl::provider::Provider::try_load(None, "default", true).ok()?;
        Some((legacy, default))
    });
}

/// A service certificate as uploaded (`CertificateFile/Data`, already base64-decoded):
/// PKCS#12 with the given password, or X.509 in DER or PEM (Azure accepted PEM text sent
/// as `pfx`, which is what most SSH tooling did).
pub fn parse_service_certificate(data: &[u8], format: &str, password: &str) -> Option<X509> {
    if format.eq_ignore_ascii_case("pfx") {
        if let Ok(p) = openssl::pkcs12::Pkcs12::from_der(data) {
            load_legacy_provider();
            // A PFX without a private key (`openssl pkcs12 -export -nokeys`, what
            // ElastiCluster uploads) carries its certificate in the "ca" bag list.
            return p.parse2(password).ok().and_then(|parsed| {
                parsed
                    .cert
                    .or_else(|| parsed.ca.and_then(|s| s.into_iter().next()))
            });
        }
    }
    parse_certificate(data)
}

/// OpenSSH `ssh-rsa AAAA…` line for the certificate's RSA key (what walinuxagent wrote into
/// `authorized_keys`). None for non-RSA keys.
pub fn ssh_public_key(cert: &X509) -> Option<String> {
    let pk = cert.public_key().ok()?;
    let rsa = pk.rsa().ok()?;
    let mut blob = Vec::new();
    fn put(blob: &mut Vec<u8>, data: &[u8]) {
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend_from_slice(data);
    }
    fn mpint(v: Vec<u8>) -> Vec<u8> {
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            let mut o = vec![0];
            o.extend(v);
            o
        } else {
            v
        }
    }
    put(&mut blob, b"ssh-rsa");
    put(&mut blob, &mpint(rsa.e().to_vec()));
    put(&mut blob, &mpint(rsa.n().to_vec()));
    Some(format!(
        "ssh-rsa {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Is `program` installed? If not the test fails, unless
    /// `ELASTICLUSTER_TEST_ALLOW_SKIP=1`: then it says why and is skipped.
    fn tool_available(program: &str, package: &str) -> bool {
        if std::process::Command::new(program)
            .arg("version")
            .output()
            .is_ok()
        {
            return true;
        }
        if std::env::var("ELASTICLUSTER_TEST_ALLOW_SKIP").as_deref() == Ok("1") {
            eprintln!("skipping (ELASTICLUSTER_TEST_ALLOW_SKIP=1): `{program}` is not installed");
            return false;
        }
        panic!("`{program}` is not installed (Debian package {package}; bash .ci/run installs it), or set ELASTICLUSTER_TEST_ALLOW_SKIP=1 to skip");
    }

    /// Our conversion must equal OpenSSH's own (`ssh-keygen -i -m PKCS8`).
    #[test]
    fn ssh_key_matches_ssh_keygen() {
        if !tool_available("ssh-keygen", "openssh-client") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = issue_certificate("k", 1, CertificateUse::Plain, None).unwrap();
        let pubpem = dir.path().join("pub.pem");
        fs::write(&pubpem, key.public_key_to_pem().unwrap()).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .args(["-i", "-m", "PKCS8", "-f"])
            .arg(&pubpem)
            .output()
            .unwrap();
        assert!(out.status.success());
        let theirs = String::from_utf8(out.stdout).unwrap();
        assert_eq!(ssh_public_key(&cert).unwrap(), theirs.trim());
    }

    /// What ElastiCluster uploads: `openssl pkcs12 -export -in cert -nokeys -password pass:`.
    #[test]
    fn keyless_pfx_from_the_openssl_cli_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let cert = dir.path().join("c.pem");
        if !tool_available("openssl", "openssl") {
            return;
        }
        let out = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x", "-days", "2",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = std::process::Command::new("openssl")
            .args(["pkcs12", "-export", "-nokeys", "-password", "pass:", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed = parse_service_certificate(&out.stdout, "pfx", "").unwrap();
        let orig = X509::from_pem(&fs::read(&cert).unwrap()).unwrap();
        assert_eq!(thumbprint(&parsed).unwrap(), thumbprint(&orig).unwrap());
        assert!(ssh_public_key(&parsed).unwrap().starts_with("ssh-rsa AAAA"));
    }

    #[test]
    fn issued_server_certificate_is_signed_by_its_authority() {
        let (ca_key, ca) =
            issue_certificate("test CA", 1, CertificateUse::Authority, None).unwrap();
        let (_, server) = issue_certificate(
            "localhost",
            1,
            CertificateUse::LocalServer,
            Some((&ca, &ca_key)),
        )
        .unwrap();
        assert!(server.verify(&ca_key).unwrap());
        assert!(ca.verify(&ca_key).unwrap(), "the CA signs itself");
        let issuer: Vec<u8> = server.issuer_name().to_der().unwrap();
        assert_eq!(issuer, ca.subject_name().to_der().unwrap());
        let names = server.subject_alt_names().unwrap();
        assert_eq!(
            names.iter().filter_map(|n| n.dnsname()).next(),
            Some("localhost")
        );
    }

    #[test]
    fn thumbprint_is_upper_hex_sha1_of_der() {
        let der =
            fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
        assert!(parse_certificate(&der).is_none());
        assert_eq!(hex_upper(&[0xab, 0x01]), "AB01");
    }
}
