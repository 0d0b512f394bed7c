//! The Azure Resource Manager face as a client sees it (reference azure-arm-api.md §9), its
//! front: the token endpoints and their AADSTS errors, bearer checks, subscriptions,
//! `api-version`, and resource groups (synchronous PUT, HEAD, paging, delete with `Location`
//! only). The resources inside a group are in `arm_resources.rs`.

mod arm_common;

use arm_common::*;
use base64::Engine;
use serde_json::{json, Value};

#[tokio::test]
async fn the_token_endpoint_answers_as_azure_ad_does() {
    let arm = Arm::start(0.01, 100).await;
    // v2: numbers; the token is a JWT for ARM's audience
    let claims: Value = {
        let part = arm.token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["aud"], "https://management.azure.com/");
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims["appid"], CLIENT);
    fn ok(scope: &str) -> Vec<(&'static str, &str)> {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", scope),
        ]
    }
    let own = format!("{}/.default", arm.url);
    let t = arm.token_request(TENANT, &ok(&own), true).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["token_type"], "Bearer");
    assert_eq!(t.body["expires_in"], 3599);
    assert!(t.body["ext_expires_in"].is_number());
    assert_eq!(t.header("cache-control"), Some("no-store, no-cache"));
    // v1: `resource`, numbers as strings
    let v1 = arm
        .token_request(
            TENANT,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("resource", "https://management.core.windows.net/"),
            ],
            false,
        )
        .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(v1.body["expires_in"], "3599");
    assert_eq!(v1.body["resource"], "https://management.core.windows.net/");
    // the token works on ARM
    assert_eq!(
        arm.call_as(
            "GET",
            &format!("{}/resourcegroups?api-version=2021-04-01", arm.sub()),
            None,
            v1.body["access_token"].as_str()
        )
        .await
        .status,
        200
    );
    // AADSTS errors: status, `error`, the code first in the description and in error_codes
    /// (tenant, form, status, `error`, AADSTS code)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            "contoso.example",
            ok("https://management.azure.com/.default"),
            400,
            "invalid_tenant",
            90002,
        ),
        (
            TENANT,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", SECRET),
                ("scope", "https://management.azure.com/.default"),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            TENANT,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", "not-it-7"),
                ("scope", "https://management.azure.com/.default"),
            ],
            401,
            "invalid_client",
            7000215,
        ),
        (
            TENANT,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("scope", "https://management.azure.com/.default"),
            ],
            401,
            "invalid_client",
            7000218,
        ),
        (
            TENANT,
            ok("https://graph.example/.default"),
            400,
            "invalid_scope",
            1002012,
        ),
        (
            TENANT,
            vec![("client_id", CLIENT), ("client_secret", SECRET)],
            400,
            "invalid_request",
            900144,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let e = arm.token_request(tenant, &form, true).await;
        assert_eq!(
            (e.status, e.body["error"].as_str()),
            (status, Some(error)),
            "{}",
            e.text
        );
        assert_eq!(e.body["error_codes"], json!([code]));
        let d = e.body["error_description"].as_str().unwrap();
        assert!(
            d.starts_with(&format!("AADSTS{code}: ")) && d.contains("\r\nTrace ID: "),
            "{d}"
        );
        assert!(
            !e.text.contains("not-it-7") && !e.text.contains(SECRET),
            "a secret echoed: {}",
            e.text
        );
    }
    // OpenID metadata and instance discovery, on the emulator's own host
    let m = arm
        .call_as(
            "GET",
            &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
            None,
            None,
        )
        .await;
    assert_eq!(m.status, 200);
    assert_eq!(
        m.body["token_endpoint"],
        format!("{}/{TENANT}/oauth2/v2.0/token", arm.url)
    );
    assert_eq!(m.body["issuer"], format!("{}/{TENANT}/v2.0", arm.url));
    let d = arm.call_as("GET", &format!("/common/discovery/instance?api-version=1.1&authorization_endpoint={}/{TENANT}/oauth2/v2.0/authorize", arm.url), None, None).await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.body["tenant_discovery_endpoint"],
        format!("{}/{TENANT}/v2.0/.well-known/openid-configuration", arm.url)
    );
    assert!(d.body["metadata"][0]["aliases"].is_array());
}

#[tokio::test]
async fn resource_manager_checks_tokens_subscriptions_and_api_versions() {
    let arm = Arm::start(0.01, 100).await;
    let list = format!("{}/resourcegroups?api-version=2021-04-01", arm.sub());
    let a = arm.call_as("GET", &list, None, None).await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (401, Some("AuthenticationFailed")),
        "{}",
        a.text
    );
    assert!(a
        .header("www-authenticate")
        .is_some_and(|w| w.starts_with("Bearer ")));
    let a = arm.call_as("GET", &list, None, Some("not.a.token")).await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    let ok = arm.call("GET", &list, None).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.text, r#"{"value":[]}"#);
    assert_eq!(
        ok.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    for h in [
        "x-ms-request-id",
        "x-ms-correlation-request-id",
        "x-ms-routing-request-id",
        "x-ms-ratelimit-remaining-subscription-reads",
    ] {
        assert!(ok.header(h).is_some(), "no {h}");
    }
    let a = arm.call("GET", "/subscriptions/99999999-0000-0000-0000-000000000000/resourcegroups?api-version=2021-04-01", None).await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (404, Some("SubscriptionNotFound"))
    );
    let a = arm
        .call("GET", &format!("{}/resourcegroups", arm.sub()), None)
        .await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    let a = arm
        .call(
            "GET",
            &format!("{}/resourcegroups?api-version=latest", arm.sub()),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter"))
    );
    // Paths are case-insensitive.
    assert_eq!(
        arm.call(
            "GET",
            &format!("/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS?api-version=2021-04-01"),
            None
        )
        .await
        .status,
        200
    );
    // A revoked token is refused; a new one works.
    arm.emu.revoke_arm_tokens().unwrap();
    assert_eq!(arm.call("GET", &list, None).await.status, 401);
}

