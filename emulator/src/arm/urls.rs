//! Ids and URLs of the ARM face: resource ids in ARM's canonical casing with names as
//! created, the absolute operation URLs clients follow verbatim (`Azure-AsyncOperation`,
//! `Location`, per resource provider as recorded), parsing ids that requests reference, and
//! the `api-version` rule. Pure functions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::errors::ArmError;
use super::request::ArmRequest;
use crate::model::arm::ResourceKind;

pub const RESOURCES: &str = "Microsoft.Resources";

pub fn group_id(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

pub fn resource_id(sub: &str, rg: &str, kind: ResourceKind, name: &str) -> String {
    format!(
        "{}/providers/{}/{}/{name}",
        group_id(sub, rg),
        kind.namespace(),
        kind.type_name()
    )
}

/// `Azure-AsyncOperation` of an operation of `namespace` in `location`.
pub fn operation_url(ctx: &ArmRequest, namespace: &str, location: &str, op: &str) -> String {
    let base = format!(
        "{}/providers/{namespace}/locations/{location}/operations/{op}",
        ctx.sub_path()
    );
    if namespace.eq_ignore_ascii_case("Microsoft.Compute") {
        ctx.url(&format!(
            "{base}?p={}&api-version={}",
            crate::ids::stable_guid(&ctx.subscription),
            ctx.api_version
        ))
    } else {
        ctx.url(&format!("{base}?api-version={}", ctx.api_version))
    }
}

/// `Location` of an operation: Network `operationResults/{id}` (204 when done), Compute the
/// operation URL with `monitor=true` (200 when done).
pub fn result_url(ctx: &ArmRequest, namespace: &str, location: &str, op: &str) -> String {
    if namespace.eq_ignore_ascii_case("Microsoft.Compute") {
        ctx.url(&format!(
            "{}/providers/{namespace}/locations/{location}/operations/{op}?p={}&monitor=true&api-version={}",
            ctx.sub_path(),
            crate::ids::stable_guid(&ctx.subscription),
            ctx.api_version
        ))
    } else {
        ctx.url(&format!(
            "{}/providers/{namespace}/locations/{location}/operationResults/{op}?api-version={}",
            ctx.sub_path(),
            ctx.api_version
        ))
    }
}

/// The opaque `operationresults` token of a group delete (base64url JSON, as Azure's).
pub fn group_job(rg: &str, location: &str, op: &str) -> String {
    let job = serde_json::json!({
        "jobId": format!("RESOURCEGROUPDELETIONJOB-{}-{}", rg.to_ascii_uppercase(), location.to_ascii_uppercase()),
        "jobLocation": location,
        "operationId": op,
    });
    URL_SAFE_NO_PAD.encode(job.to_string())
}

/// The operation id inside a group delete token.
pub fn operation_of_job(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["operationId"].as_str().map(str::to_string)
}

pub fn group_delete_url(ctx: &ArmRequest, rg: &str, location: &str, op: &str) -> String {
    ctx.url(&format!(
        "{}/operationresults/{}?api-version={}",
        ctx.sub_path(),
        group_job(rg, location, op),
        ctx.api_version
    ))
}

/// A resource id a request references, taken apart: (subscription, group, kind, name,
/// child segments after the name). Case-insensitive; `None` if it is not one of ours.
pub fn parse_id(id: &str) -> Option<(String, String, ResourceKind, String, Vec<String>)> {
    let s: Vec<&str> = id.trim_matches('/').split('/').collect();
    if s.len() < 8
        || !s[0].eq_ignore_ascii_case("subscriptions")
        || !s[2].eq_ignore_ascii_case("resourceGroups")
        || !s[4].eq_ignore_ascii_case("providers")
    {
        return None;
    }
    let kind = ResourceKind::from_path(s[5], s[6])?;
    Some((
        s[1].to_string(),
        s[3].to_string(),
        kind,
        s[7].to_string(),
        s[8..].iter().map(|x| x.to_string()).collect(),
    ))
}

/// The resource provider a request's path belongs to.
fn namespace_of(ctx: &ArmRequest) -> String {
    let l = &ctx.lower;
    match l.iter().position(|s| s == "providers") {
        Some(i) => ctx.segments.get(i + 1).cloned().unwrap_or_default(),
        None => RESOURCES.into(),
    }
}

fn well_formed(v: &str) -> Option<chrono::NaiveDate> {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    if date.len() != 10 {
        return None;
    }
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// `api-version` must be a published date form (`YYYY-MM-DD[-preview]`) from 2015 up to
/// today; the emulator serves every such version of every provider the same way.
pub fn check_api_version(v: &str, ctx: &ArmRequest) -> Result<(), ArmError> {
    let ns = namespace_of(ctx);
    let Some(date) = well_formed(v) else {
        return Err(ArmError::new(
            400,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                known(&ns)
            ),
        ));
    };
    let today = chrono::Utc::now().date_naive();
    let oldest = chrono::NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or(today);
    if date > today || date < oldest {
        return Err(ArmError::new(
            400,
            "NoRegisteredProviderFound",
            format!("No registered resource provider found for location 'global' and API version '{v}' for type '{}'. The supported api-versions are '{}'.", ns, known(&ns)),
        ));
    }
    Ok(())
}

/// api-versions seen in recorded traffic and the specification examples, per provider.
fn known(ns: &str) -> &'static str {
    if ns.eq_ignore_ascii_case("Microsoft.Network") {
        "2022-05-01, 2022-09-01, 2023-09-01, 2024-03-01, 2024-05-01"
    } else if ns.eq_ignore_ascii_case("Microsoft.Compute") {
        "2022-08-01, 2024-03-01, 2024-07-01, 2024-11-01"
    } else {
        "2019-10-01, 2021-04-01, 2024-03-01"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_jobs_round_trip() {
        let id = resource_id("s", "RG", ResourceKind::NetworkInterface, "n1");
        assert_eq!(
            id,
            "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/networkInterfaces/n1"
        );
        let (sub, rg, kind, name, rest) = parse_id(&format!(
            "{}/ipConfigurations/ipconfig1",
            id.to_ascii_lowercase()
        ))
        .unwrap();
        assert_eq!(
            (sub.as_str(), rg.as_str(), name.as_str()),
            ("s", "rg", "n1")
        );
        assert_eq!(kind, ResourceKind::NetworkInterface);
        assert_eq!(rest, ["ipConfigurations", "ipconfig1"]);
        assert_eq!(
            operation_of_job(&group_job("rg", "eastus", "op1")).as_deref(),
            Some("op1")
        );
        assert!(well_formed("2024-07-01").is_some() && well_formed("2024-07-01-preview").is_some());
        assert!(well_formed("2024-7-1").is_none() && well_formed("latest").is_none());
    }
}
