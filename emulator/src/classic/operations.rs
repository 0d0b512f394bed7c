//! Get Operation Status: InProgress, then Succeeded with its HTTP status, or Failed with
//! Azure's error, for every request id a mutating call returned. Reads only.

use std::sync::Arc;

use super::errors::{ApiError, ApiResult};
use super::request::RequestContext;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::ids::guid_form;
use crate::model::OpStatus;
use crate::xml::XmlWriter;

pub fn get(emu: &Arc<Emulator>, ctx: &RequestContext, id: &str) -> ApiResult {
    let st = emu.lock();
    let sub = ctx.subscription(&st)?;
    let op = sub
        .operations
        .get(&id.to_ascii_lowercase())
        .ok_or_else(|| {
            ApiError::not_found(format!("The operation request ID {id} was not found."))
        })?;
    let mut w = XmlWriter::with_root("Operation");
    w.leaf("ID", guid_form(&op.id));
    match op.status {
        OpStatus::InProgress => {
            w.leaf("Status", "InProgress");
        }
        OpStatus::Succeeded => {
            w.leaf("Status", "Succeeded");
            w.leaf("HttpStatusCode", op.http_status.unwrap_or(200).to_string());
        }
        OpStatus::Failed => {
            w.leaf("Status", "Failed");
            w.leaf("HttpStatusCode", op.http_status.unwrap_or(500).to_string());
            if let Some(e) = &op.error {
                w.open("Error")
                    .leaf("Code", &e.code)
                    .leaf("Message", &e.message)
                    .close("Error");
            }
        }
    }
    Ok(HttpResponse::xml(w.finish("Operation")))
}
