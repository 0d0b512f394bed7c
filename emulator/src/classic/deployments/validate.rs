//! Checks of new roles that need the subscription: names, sizes, images, OS disk blobs
//! (their storage account exists, no other disk uses the blob), subnets of the virtual
//! network, SSH keys from the hosted service's certificates, the core quota; and the
//! duplicate public ports that make the operation fail later, as Azure did.

use crate::classic::errors::ApiError;
use crate::classic::request::decode_base64;
use crate::classic::storage::account_of_media_link;
use crate::engine::Emulator;
use crate::model::{catalog, HostedService, OpError, Role, Subscription};
use crate::tls;

/// `authorized_keys` lines of one role with the path each goes to.
pub type AuthorizedKeys = Vec<(String, String)>;

/// Checks that need the subscription; returns, per new role, its `authorized_keys` lines
/// (converted from the service certificates) with their paths.
pub fn validate_roles(
    emu: &Emulator,
    sub: &Subscription,
    h: &HostedService,
    vnet: Option<&str>,
    existing: &[Role],
    new: &[Role],
) -> Result<Vec<AuthorizedKeys>, ApiError> {
    let images: Vec<String> = emu.backend.images().into_iter().map(|i| i.name).collect();
    let site = match vnet {
        Some(v) => Some(
            sub.network_sites()
                .into_iter()
                .find(|s| s.name.eq_ignore_ascii_case(v))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("The virtual network {v} does not exist."))
                })?,
        ),
        None => None,
    };
    let mut keys = Vec::new();
    let mut names: Vec<String> = existing
        .iter()
        .map(|r| r.name.to_ascii_lowercase())
        .collect();
    let mut links: Vec<String> = sub
        .disks
        .values()
        .map(|d| d.media_link.to_ascii_lowercase())
        .collect();
    for r in new {
        if r.name.is_empty() || r.name.len() > 64 {
            return Err(ApiError::bad_request(format!(
                "The role name {} is not valid.",
                r.name
            )));
        }
        if names.contains(&r.name.to_ascii_lowercase()) {
            return Err(ApiError::conflict(format!(
                "A role named {} already exists in the deployment.",
                r.name
            )));
        }
        names.push(r.name.to_ascii_lowercase());
        if catalog::role_size(&r.role_size).is_none() {
            return Err(ApiError::bad_request(format!(
                "The value '{}' for RoleSize is not valid.",
                r.role_size
            )));
        }
        if !images.contains(&r.os_disk.source_image) {
            return Err(ApiError::bad_request(format!(
                "The image {} does not exist.",
                r.os_disk.source_image
            )));
        }
        let sa = account_of_media_link(&r.os_disk.media_link).ok_or_else(|| {
            ApiError::bad_request(format!(
                "The MediaLink {} is not a valid blob URL.",
                r.os_disk.media_link
            ))
        })?;
        if !sub.storage_accounts.contains_key(&sa) {
            return Err(ApiError::bad_request(format!(
                "The storage account '{sa}' was not found."
            )));
        }
        let link = r.os_disk.media_link.to_ascii_lowercase();
        if links.contains(&link) {
            return Err(ApiError::conflict(format!(
                "A lease conflict occurred with the blob {}.",
                r.os_disk.media_link
            )));
        }
        links.push(link);
        match &site {
            Some(s) => {
                for sn in &r.subnet_names {
                    if !s.subnets.iter().any(|(n, _)| n.eq_ignore_ascii_case(sn)) {
                        return Err(ApiError::bad_request(format!(
                            "The subnet {sn} does not exist in virtual network {}.",
                            s.name
                        )));
                    }
                }
            }
            None => {
                if !r.subnet_names.is_empty() {
                    return Err(ApiError::bad_request(
                        "Subnets can only be given for a deployment in a virtual network.",
                    ));
                }
            }
        }
        let mut lines = Vec::new();
        for k in &r.public_keys {
            let cert = h
                .certificates
                .iter()
                .find(|c| c.thumbprint.eq_ignore_ascii_case(&k.fingerprint))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "The certificate with thumbprint {} was not found.",
                        k.fingerprint
                    ))
                })?;
            let line = decode_base64(&cert.data)
                .and_then(|d| openssl::x509::X509::from_der(&d).ok())
                .and_then(|c| tls::ssh_public_key(&c))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "The certificate with thumbprint {} does not hold an RSA public key.",
                        k.fingerprint
                    ))
                })?;
            lines.push((line, k.path.clone()));
        }
        for k in &r.key_pairs {
            if !h
                .certificates
                .iter()
                .any(|c| c.thumbprint.eq_ignore_ascii_case(&k.fingerprint))
            {
                return Err(ApiError::bad_request(format!(
                    "The certificate with thumbprint {} was not found.",
                    k.fingerprint
                )));
            }
        }
        keys.push(lines);
    }
    let inc: u32 = new
        .iter()
        .map(|r| catalog::role_size(&r.role_size).map(|s| s.1).unwrap_or(1))
        .sum();
    let current = sub.cores_in_use();
    if current + inc > emu.quotas.max_cores {
        return Err(ApiError::quota(
            "cores count",
            emu.quotas.max_cores,
            current,
            inc,
        ));
    }
    Ok(keys)
}

/// Duplicate public ports fail the operation like Azure.
pub fn duplicate_port(existing: &[Role], new: &[Role]) -> Option<OpError> {
    let mut seen: Vec<(u16, String)> = Vec::new();
    for r in existing.iter().chain(new.iter()) {
        for e in &r.endpoints {
            let k = (e.port, e.protocol.clone());
            if seen.contains(&k) {
                return Some(ApiError::bad_request(format!("Port {} is already in use by one of the endpoints in this deployment. Ensure that the port numbers are unique across endpoints within a deployment.", e.port)).to_operation_error());
            }
            seen.push(k);
        }
    }
    None
}
