//! A small stateful ARM + identity platform, strict where the provider could go wrong:
//! the token form is checked (AADSTS errors as Azure words them), every ARM request needs a
//! valid bearer token and an `api-version`, references must exist (a NIC needs its subnet,
//! a VM its NIC), quota, sizes, images and locations are enforced at PUT time as ARM does,
//! network writes and deletes are long-running operations, resource-group deletes answer
//! 202 + `Location` and cascade. Faults: throttling (429 + Retry-After), token revocation,
//! a synchronous VM PUT error, a failed VM provisioning. Shapes follow the golden examples.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Handler, Request, Response, Server};

pub const SUB: &str = "00000000-0000-4000-8000-00000000a4a4";
pub const TENANT: &str = "11111111-0000-4000-8000-00000000a4a4";
pub const CLIENT: &str = "22222222-0000-4000-8000-00000000a4a4";
pub const SECRET: &str = "fake-secret-value";

/// Knobs a test turns.
#[derive(Clone, Debug)]
pub struct Config {
    pub locations: Vec<String>,
    /// (size, cores)
    pub sizes: Vec<(String, u32)>,
    /// (publisher, offer, sku), case-insensitive.
    pub images: Vec<(String, String, String)>,
    pub core_limit: u32,
    pub token_lifetime: u64,
    /// Answer the next N ARM requests with 429.
    pub throttle_next: u32,
    /// VM name → (status, code, message) answered to its PUT.
    pub fail_vm_put: BTreeMap<String, (u16, String, String)>,
    /// VMs whose provisioning ends `Failed`.
    pub fail_provisioning: BTreeSet<String>,
    /// Time from a VM PUT to `Succeeded`.
    pub vm_boot: Duration,
    /// Polls a group delete stays 202.
    pub group_delete_polls: u32,
    /// How long every PUT takes to answer (to reach a kill point).
    pub put_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            locations: vec!["eastus".into()],
            sizes: vec![("Standard_B1s".into(), 1), ("Standard_B2s".into(), 2)],
            images: vec![(
                "canonical".into(),
                "0001-com-ubuntu-server-jammy".into(),
                "22_04-lts-gen2".into(),
            )],
            core_limit: 100,
            token_lifetime: 3599,
            throttle_next: 0,
            fail_vm_put: BTreeMap::new(),
            fail_provisioning: BTreeSet::new(),
            vm_boot: Duration::from_millis(30),
            group_delete_polls: 1,
            put_delay: Duration::ZERO,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Res {
    pub(super) id: String,
    pub(super) rtype: String,
    pub(super) name: String,
    pub(super) rg: String,
    pub(super) body: Value,
    /// VMs: when provisioning is over.
    pub(super) ready_at: Option<Instant>,
    pub(super) cores: u32,
}

pub(super) enum Done {
    Succeed(String),
    Remove(String),
    RemoveGroup(String),
}

pub(super) struct Op {
    pub(super) polls_left: u32,
    pub(super) done: Option<Done>,
    pub(super) compute: bool,
}

#[derive(Default)]
pub struct State {
    pub(super) tokens: BTreeSet<String>,
    pub(super) issued: u32,
    /// lower-case name → (name, location, tags, deleting)
    pub(super) groups: BTreeMap<String, (String, String, Value, bool)>,
    /// lower-case id → resource
    pub(super) res: BTreeMap<String, Res>,
    pub(super) ops: BTreeMap<String, Op>,
    pub(super) next_op: u32,
    pub(super) next_private: u32,
    pub(super) next_public: u32,
    pub token_requests: u32,
    pub vm_creates: u32,
}

pub struct FakeArm {
    pub cfg: Mutex<Config>,
    pub state: Mutex<State>,
}

impl FakeArm {
    pub fn start(cfg: Config) -> (Arc<FakeArm>, Server) {
        let fake = Arc::new(FakeArm {
            cfg: Mutex::new(cfg),
            state: Mutex::new(State::default()),
        });
        let f = fake.clone();
        let handler: Handler = Arc::new(move |req: &Request, base: &str| f.handle(req, base));
        (fake, Server::start(handler))
    }

