//! The Service Management API: request context, Azure's error vocabulary, authentication
//! and version checks, fault injection, routing to one module per resource family, and the
//! asynchronous-operation engine (202 + request id, exclusive locks, completion later).
//! It never touches the host directly: VMs go through the `VmBackend`.

pub mod deployments;
pub mod disks;
pub mod misc;
pub mod network;
pub mod services;
pub mod storage;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore;

use crate::model::faults::{Faults, RequestFault};
use crate::model::latency::LatencyModel;
use crate::model::{now_ms, OpError, OpStatus, Operation, Pending, State, Subscription};
use crate::vm::VmBackend;
use crate::xml::{self, XmlError};

/// Host Azure wrote into `Url` elements and `Location` headers.
pub const AZURE_HOST: &str = "https://management.core.windows.net";

pub const FORBIDDEN: &str = "The server failed to authenticate the request. Verify that the certificate is valid and is associated with this subscription.";

/// An HTTP response before it is put on the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn xml(body: String) -> Self {
        Resp {
            status: 200,
            content_type: Some("application/xml; charset=utf-8"),
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }
    pub fn empty(status: u16) -> Self {
        Resp {
            status,
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }
    pub fn json(v: &serde_json::Value) -> Self {
        Resp {
            status: 200,
            content_type: Some("application/json"),
            body: serde_json::to_vec_pretty(v).unwrap_or_default(),
            headers: Vec::new(),
        }
    }
    pub fn header(mut self, k: &str, v: String) -> Self {
        self.headers.push((k.to_string(), v));
        self
    }
}

/// An Azure error (status, code, message).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "ResourceNotFound", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "ConflictError", message)
    }
    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        )
    }
    pub fn invalid_xml() -> Self {
        Self::new(
            400,
            "InvalidXmlRequest",
            "The request body's XML was invalid or not correctly specified.",
        )
    }
    pub fn to_resp(&self) -> Resp {
        Resp {
            status: self.status,
            content_type: Some("application/xml; charset=utf-8"),
            body: xml::error_body(self.code, &self.message).into_bytes(),
            headers: Vec::new(),
        }
    }
    pub fn op_error(&self) -> OpError {
        OpError {
            http_status: self.status,
            code: self.code.to_string(),
            message: self.message.clone(),
        }
    }
}

impl From<XmlError> for ApiError {
    fn from(e: XmlError) -> Self {
        match e {
            XmlError::Malformed(_) => ApiError::invalid_xml(),
            XmlError::Shape(m) => ApiError::bad(m),
        }
    }
}

pub type ApiResult = Result<Resp, ApiError>;

/// The exclusive-access messages.
pub fn busy_deployment(op: &str) -> ApiError {
    ApiError::conflict(format!("Windows Azure is currently performing an operation with x-ms-requestid {op} on this deployment that requires exclusive access."))
}
pub fn busy_service() -> ApiError {
    ApiError::conflict("Windows Azure is currently performing an operation on this hosted service that requires exclusive access.")
}

/// One parsed request.
pub struct Ctx {
    pub method: String,
    /// Subscription id as written in the path.
    pub sub: String,
    /// Path segments after the subscription (percent-decoded).
    pub segs: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Bytes,
    /// This response's x-ms-request-id.
    pub request_id: String,
}

impl Ctx {
    pub fn body_xml(&self) -> Result<xml::Node, ApiError> {
        let s = std::str::from_utf8(&self.body).map_err(|_| ApiError::invalid_xml())?;
        Ok(xml::parse(s)?)
    }
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(kk, _)| kk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
    pub fn comp_media(&self) -> bool {
        self.q("comp")
            .is_some_and(|v| v.eq_ignore_ascii_case("media"))
    }
}

/// Quota limits per subscription.
#[derive(Clone, Debug)]
pub struct Quotas {
    pub max_cores: u32,
    pub max_hosted_services: u32,
    pub max_storage_accounts: u32,
}

pub fn quota_error(kind: &str, limit: u32, current: u32, inc: u32) -> ApiError {
    ApiError::bad(format!("The subscription policy limit for resource type '{kind}' was exceeded. The limit for resource type '{kind}' is {limit} per subscription, the current count is {current}, and the requested increment is {inc}."))
}