#[tokio::test]
async fn resource_groups_are_synchronous_and_go_with_everything_in_them() {
    let arm = Arm::start(0.01, 100).await;
    let rg = |n: &str| format!("{}?api-version=2021-04-01", arm.rg(n));
    let a = arm
        .call(
            "PUT",
            &rg("Group1"),
            Some(json!({"location": "East US", "tags": {"k": "v"}})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        a.body["id"],
        format!("/subscriptions/{SUB}/resourceGroups/Group1")
    );
    assert_eq!(a.body["location"], "eastus");
    assert_eq!(a.body["properties"]["provisioningState"], "Succeeded");
    assert!(a.header("azure-asyncoperation").is_none());
    // A PUT of an existing group replaces it, tags included.
    let again = json!({"location": "eastus", "tags": {"k": "v"}});
    assert_eq!(
        arm.call("PUT", &rg("group1"), Some(again)).await.status,
        200
    );
    let a = arm
        .call("PUT", &rg("group1"), Some(json!({"location": "westus"})))
        .await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (409, Some("InvalidResourceGroupLocation"))
    );
    assert_eq!(arm.call("HEAD", &rg("group1"), None).await.status, 204);
    let h = arm.call("HEAD", &rg("nothere"), None).await;
    assert_eq!((h.status, h.text.as_str()), (404, ""));
    let g = arm.call("GET", &rg("nothere"), None).await;
    assert_eq!(g.status, 404);
    assert_eq!(
        g.text,
        r#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'nothere' could not be found."}}"#
    );
    assert_eq!(g.header("x-ms-failure-cause"), Some("gateway"));
    // tag filter, $top paging with an absolute nextLink on the serving host
    arm.call("PUT", &rg("group2"), Some(json!({"location": "eastus"})))
        .await;
    let f = arm.call("GET", &format!("{}/resourcegroups?$filter=tagName%20eq%20'k'%20and%20tagValue%20eq%20'v'&api-version=2021-04-01", arm.sub()), None).await;
    assert_eq!(
        f.body["value"].as_array().map(Vec::len),
        Some(1),
        "{}",
        f.text
    );
    let p = arm
        .call(
            "GET",
            &format!(
                "{}/resourcegroups?%24top=1&api-version=2021-04-01",
                arm.sub()
            ),
            None,
        )
        .await;
    assert_eq!(p.body["value"].as_array().map(Vec::len), Some(1));
    let next = p.body["nextLink"].as_str().unwrap();
    assert!(next.starts_with(&arm.url), "{next}");
    let p2 = arm.call("GET", next, None).await;
    assert_eq!(p2.body["value"].as_array().map(Vec::len), Some(1));
    assert!(p2.body.get("nextLink").is_none());
    // A group with a network goes as one: 202 + Location only, Deleting meanwhile
    arm.network("group1").await;
    let d = arm
        .call(
            "DELETE",
            &format!(
                "{}?forceDeletionTypes=Microsoft.Compute/virtualMachines&api-version=2021-04-01",
                arm.rg("group1")
            ),
            None,
        )
        .await;
    assert_eq!((d.status, d.text.as_str()), (202, ""));
    assert!(d.header("azure-asyncoperation").is_none());
    let loc = d.header("location").unwrap().to_string();
    assert!(
        loc.starts_with(&format!(
            "{}/subscriptions/{SUB}/operationresults/",
            arm.url
        )),
        "{loc}"
    );
    retry_after(&d);
    let g = arm.call("GET", &rg("group1"), None).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Deleting");
    let put = arm
        .call("PUT", &rg("group1"), Some(json!({"location": "eastus"})))
        .await;
    assert_eq!(
        (put.status, put.body["error"]["code"].as_str()),
        (409, Some("ResourceGroupBeingDeleted"))
    );
    let first = arm.call("GET", &loc, None).await;
    assert_eq!(first.status, 202);
    retry_after(&first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let p = arm.call("GET", &loc, None).await;
        if p.status == 200 {
            break;
        }
        assert_eq!(p.status, 202, "{}", p.text);
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(arm.call("HEAD", &rg("group1"), None).await.status, 404);
    let inv = arm.emu.inventory().await;
    let left: Vec<&str> = inv["subscriptions"][SUB]["resource_groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(left, ["group2"]);
    assert_eq!(arm.call("DELETE", &rg("nothere"), None).await.status, 404);
}
