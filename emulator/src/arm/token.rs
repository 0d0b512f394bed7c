//! Access tokens of the emulator's identity platform: JWTs signed with HS256 under a key
//! kept in the state directory (so tokens outlive a restart, as Azure's do), carrying the
//! claims a client may decode (`aud`, `iss`, `iat`, `nbf`, `exp`, `appid`, `tid`, `oid`),
//! and their check on every Resource Manager request. It never logs a token or a key.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};

use crate::ids::stable_guid;

/// What a token says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    pub idtyp: String,
    pub ver: String,
}

impl Claims {
    pub fn new(tenant: &str, client: &str, audience: &str, now: i64, lifetime: i64) -> Claims {
        let oid = stable_guid(&format!("{tenant}/{client}"));
        Claims {
            aud: audience.to_string(),
            iss: format!("https://sts.windows.net/{tenant}/"),
            iat: now,
            nbf: now - 300,
            exp: now + lifetime,
            appid: client.to_string(),
            tid: tenant.to_string(),
            oid: oid.clone(),
            sub: oid,
            idtyp: "app".into(),
            ver: "1.0".into(),
        }
    }
}

/// Why a bearer token is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token this emulator signed (or signed with a revoked key).
    Invalid,
    /// Expired at this Unix time.
    Expired(i64),
    /// Issued for this audience.
    Audience(String),
}

fn sign(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let pkey = PKey::hmac(key).ok()?;
    let mut s = Signer::new(MessageDigest::sha256(), &pkey).ok()?;
    s.update(data).ok()?;
    s.sign_to_vec().ok()
}

/// A signed token for `claims`.
pub fn issue(key: &[u8], claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{body}");
    let sig = sign(key, signing_input.as_bytes()).unwrap_or_default();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The claims of `token` if it is valid now for one of `audiences`.
pub fn verify(key: &[u8], token: &str, now: i64, audiences: &[String]) -> Result<Claims, Refusal> {
    let mut parts = token.rsplitn(2, '.');
    let (Some(sig), Some(signing_input)) = (parts.next(), parts.next()) else {
        return Err(Refusal::Invalid);
    };
    let want = sign(key, signing_input.as_bytes()).ok_or(Refusal::Invalid)?;
    let got = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Refusal::Invalid)?;
    if got.len() != want.len() || !openssl::memcmp::eq(&got, &want) {
        return Err(Refusal::Invalid);
    }
    let body = signing_input.split('.').nth(1).ok_or(Refusal::Invalid)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Refusal::Invalid)?;
    if claims.exp <= now {
        return Err(Refusal::Expired(claims.exp));
    }
    if claims.nbf > now + 300 {
        return Err(Refusal::Invalid);
    }
    if !audiences
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&claims.aud))
    {
        return Err(Refusal::Audience(claims.aud));
    }
    Ok(claims)
}

/// The signing key in `path` (32 random bytes made on first use, mode 0600).
pub fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(k) if k.len() >= 32 => Ok(k),
        _ => new_key(path),
    }
}

/// A fresh key in `path`: every token signed with the old one stops working.
pub fn new_key(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key: [u8; 32] = rand::random();
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&key)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_audience_and_lifetime() {
        let key = b"0123456789abcdef0123456789abcdef";
        let aud = vec!["https://management.azure.com/".to_string()];
        let c = Claims::new("t", "c", "https://management.azure.com/", 1000, 3599);
        let t = issue(key, &c);
        assert_eq!(t.split('.').count(), 3);
        assert_eq!(verify(key, &t, 1001, &aud), Ok(c.clone()));
        assert_eq!(verify(key, &t, 5000, &aud), Err(Refusal::Expired(4599)));
        assert_eq!(
            verify(b"another key, another key, another", &t, 1001, &aud),
            Err(Refusal::Invalid)
        );
        let other = vec!["https://example.org/".to_string()];
        assert_eq!(
            verify(key, &t, 1001, &other),
            Err(Refusal::Audience("https://management.azure.com/".into()))
        );
        assert_eq!(verify(key, "garbage", 1001, &aud), Err(Refusal::Invalid));
        let mut forged = t.clone();
        forged.insert(10, 'x');
        assert_eq!(verify(key, &forged, 1001, &aud), Err(Refusal::Invalid));
    }
}