/// The shared emulator: state, backend, models.
pub struct Emu {
    pub state: Mutex<State>,
    pub backend: Arc<dyn VmBackend>,
    pub latency: LatencyModel,
    pub faults: Mutex<Faults>,
    /// Thumbprint (upper hex) → subscriptions it may manage (lower case).
    pub certs: HashMap<String, Vec<String>>,
    pub state_path: PathBuf,
    pub quotas: Quotas,
    pub tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn guid_form(id: &str) -> String {
    if id.len() != 32 {
        return id.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    )
}

impl Emu {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Persist (called with the state lock held so writes are ordered).
    pub fn persist(&self, st: &State) {
        if let Err(e) = st.save(&self.state_path) {
            tracing::error!("cannot persist state: {e}");
        }
    }

    /// May this thumbprint manage this subscription?
    pub fn authorised(&self, thumb: Option<&str>, sub: &str) -> bool {
        let Some(t) = thumb else { return false };
        self.certs
            .get(t)
            .is_some_and(|subs| subs.iter().any(|s| s.eq_ignore_ascii_case(sub)))
    }

    /// Full request pipeline below TLS: auth, version, faults, routing.
    pub async fn handle(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        query: &str,
        headers: &hyper::HeaderMap,
        body: Bytes,
        thumb: Option<&str>,
    ) -> Resp {
        let request_id = new_request_id();
        let mut resp = self
            .handle_inner(method, path, query, headers, body, thumb, &request_id)
            .await;
        resp.headers
            .push(("x-ms-request-id".into(), request_id.clone()));
        resp
    }

    #[allow(clippy::too_many_arguments)]
    async fn handle_inner(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        query: &str,
        headers: &hyper::HeaderMap,
        body: Bytes,
        thumb: Option<&str>,
        request_id: &str,
    ) -> Resp {
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let forbidden = ApiError::new(403, "ForbiddenError", FORBIDDEN).to_resp();
        let Some(sub) = segs.first().cloned() else {
            return forbidden;
        };
        if sub == "_emulator" {
            let Some(t) = thumb else { return forbidden };
            if !self.certs.contains_key(t) {
                return forbidden;
            }
            return crate::admin::handle(self, method, &segs[1..], query, &body).await;
        }
        if !self.authorised(thumb, &sub) {
            return forbidden;
        }
        let version_ok = headers
            .get("x-ms-version")
            .and_then(|v| v.to_str().ok())
            .is_some_and(valid_version);
        if !version_ok {
            return ApiError::new(
                400,
                "MissingOrIncorrectVersionHeader",
                "The versioning header is not specified or was specified incorrectly.",
            )
            .to_resp();
        }
        let ctx = Ctx {
            method: method.to_ascii_uppercase(),
            sub: self.canonical_sub(&sub),
            segs: segs[1..].to_vec(),
            query: parse_query(query),
            body,
            request_id: request_id.to_string(),
        };
        let mutating = ctx.method != "GET";
        let fault_key = format!("{} {}", ctx.method, path.to_ascii_lowercase());
        let fault = self.faults().request(&fault_key, mutating);
        match fault {
            Some(RequestFault::Internal) => return ApiError::internal().to_resp(),
            Some(RequestFault::Busy) => return ApiError::new(
                503,
                "ServerBusy",
                "The server is currently unable to receive requests. Please retry your request.",
            )
            .to_resp(),
            Some(RequestFault::Throttle) => {
                return ApiError::new(
                    503,
                    "TooManyRequests",
                    "Too many requests received. Retry after some time.",
                )
                .to_resp()
            }
            Some(RequestFault::Conflict) => return busy_deployment(&new_request_id()).to_resp(),
            Some(RequestFault::Hang) => {
                let secs = self.faults().rates.hang_secs;
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                return ApiError::new(
                    500,
                    "OperationTimedOut",
                    "The operation could not be completed within the permitted time.",
                )
                .to_resp();
            }
            None => {}
        }
        match self.route(&ctx).await {
            Ok(r) => r,
            Err(e) => e.to_resp(),
        }
    }