    /// Every resource group and resource left, as `type name`.
    pub fn leftovers(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let mut out: Vec<String> = s
            .groups
            .values()
            .map(|g| format!("resourceGroup {}", g.0))
            .collect();
        out.extend(s.res.values().map(|r| format!("{} {}", r.rtype, r.name)));
        out
    }

    /// Names of the groups that exist.
    pub fn groups(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.groups.values().map(|g| g.0.clone()).collect()
    }

    /// Forget every issued token (as if they expired).
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    pub fn token_requests(&self) -> u32 {
        self.state.lock().unwrap().token_requests
    }

    pub fn vm_creates(&self) -> u32 {
        self.state.lock().unwrap().vm_creates
    }

    fn handle(&self, req: &Request, _base: &str) -> Response {
        let lower = req.path().to_ascii_lowercase();
        if req.method == "POST" && lower.ends_with("/oauth2/v2.0/token") {
            return self.token(req, &lower);
        }
        let bearer = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string();
        if !self.state.lock().unwrap().tokens.contains(&bearer) {
            return Response::error(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time '1/18/2023 5:10:42 PM' is earlier than current UTC time '1/18/2023 5:24:09 PM'.",
            );
        }
        if req.query("api-version").is_none() {
            return Response::error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        }
        {
            let mut c = self.cfg.lock().unwrap();
            if c.throttle_next > 0 {
                c.throttle_next -= 1;
                return Response::error(
                    429,
                    "SubscriptionRequestsThrottled",
                    &format!("Number of requests for subscription '{SUB}' exceeded the backend storage limit. Please try again after '1' seconds."),
                )
                .with("Retry-After", "1");
            }
        }
        if req.method == "PUT" {
            let d = self.cfg.lock().unwrap().put_delay;
            std::thread::sleep(d);
        }
        let seg: Vec<&str> = req.path().trim_matches('/').split('/').collect();
        let low: Vec<String> = seg.iter().map(|s| s.to_ascii_lowercase()).collect();
        if low.len() < 2 || low[0] != "subscriptions" || low[1] != SUB {
            return Response::error(
                404,
                "SubscriptionNotFound",
                &format!(
                    "The subscription '{}' could not be found.",
                    seg.get(1).unwrap_or(&"")
                ),
            );
        }
        let l: Vec<&str> = low.iter().map(String::as_str).collect();
        match (req.method.as_str(), &l[2..]) {
            ("GET", ["providers", "microsoft.compute", "locations", loc, "vmsizes"]) => {
                self.sizes(loc)
            }
            ("GET", ["providers", "microsoft.compute", "locations", loc, "usages"]) => {
                self.usages(loc)
            }
            (
                "GET",
                ["providers", "microsoft.compute", "locations", _, "publishers", p, "artifacttypes", "vmimage", "offers", o, "skus", k, "versions"],
            ) => self.versions(p, o, k),
            ("GET", ["providers", _, "locations", _, "operations", op])
            | ("GET", ["operationresults", op]) => self.poll(op, false),
            ("GET", ["providers", _, "locations", _, "operationresults", op]) => {
                self.poll(op, true)
            }
            ("GET", ["resourcegroups"]) => self.list_groups(),
            (m, ["resourcegroups", _]) => self.group(m, seg[3], req),
            (m, ["resourcegroups", rg, "providers", ns, ty, rest @ ..]) => {
                self.resource(m, rg, ns, ty, &seg[7..7 + rest.len()], req)
            }
            _ => Response::error(404, "NotFound", &format!("no route for {}", req.target)),
        }
    }

