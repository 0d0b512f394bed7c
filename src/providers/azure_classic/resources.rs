//! Azure resources the provider creates and deletes, one idempotent function per step.
//!
//! Each `ensure_*` checks first and treats "already there (in this subscription)" as done,
//! so a start interrupted at any point can simply be run again. Each `delete_*` treats
//! "not found" as done. Never decides *what* to create: that is the planner's and the
//! provider's job.

use reqwest::Method;
use tracing::{debug, info, warn};

use super::error::AsmError;
use super::ownership::{self, OwnerMark};
use super::transport::AsmClient;
use super::xml::{self, RoleSpec};

pub fn hs_path(cs: &str) -> String {
    format!("services/hostedservices/{cs}")
}
pub fn deployment_path(cs: &str) -> String {
    format!("services/hostedservices/{cs}/deployments/{cs}")
}

/// `Ok(None)` for 404, the body otherwise.
async fn get_opt(c: &AsmClient, path: &str) -> Result<Option<String>, AsmError> {
    match c.get(path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn get_subscription(c: &AsmClient) -> Result<xml::Subscription, AsmError> {
    c.get_xml("").await
}

/// Cores of a role size (List Role Sizes), if Azure knows the size.
pub async fn role_size_cores(c: &AsmClient, size: &str) -> Result<Option<u32>, AsmError> {
    let sizes: xml::RoleSizes = c.get_xml("rolesizes").await?;
    Ok(sizes
        .items
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(size))
        .and_then(|s| s.cores))
}

/// Create the cloud service with the cluster's marks; one that exists already is accepted
/// only when it carries the cluster's owner id. `fresh`: no create request was ever sent
/// for it, so it is created without looking first (one that exists anyway answers 409 and
/// is checked then).
pub async fn ensure_hosted_service(
    c: &AsmClient,
    cs: &str,
    location: &str,
    mark: &OwnerMark,
    fresh: bool,
) -> Result<(), AsmError> {
    let what = format!("cloud service {cs}");
    if !fresh {
        if let Some(h) = ownership::hosted_service(c, cs).await? {
            debug!("hosted service {cs} already exists");
            return ownership::require_ours(&what, h.owner(), &mark.owner_id);
        }
    }
    let body = xml::create_hosted_service(cs, cs, &mark.description, location, &mark.properties);
    match c
        .post_xml(
            "services/hostedservices",
            body,
            &format!("create cloud service {cs}"),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(409) && !e.is_exclusive_access() => {
            match ownership::hosted_service(c, cs).await? {
                Some(h) => ownership::require_ours(&what, h.owner(), &mark.owner_id),
                None => Err(AsmError::Config(format!(
                    "cloud service name `{cs}` is taken by another Azure customer ({}) — choose another `base_name`",
                    e.azure_message().unwrap_or("conflict")
                ))),
            }
        }
        Err(e) => Err(e),
    }
}

/// Add the SSH certificate to the cloud service; `fresh`: the service was just created by
/// this run, so it cannot hold it yet.
pub async fn ensure_service_certificate(
    c: &AsmClient,
    cs: &str,
    thumbprint: &str,
    data_b64: &str,
    fresh: bool,
) -> Result<(), AsmError> {
    let path = format!("{}/certificates/sha1-{thumbprint}", hs_path(cs));
    if !fresh && get_opt(c, &path).await?.is_some() {
        return Ok(());
    }
    let body = xml::certificate_file(data_b64, "cer", None);
    match c
        .post_xml(
            &format!("{}/certificates", hs_path(cs)),
            body,
            &format!("add SSH certificate {thumbprint} to cloud service {cs}"),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(409) && !e.is_exclusive_access() => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn storage_account_exists(c: &AsmClient, sa: &str) -> Result<bool, AsmError> {
    Ok(get_opt(c, &format!("services/storageservices/{sa}"))
        .await?
        .is_some())
}

/// Create the storage account with the cluster's marks; one that exists already is
/// accepted only when it carries the cluster's owner id. `fresh`: as for
/// [`ensure_hosted_service`].
pub async fn ensure_storage_account(
    c: &AsmClient,
    sa: &str,
    location: &str,
    mark: &OwnerMark,
    fresh: bool,
) -> Result<(), AsmError> {
    let what = format!("storage account {sa}");
    if !fresh {
        if let Some(s) = ownership::storage_account(c, sa).await? {
            return ownership::require_ours(&what, s.owner(), &mark.owner_id);
        }
    }
    let body = xml::create_storage_account(
        sa,
        &mark.description,
        sa,
        location,
        &mark.properties,
        "Standard_LRS",
    );
    match c
        .post_xml(
            "services/storageservices",
            body,
            &format!("create storage account {sa}"),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(409) && !e.is_exclusive_access() => {
            match ownership::storage_account(c, sa).await? {
                Some(s) => ownership::require_ours(&what, s.owner(), &mark.owner_id),
                None => Err(AsmError::Config(format!(
                    "storage account name `{sa}` is taken by another Azure customer ({}) — choose another `base_name`",
                    e.azure_message().unwrap_or("conflict")
                ))),
            }
        }
        Err(e) => Err(e),
    }
}

/// The subscription's network configuration document (`None`: never set).
pub async fn get_network_config(c: &AsmClient) -> Result<Option<String>, AsmError> {
    get_opt(c, "services/networking/media").await
}

async fn put_network_config(
    c: &AsmClient,
    doc: String,
    what: &str,
    accepted: impl FnOnce(),
) -> Result<(), AsmError> {
    c.mutate_then(
        Method::PUT,
        "services/networking/media",
        Some(("text/plain", doc)),
        what,
        accepted,
    )
    .await
    .map(|_| ())
}

fn xml_err(what: &str, detail: String) -> AsmError {
    AsmError::BadResponse {
        what: what.to_string(),
        detail,
    }
}

/// Add our site to the subscription's network configuration, keeping every other site.
/// `accepted` is called once Azure has answered the change (or found nothing to change).
pub async fn ensure_vnet(
    c: &AsmClient,
    name: &str,
    location: &str,
    accepted: impl FnOnce(),
) -> Result<(), AsmError> {
    let what = format!("add virtual network {name}");
    let doc = get_network_config(c)
        .await?
        .unwrap_or_else(xml::empty_network_config);
    let site = xml::vnet_site(
        name,
        location,
        "10.0.0.0/8",
        super::layout::SUBNET_NAME,
        "10.0.0.0/11",
    );
    match xml::netconfig_add_site(&doc, name, &site).map_err(|d| xml_err(&what, d))? {
        None => {
            accepted();
            Ok(())
        }
        Some(new_doc) => put_network_config(c, new_doc, &what, accepted).await,
    }
}

/// Remove our site; other sites are kept byte for byte.
pub async fn remove_vnet(c: &AsmClient, name: &str) -> Result<(), AsmError> {
    let what = format!("remove virtual network {name}");
    let Some(doc) = get_network_config(c).await? else {
        return Ok(());
    };
    match xml::netconfig_remove_site(&doc, name).map_err(|d| xml_err(&what, d))? {
        None => Ok(()),
        Some(new_doc) => put_network_config(c, new_doc, &what, || {}).await,
    }
}

pub async fn list_vnet_names(c: &AsmClient) -> Result<Vec<String>, AsmError> {
    match get_network_config(c).await? {
        None => Ok(Vec::new()),
        Some(doc) => {
            xml::netconfig_site_names(&doc).map_err(|d| xml_err("list virtual networks", d))
        }
    }
}

pub async fn get_deployment(c: &AsmClient, cs: &str) -> Result<Option<xml::Deployment>, AsmError> {
    match get_opt(c, &deployment_path(cs)).await? {
        None => Ok(None),
        Some(body) => xml::parse(&body)
            .map(Some)
            .map_err(|d| xml_err(&format!("get deployment {cs}"), d)),
    }
}

pub async fn create_deployment(
    c: &AsmClient,
    cs: &str,
    label: &str,
    role: &RoleSpec,
    vnet: Option<&str>,
) -> Result<(), AsmError> {
    let body = xml::create_vm_deployment(cs, label, role, vnet);
    c.post_xml(
        &format!("{}/deployments", hs_path(cs)),
        body,
        &format!("create deployment {cs} with VM {}", role.role_name),
    )
    .await
    .map(|_| ())
}

pub async fn add_role(c: &AsmClient, cs: &str, role: &RoleSpec) -> Result<(), AsmError> {
    let body = xml::add_role(role);
    c.post_xml(
        &format!("{}/roles", deployment_path(cs)),
        body,
        &format!("add VM {} to {cs}", role.role_name),
    )
    .await
    .map(|_| ())
}

/// Delete one role with its disk and VHD. Not found = done.
pub async fn delete_role(c: &AsmClient, cs: &str, role: &str) -> Result<(), AsmError> {
    match c
        .delete(
            &format!("{}/roles/{role}?comp=media", deployment_path(cs)),
            &format!("delete VM {role} of {cs}"),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Delete the deployment with every disk and VHD. Not found = done.
pub async fn delete_deployment(c: &AsmClient, cs: &str) -> Result<(), AsmError> {
    delete_deployment_if_any(c, cs).await.map(|_| ())
}

/// [`delete_deployment`], saying whether there was one to delete.
pub async fn delete_deployment_if_any(c: &AsmClient, cs: &str) -> Result<bool, AsmError> {
    match c
        .delete(
            &format!("{}?comp=media", deployment_path(cs)),
            &format!("delete deployment {cs}"),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn delete_hosted_service(c: &AsmClient, cs: &str) -> Result<(), AsmError> {
    match c
        .delete(&hs_path(cs), &format!("delete cloud service {cs}"))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn list_disks(c: &AsmClient) -> Result<Vec<xml::Disk>, AsmError> {
    Ok(c.get_xml::<xml::Disks>("services/disks").await?.items)
}

/// Delete a disk and its VHD; waits out leases with capped back-off.
pub async fn delete_disk(c: &AsmClient, disk: &str) -> Result<(), AsmError> {
    retry_busy(c, &format!("delete disk {disk}"), || async {
        c.delete(
            &format!("services/disks/{disk}?comp=media"),
            &format!("delete disk {disk}"),
        )
        .await
        .map(|_| ())
    })
    .await
}

pub async fn delete_storage_account(c: &AsmClient, sa: &str) -> Result<(), AsmError> {
    retry_busy(c, &format!("delete storage account {sa}"), || async {
        c.delete(
            &format!("services/storageservices/{sa}"),
            &format!("delete storage account {sa}"),
        )
        .await
        .map(|_| ())
    })
    .await
}

/// Retry while Azure says a lease or lock is still held; not found = done.
async fn retry_busy<F, Fut>(c: &AsmClient, what: &str, f: F) -> Result<(), AsmError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), AsmError>>,
{
    let started = std::time::Instant::now();
    let mut wait = c.opts.poll_initial;
    loop {
        match f().await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) if e.is_lease_busy() && started.elapsed() < c.opts.operation_timeout => {
                debug!(
                    "{what}: still busy ({e}); retrying in {} ms",
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
                wait = wait.mul_f64(1.5).min(c.opts.poll_max);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Tear down one cloud service completely: roles and deployment (with media), then the service.
pub async fn destroy_cloud_service(c: &AsmClient, cs: &str) -> Result<(), AsmError> {
    if get_deployment(c, cs).await?.is_some() {
        delete_deployment(c, cs).await?;
    }
    match delete_hosted_service(c, cs).await {
        Ok(()) => Ok(()),
        Err(e) => {
            warn!("cloud service {cs}: {e}");
            Err(e)
        }
    }
}

/// Delete the disks (with VHDs) that belong to `base_name` and are still registered.
pub async fn delete_leftover_disks(
    c: &AsmClient,
    matches: impl Fn(&xml::Disk) -> bool,
) -> Result<usize, AsmError> {
    let disks = list_disks(c).await?;
    let mut n = 0;
    for d in disks.iter().filter(|d| matches(d)) {
        info!("deleting leftover disk {}", d.name);
        delete_disk(c, &d.name).await?;
        n += 1;
    }
    Ok(n)
}