    fn canonical_sub(&self, sub: &str) -> String {
        let st = self.lock();
        st.subscriptions
            .keys()
            .find(|k| k.eq_ignore_ascii_case(sub))
            .cloned()
            .unwrap_or_else(|| sub.to_string())
    }

    async fn route(self: &Arc<Self>, ctx: &Ctx) -> ApiResult {
        let s: Vec<&str> = ctx.segs.iter().map(|x| x.as_str()).collect();
        let m = ctx.method.as_str();
        match (m, s.as_slice()) {
            ("GET", []) => misc::get_subscription(self, ctx),
            ("GET", ["locations"]) => Ok(misc::list_locations()),
            ("GET", ["rolesizes"]) => Ok(misc::list_role_sizes()),
            ("GET", ["operations", id]) => misc::get_operation(self, ctx, id),
            ("GET", ["services", "images"]) => Ok(misc::list_images(self)),
            ("GET", ["services", "images", name]) => misc::get_image(self, name),
            ("GET", ["services", "hostedservices"]) => services::list(self, ctx).await,
            ("POST", ["services", "hostedservices"]) => services::create(self, ctx),
            ("GET", ["services", "hostedservices", "operations", "isavailable", n]) => {
                services::is_available(self, ctx, n)
            }
            ("GET", ["services", "hostedservices", svc]) => services::get(self, ctx, svc).await,
            ("PUT", ["services", "hostedservices", svc]) => services::update(self, ctx, svc),
            ("DELETE", ["services", "hostedservices", svc]) => services::delete(self, ctx, svc),
            ("GET", ["services", "hostedservices", svc, "certificates"]) => {
                services::list_certs(self, ctx, svc)
            }
            ("POST", ["services", "hostedservices", svc, "certificates"]) => {
                services::add_cert(self, ctx, svc)
            }
            ("GET", ["services", "hostedservices", svc, "certificates", t]) => {
                services::get_cert(self, ctx, svc, t)
            }
            ("DELETE", ["services", "hostedservices", svc, "certificates", t]) => {
                services::delete_cert(self, ctx, svc, t)
            }
            ("POST", ["services", "hostedservices", svc, "deployments"]) => {
                deployments::create(self, ctx, svc)
            }
            ("GET", ["services", "hostedservices", svc, "deployments", dep]) => {
                deployments::get(self, ctx, svc, Some(dep), None).await
            }
            ("GET", ["services", "hostedservices", svc, "deploymentslots", slot]) => {
                deployments::get(self, ctx, svc, None, Some(slot)).await
            }
            ("DELETE", ["services", "hostedservices", svc, "deployments", dep]) => {
                deployments::delete(self, ctx, svc, Some(dep), None)
            }
            ("DELETE", ["services", "hostedservices", svc, "deploymentslots", slot]) => {
                deployments::delete(self, ctx, svc, None, Some(slot))
            }
            ("POST", ["services", "hostedservices", svc, "deployments", dep, "roles"]) => {
                deployments::add_role(self, ctx, svc, dep)
            }
            ("GET", ["services", "hostedservices", svc, "deployments", dep, "roles", role]) => {
                deployments::get_role(self, ctx, svc, dep, role)
            }
            ("DELETE", ["services", "hostedservices", svc, "deployments", dep, "roles", role]) => {
                deployments::delete_role(self, ctx, svc, dep, role)
            }
            (
                "POST",
                ["services", "hostedservices", svc, "deployments", dep, "roleinstances", role, op],
            ) if op.eq_ignore_ascii_case("operations") => {
                deployments::role_operation(self, ctx, svc, dep, role)
            }
            (
                "POST",
                ["services", "hostedservices", svc, "deployments", dep, "roleinstances", role],
            ) => deployments::reboot_instance(self, ctx, svc, dep, role),
            ("GET", ["services", "storageservices"]) => storage::list(self, ctx),
            ("POST", ["services", "storageservices"]) => storage::create(self, ctx),
            ("GET", ["services", "storageservices", "operations", "isavailable", n]) => {
                storage::is_available(self, ctx, n)
            }
            ("GET", ["services", "storageservices", name]) => storage::get(self, ctx, name),
            ("PUT", ["services", "storageservices", name]) => storage::update(self, ctx, name),
            ("DELETE", ["services", "storageservices", name]) => storage::delete(self, ctx, name),
            ("GET", ["services", "storageservices", name, "keys"]) => {
                storage::keys(self, ctx, name)
            }
            ("POST", ["services", "storageservices", name, "keys"]) => {
                storage::regenerate(self, ctx, name)
            }
            ("GET", ["services", "networking", "media"]) => network::get(self, ctx),
            ("PUT", ["services", "networking", "media"]) => network::set(self, ctx),
            ("GET", ["services", "networking", "virtualnetwork"]) => network::list_sites(self, ctx),
            ("GET", ["services", "disks"]) => disks::list(self, ctx),
            ("GET", ["services", "disks", name]) => disks::get(self, ctx, name),
            ("DELETE", ["services", "disks", name]) => disks::delete(self, ctx, name),
            (_, path) if known_path(path) => Err(ApiError::new(
                400,
                "InvalidHttpVerb",
                "The HTTP verb specified was not recognized by the server.",
            )),
            _ => Err(ApiError::not_found(
                "The requested URI does not represent any resource on the server.",
            )),
        }
    }