    fn token(&self, req: &Request, lower: &str) -> Response {
        let mut s = self.state.lock().unwrap();
        s.token_requests += 1;
        let form: BTreeMap<String, String> = form_urlencoded::parse(req.body.as_bytes())
            .into_owned()
            .collect();
        let aad = |status: u16, error: &str, code: u64, text: String| {
            Response::json(
                status,
                json!({
                    "error": error,
                    "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nCorrelation ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: 2023-05-06 06:03:00Z"),
                    "error_codes": [code],
                    "timestamp": "2023-05-06 06:03:00Z",
                    "trace_id": "00000000-0000-0000-0000-000000000000",
                    "correlation_id": "00000000-0000-0000-0000-000000000000",
                    "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
                }),
            )
        };
        if !lower.starts_with(&format!("/{TENANT}/")) {
            return aad(400, "invalid_tenant", 90002, "Tenant 'x' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.".into());
        }
        if form.get("grant_type").map(String::as_str) != Some("client_credentials")
            || form.get("scope").is_none_or(|s| !s.ends_with("/.default"))
        {
            return aad(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.".into(),
            );
        }
        if form.get("client_id").map(String::as_str) != Some(CLIENT) {
            return aad(
                400,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{}' was not found in the directory '{TENANT}'.",
                    form.get("client_id").cloned().unwrap_or_default()
                ),
            );
        }
        if form.get("client_secret").map(String::as_str) != Some(SECRET) {
            return aad(401, "invalid_client", 7000215, format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT}'."));
        }
        s.issued += 1;
        let token = format!("token-{}", s.issued);
        s.tokens.insert(token.clone());
        let life = self.cfg.lock().unwrap().token_lifetime;
        Response::json(
            200,
            json!({"token_type":"Bearer","expires_in":life,"ext_expires_in":life,"access_token":token}),
        )
    }

    fn sizes(&self, loc: &str) -> Response {
        let c = self.cfg.lock().unwrap();
        if !c.locations.iter().any(|l| l == loc) {
            return Response::error(404, "NoRegisteredProviderFound", &format!("No registered resource provider found for location '{loc}' and API version '2024-07-01' for type 'locations/vmSizes'. The supported api-versions are '2024-07-01'. The supported locations are '{}'.", c.locations.join(",")));
        }
        let v: Vec<Value> = c
            .sizes
            .iter()
            .map(|(n, cores)| json!({"name": n, "numberOfCores": cores, "osDiskSizeInMB": 1047552, "resourceDiskSizeInMB": 4096, "memoryInMB": 2048 * cores, "maxDataDiskCount": 4}))
            .collect();
        Response::json(200, json!({ "value": v }))
    }

    fn usages(&self, _loc: &str) -> Response {
        let used: u32 = self
            .state
            .lock()
            .unwrap()
            .res
            .values()
            .map(|r| r.cores)
            .sum();
        let limit = self.cfg.lock().unwrap().core_limit;
        Response::json(
            200,
            json!({"value": [{"unit":"Count","currentValue": used,"limit": limit,"name":{"value":"cores","localizedValue":"Total Regional vCPUs"}}]}),
        )
    }

    fn versions(&self, p: &str, o: &str, k: &str) -> Response {
        let known = self.cfg.lock().unwrap().images.iter().any(|(a, b, c)| {
            a.eq_ignore_ascii_case(p) && b.eq_ignore_ascii_case(o) && c.eq_ignore_ascii_case(k)
        });
        if known {
            Response::json(
                200,
                json!([{"location":"eastus","name":"22.04.202401010","id":"/x"}]),
            )
        } else {
            Response::error(404, "NotFound", "Artifact: VMImage was not found.")
        }
    }

    pub(super) fn new_op(&self, s: &mut State, done: Done, compute: bool) -> String {
        s.next_op += 1;
        let id = format!("op-{}", s.next_op);
        s.ops.insert(
            id.clone(),
            Op {
                polls_left: 1,
                done: Some(done),
                compute,
            },
        );
        id
    }

    fn poll(&self, op: &str, result: bool) -> Response {
        let polls = self.cfg.lock().unwrap().group_delete_polls;
        let mut s = self.state.lock().unwrap();
        let Some(o) = s.ops.get_mut(op) else {
            return Response::error(404, "NotFound", "unknown operation");
        };
        let group_op = matches!(o.done, Some(Done::RemoveGroup(_)));
        if o.polls_left > 0 && (!group_op || o.polls_left <= polls) {
            o.polls_left -= 1;
            if group_op {
                return Response::empty(202)
                    .with("Location", format!("{{BASE}}/subscriptions/{SUB}/operationresults/{op}?api-version=2021-04-01"))
                    .with("Retry-After", "1");
            }
            return Response::json(200, json!({"status":"InProgress"})).with("Retry-After", "1");
        }
        let compute = o.compute;
        let done = o.done.take();
        match done {
            Some(Done::Succeed(id)) => {
                if let Some(r) = s.res.get_mut(&id) {
                    r.body["properties"]["provisioningState"] = json!("Succeeded");
                }
            }
            Some(Done::Remove(id)) => self.remove(&mut s, &id),
            Some(Done::RemoveGroup(g)) => {
                let ids: Vec<String> = s
                    .res
                    .values()
                    .filter(|r| r.rg == g)
                    .map(|r| r.id.to_ascii_lowercase())
                    .collect();
                for id in ids {
                    s.res.remove(&id);
                }
                s.groups.remove(&g);
            }
            None => {}
        }
        if group_op {
            return Response::empty(200);
        }
        if result {
            return Response::empty(if compute { 200 } else { 204 });
        }
        Response::json(200, json!({"status":"Succeeded"}))
    }

    /// Remove a resource and what its delete options take along.
    pub(super) fn remove(&self, s: &mut State, id: &str) {
        let Some(r) = s.res.remove(id) else { return };
        if r.rtype == "virtualMachines" {
            for nic in r.body["properties"]["networkProfile"]["networkInterfaces"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if nic["properties"]["deleteOption"] == "Delete" {
                    if let Some(nid) = nic["id"].as_str() {
                        s.res.remove(&nid.to_ascii_lowercase());
                    }
                }
            }
        }
    }

    fn list_groups(&self) -> Response {
        let s = self.state.lock().unwrap();
        let v: Vec<Value> = s
            .groups
            .values()
            .map(|g| group_body(&g.0, &g.1, &g.2, g.3))
            .collect();
        Response::json(200, json!({ "value": v }))
    }

    fn group(&self, m: &str, name: &str, req: &Request) -> Response {
        let key = name.to_ascii_lowercase();
        let mut s = self.state.lock().unwrap();
        match m {
            "PUT" => {
                let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
                let loc = body["location"].as_str().unwrap_or_default().to_string();
                let tags = body.get("tags").cloned().unwrap_or(json!({}));
                if let Some(g) = s.groups.get(&key) {
                    if g.3 {
                        return Response::error(409, "ResourceGroupBeingDeleted", &format!("The resource group '{name}' is in deprovisioning state and cannot perform this operation."));
                    }
                }
                let status = if s.groups.contains_key(&key) {
                    200
                } else {
                    201
                };
                s.groups
                    .insert(key, (name.to_string(), loc.clone(), tags.clone(), false));
                Response::json(status, group_body(name, &loc, &tags, false))
            }
            "GET" | "HEAD" => match s.groups.get(&key) {
                Some(g) if m == "GET" => Response::json(200, group_body(&g.0, &g.1, &g.2, g.3)),
                Some(_) => Response::empty(204),
                None => Response::error(
                    404,
                    "ResourceGroupNotFound",
                    &format!("Resource group '{name}' could not be found."),
                )
                .with("x-ms-failure-cause", "gateway"),
            },
            "DELETE" => {
                let Some(g) = s.groups.get_mut(&key) else {
                    return Response::error(
                        404,
                        "ResourceGroupNotFound",
                        &format!("Resource group '{name}' could not be found."),
                    );
                };
                g.3 = true;
                let op = self.new_op(&mut s, Done::RemoveGroup(key), false);
                if let Some(o) = s.ops.get_mut(&op) {
                    o.polls_left = self.cfg.lock().unwrap().group_delete_polls;
                }
                Response::empty(202)
                    .with("Location", format!("{{BASE}}/subscriptions/{SUB}/operationresults/{op}?api-version=2021-04-01"))
                    .with("Retry-After", "1")
            }
            _ => Response::error(405, "MethodNotAllowed", m),
        }
    }
}

fn group_body(name: &str, loc: &str, tags: &Value, deleting: bool) -> Value {
    json!({
        "id": format!("/subscriptions/{SUB}/resourceGroups/{name}"),
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": loc,
        "tags": tags,
        "properties": {"provisioningState": if deleting { "Deleting" } else { "Succeeded" }}
    })
}
