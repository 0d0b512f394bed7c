//! Which deployment or role a path names, with Azure's 404 wording, and the role limit
//! every handler checks.

use crate::classic::errors::ApiError;
use crate::model::{Deployment, HostedService};

/// Azure's limit of roles per deployment.
pub const MAX_ROLES: usize = 50;

/// How the path names a deployment.
#[derive(Clone, Copy)]
pub enum Which<'a> {
    /// `…/deployments/{name}`.
    Name(&'a str),
    /// `…/deploymentslots/{slot}` (only Production exists for VMs).
    Slot(&'a str),
}

pub fn no_deployments() -> ApiError {
    ApiError::not_found("No deployments were found.")
}

pub fn role_not_found(role: &str) -> ApiError {
    ApiError::not_found(format!(
        "Role {role} was not found in the currently deployed service."
    ))
}

/// The hosted service's deployment, if the path names it, with Azure's 404 wording.
pub fn find_deployment<'a>(
    h: &'a HostedService,
    which: Which<'_>,
) -> Result<&'a Deployment, ApiError> {
    let d = h.deployment.as_ref().ok_or_else(no_deployments)?;
    match which {
        Which::Name(name) if !d.name.eq_ignore_ascii_case(name) => Err(ApiError::not_found(
            format!("The deployment name '{name}' does not exist."),
        )),
        Which::Slot(slot) if !slot.eq_ignore_ascii_case("production") => Err(no_deployments()),
        _ => Ok(d),
    }
}