    /// Register a synchronous mutating request as a Succeeded operation (Azure let clients
    /// poll the request id of 200/201 responses too).
    pub fn register_sync(&self, sub: &mut Subscription, id: &str, kind: &str, status: u16) {
        let now = now_ms();
        sub.operations.insert(
            id.to_string(),
            Operation {
                id: id.to_string(),
                status: OpStatus::Succeeded,
                http_status: Some(status),
                started: now,
                completes_at: now,
                kind: kind.into(),
                ..Default::default()
            },
        );
        trim_ops(sub);
    }

    /// Accept an asynchronous operation: record it, take its locks (already checked by the
    /// caller), and schedule its completion.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_op(
        self: &Arc<Self>,
        sub: &mut Subscription,
        id: &str,
        kind: &str,
        dur: Duration,
        pending: Pending,
        locks: Vec<String>,
        mut fail_with: Option<OpError>,
    ) {
        let now = now_ms();
        if fail_with.is_none() && self.faults().op_fails(&format!("{kind} {}", sub.id)) {
            fail_with = Some(ApiError::internal().op_error());
        }
        for l in &locks {
            set_lock(sub, l, Some(id.to_string()));
        }
        sub.operations.insert(
            id.to_string(),
            Operation {
                id: id.to_string(),
                status: OpStatus::InProgress,
                started: now,
                completes_at: now + dur.as_millis() as i64,
                pending: Some(pending),
                fail_with,
                locks,
                kind: kind.into(),
                ..Default::default()
            },
        );
        trim_ops(sub);
        self.schedule(sub.id.clone(), id.to_string());
    }

    pub fn schedule(self: &Arc<Self>, sub: String, id: String) {
        let me = self.clone();
        let h = tokio::spawn(async move { me.run_op(sub, id).await });
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(h.abort_handle());
    }

    async fn run_op(self: Arc<Self>, sub: String, id: String) {
        // 1. Boot the VMs this operation creates (addresses are known before it completes).
        deployments::create_pending_vms(&self, &sub, &id).await;
        // 2. Wait for the modelled duration.
        let due = {
            let st = self.lock();
            st.subscriptions
                .get(&sub)
                .and_then(|s| s.operations.get(&id))
                .map(|o| o.completes_at)
        };
        let Some(due) = due else { return };
        let wait = due - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        // 3. Apply the outcome.
        let after = self.complete_op(&sub, &id);
        // 4. Host-side work after the state change (outside the lock).
        for a in after {
            match a {
                After::DeleteVm(vm) => {
                    if let Err(e) = self.backend.delete(&vm).await {
                        tracing::warn!("backend could not delete VM {vm}: {e}");
                    }
                }
                After::StartVm(vm) => {
                    if let Err(e) = self.backend.start(&vm).await {
                        tracing::warn!("backend could not start VM {vm}: {e}");
                    }
                }
                After::StopVm(vm) => {
                    if let Err(e) = self.backend.stop(&vm).await {
                        tracing::warn!("backend could not stop VM {vm}: {e}");
                    }
                }
            }
        }
    }

