//! OpenSSH key formats, as far as Azure classic needs them: an `ssh-rsa` public key line
//! and an unencrypted `openssh-key-v1` RSA private key, read into OpenSSL RSA keys.
//!
//! Only parses: never writes key material anywhere, never logs it; other key types and
//! passphrase-protected keys are refused with a message saying what to do.

use base64::Engine;
use openssl::bn::{BigNum, BigNumContext};
use openssl::pkey::{Private, Public};
use openssl::rsa::{Rsa, RsaPrivateKeyBuilder};

/// Read the SSH reader's `u32`-length-prefixed string.
struct SshReader<'a> {
    buf: &'a [u8],
}

impl<'a> SshReader<'a> {
    fn u32(&mut self) -> Result<u32, String> {
        if self.buf.len() < 4 {
            return Err("truncated key data".into());
        }
        let (h, t) = self.buf.split_at(4);
        self.buf = t;
        Ok(u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
    }
    fn string(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        if self.buf.len() < n {
            return Err("truncated key data".into());
        }
        let (h, t) = self.buf.split_at(n);
        self.buf = t;
        Ok(h)
    }
    fn bn(&mut self) -> Result<BigNum, String> {
        BigNum::from_slice(self.string()?).map_err(|e| e.to_string())
    }
}

/// Parse an OpenSSH public key line `ssh-rsa AAAA… comment` into an RSA public key.
pub fn parse_openssh_rsa_public(line: &str) -> Result<Rsa<Public>, String> {
    let mut parts = line.split_whitespace();
    let kind = parts.next().ok_or("empty public key file")?;
    if kind != "ssh-rsa" {
        return Err(format!(
            "key type `{kind}` is not supported: Azure classic accepts only RSA SSH keys (make one with `ssh-keygen -t rsa -b 3072`)"
        ));
    }
    let b64 = parts
        .next()
        .ok_or("public key data missing after `ssh-rsa`")?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("public key is not valid base64: {e}"))?;
    let mut r = SshReader { buf: &blob };
    if r.string()? != b"ssh-rsa" {
        return Err("public key blob is not ssh-rsa".into());
    }
    let e = r.bn()?;
    let n = r.bn()?;
    Rsa::from_public_components(n, e).map_err(|e| e.to_string())
}

/// Parse an unencrypted OpenSSH-format (`openssh-key-v1`) RSA private key.
pub fn parse_openssh_rsa_private(text: &str) -> Result<Rsa<Private>, String> {
    let b64: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("OpenSSH private key is not valid base64: {e}"))?;
    let magic = b"openssh-key-v1\0";
    let rest = blob
        .strip_prefix(magic.as_slice())
        .ok_or("not an OpenSSH private key")?;
    let mut r = SshReader { buf: rest };
    let cipher = r.string()?;
    let _kdf = r.string()?;
    let _kdfopts = r.string()?;
    if cipher != b"none" {
        return Err(
            "the private key is passphrase-protected; give an unencrypted key \
                    (e.g. `ssh-keygen -p -N '' -f COPY` on a copy)"
                .into(),
        );
    }
    let nkeys = r.u32()?;
    if nkeys != 1 {
        return Err(format!("expected one key in the file, found {nkeys}"));
    }
    let _pub = r.string()?;
    let private = r.string()?;
    let mut p = SshReader { buf: private };
    let c1 = p.u32()?;
    let c2 = p.u32()?;
    if c1 != c2 {
        return Err("corrupt OpenSSH private key (check bytes differ)".into());
    }
    let kind = p.string()?;
    if kind != b"ssh-rsa" {
        return Err(format!(
            "key type `{}` is not supported: Azure classic accepts only RSA SSH keys",
            String::from_utf8_lossy(kind)
        ));
    }
    let n = p.bn()?;
    let e = p.bn()?;
    let d = p.bn()?;
    let iqmp = p.bn()?;
    let pp = p.bn()?;
    let q = p.bn()?;
    let mut ctx = BigNumContext::new().map_err(|e| e.to_string())?;
    let one = BigNum::from_u32(1).map_err(|e| e.to_string())?;
    let mut p1 = BigNum::new().map_err(|e| e.to_string())?;
    p1.checked_sub(&pp, &one).map_err(|e| e.to_string())?;
    let mut q1 = BigNum::new().map_err(|e| e.to_string())?;
    q1.checked_sub(&q, &one).map_err(|e| e.to_string())?;
    let mut dmp1 = BigNum::new().map_err(|e| e.to_string())?;
    dmp1.nnmod(&d, &p1, &mut ctx).map_err(|e| e.to_string())?;
    let mut dmq1 = BigNum::new().map_err(|e| e.to_string())?;
    dmq1.nnmod(&d, &q1, &mut ctx).map_err(|e| e.to_string())?;
    let rsa = RsaPrivateKeyBuilder::new(n, e, d)
        .and_then(|b| b.set_factors(pp, q))
        .and_then(|b| b.set_crt_params(dmp1, dmq1, iqmp))
        .map_err(|e| e.to_string())?
        .build();
    if !rsa.check_key().unwrap_or(false) {
        return Err("corrupt OpenSSH RSA private key (consistency check failed)".into());
    }
    Ok(rsa)
}