    fn complete_op(&self, sub_id: &str, id: &str) -> Vec<After> {
        let mut st = self.lock();
        let Some(sub) = st.subscriptions.get_mut(sub_id) else {
            return Vec::new();
        };
        let Some(op) = sub.operations.get(id).cloned() else {
            return Vec::new();
        };
        if op.status != OpStatus::InProgress {
            return Vec::new();
        }
        let mut after = Vec::new();
        let outcome = match (&op.fail_with, op.pending.clone()) {
            (Some(e), Some(p)) => {
                rollback(sub, &p, &mut after);
                Err(e.clone())
            }
            (None, Some(p)) => {
                apply(self, sub, &p, &mut after);
                Ok(())
            }
            (_, None) => Ok(()),
        };
        for l in &op.locks {
            if lock_holder(sub, l).as_deref() == Some(id) {
                set_lock(sub, l, None);
            }
        }
        if let Some(o) = sub.operations.get_mut(id) {
            o.pending = None;
            match outcome {
                Ok(()) => {
                    o.status = OpStatus::Succeeded;
                    o.http_status = Some(200);
                }
                Err(e) => {
                    o.status = OpStatus::Failed;
                    o.http_status = Some(e.http_status);
                    o.error = Some(e);
                }
            }
        }
        self.persist(&st);
        after
    }

    /// After a restart: reschedule every operation still in progress.
    pub fn resume_operations(self: &Arc<Self>) {
        let pending: Vec<(String, String)> = {
            let st = self.lock();
            st.subscriptions
                .values()
                .flat_map(|s| {
                    s.operations
                        .values()
                        .filter(|o| o.status == OpStatus::InProgress)
                        .map(move |o| (s.id.clone(), o.id.clone()))
                })
                .collect()
        };
        for (s, id) in pending {
            self.schedule(s, id);
        }
    }
}

/// Host-side work to do once an operation's state change is applied.
pub enum After {
    DeleteVm(String),
    StartVm(String),
    StopVm(String),
}

fn trim_ops(sub: &mut Subscription) {
    const KEEP: usize = 5_000;
    if sub.operations.len() > KEEP {
        let mut done: Vec<(i64, String)> = sub
            .operations
            .values()
            .filter(|o| o.status != OpStatus::InProgress)
            .map(|o| (o.started, o.id.clone()))
            .collect();
        done.sort();
        for (_, id) in done.into_iter().take(sub.operations.len() - KEEP) {
            sub.operations.remove(&id);
        }
    }
}

pub fn lock_holder(sub: &Subscription, key: &str) -> Option<String> {
    if key == "net" {
        return sub.network_lock.clone();
    }
    if let Some(h) = key.strip_prefix("hs:") {
        return sub.hosted_services.get(h).and_then(|s| s.lock.clone());
    }
    if let Some(h) = key.strip_prefix("dep:") {
        return sub
            .hosted_services
            .get(h)
            .and_then(|s| s.deployment.as_ref())
            .and_then(|d| d.lock.clone());
    }
    None
}

fn set_lock(sub: &mut Subscription, key: &str, v: Option<String>) {
    if key == "net" {
        sub.network_lock = v;
    } else if let Some(h) = key.strip_prefix("hs:") {
        if let Some(s) = sub.hosted_services.get_mut(h) {
            s.lock = v;
        }
    } else if let Some(h) = key.strip_prefix("dep:") {
        if let Some(d) = sub
            .hosted_services
            .get_mut(h)
            .and_then(|s| s.deployment.as_mut())
        {
            d.lock = v;
        }
    }
}

fn apply(emu: &Emu, sub: &mut Subscription, p: &Pending, after: &mut Vec<After>) {
    let now = now_ms();
    match p {
        Pending::CreateStorage { name } => {
            if let Some(s) = sub.storage_accounts.get_mut(name) {
                s.status = "Created".into();
            }
        }
        Pending::AddCertificate { service, cert } => {
            if let Some(h) = sub.hosted_services.get_mut(service) {
                if !h
                    .certificates
                    .iter()
                    .any(|c| c.thumbprint == cert.thumbprint)
                {
                    h.certificates.push(cert.clone());
                }
            }
        }
        Pending::DeleteCertificate {
            service,
            thumbprint,
        } => {
            if let Some(h) = sub.hosted_services.get_mut(service) {
                h.certificates.retain(|c| &c.thumbprint != thumbprint);
            }
        }
        Pending::SetNetwork { doc } => sub.network = Some(doc.clone()),
        _ => deployments::apply(emu, sub, p, now, after),
    }
}

fn rollback(sub: &mut Subscription, p: &Pending, after: &mut Vec<After>) {
    match p {
        Pending::CreateStorage { name } => {
            sub.storage_accounts.remove(name);
        }
        Pending::AddCertificate { .. }
        | Pending::DeleteCertificate { .. }
        | Pending::SetNetwork { .. }
        | Pending::Nothing => {}
        _ => deployments::rollback(sub, p, after),
    }
}

fn known_path(s: &[&str]) -> bool {
    matches!(
        s,
        [] | ["locations"]
            | ["rolesizes"]
            | ["operations", _]
            | ["services", "hostedservices", ..]
            | ["services", "storageservices", ..]
            | ["services", "networking", ..]
            | ["services", "disks", ..]
            | ["services", "images", ..]
    )
}

/// `YYYY-MM-DD` not before 2009-10-01.
pub fn valid_version(v: &str) -> bool {
    let v = v.trim();
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .is_ok_and(|d| chrono::NaiveDate::from_ymd_opt(2009, 10, 1).is_some_and(|min| d >= min))
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

/// Subscription must exist in state (registered at start).
pub fn sub_mut<'a>(st: &'a mut State, ctx: &Ctx) -> Result<&'a mut Subscription, ApiError> {
    st.subscriptions
        .get_mut(&ctx.sub)
        .ok_or_else(|| ApiError::new(403, "ForbiddenError", FORBIDDEN))
}

pub fn sub_ref<'a>(st: &'a State, ctx: &Ctx) -> Result<&'a Subscription, ApiError> {
    st.subscriptions
        .get(&ctx.sub)
        .ok_or_else(|| ApiError::new(403, "ForbiddenError", FORBIDDEN))
}

/// Extended properties (`ExtendedProperties/ExtendedProperty{Name,Value}`).
pub fn parse_ext_props(n: Option<&xml::Node>) -> Result<Vec<crate::model::ExtProp>, ApiError> {
    let mut v = Vec::new();
    if let Some(n) = n {
        let mut w = n.walk();
        for p in w.many("ExtendedProperty") {
            let mut pw = p.walk();
            let name = pw.req_text("Name")?;
            let value = pw
                .opt("Value")
                .map(|x| x.value().to_string())
                .unwrap_or_default();
            pw.finish()?;
            v.push(crate::model::ExtProp { name, value });
        }
        w.finish()?;
    }
    Ok(v)
}

pub fn write_ext_props(w: &mut xml::W, props: &[crate::model::ExtProp]) {
    if props.is_empty() {
        w.empty("ExtendedProperties");
        return;
    }
    w.open("ExtendedProperties");
    for p in props {
        w.open("ExtendedProperty")
            .leaf("Name", &p.name)
            .leaf("Value", &p.value)
            .close("ExtendedProperty");
    }
    w.close("ExtendedProperties");
}

/// Merge extended properties like Update did (same name → replaced, new → appended).
pub fn merge_ext_props(old: &mut Vec<crate::model::ExtProp>, new: Vec<crate::model::ExtProp>) {
    for p in new {
        match old.iter_mut().find(|o| o.name == p.name) {
            Some(o) => o.value = p.value,
            None => old.push(p),
        }
    }
}
