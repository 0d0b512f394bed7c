//! OS images: List OS Images and Get OS Image, from the images the VM backend can boot;
//! List VM Images, always empty (VM images cannot be captured or created here).

use std::sync::Arc;

use super::errors::{ApiError, ApiResult};
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::catalog;
use crate::vm::ImageInfo;
use crate::xml::XmlWriter;

fn write_image(w: &mut XmlWriter, i: &ImageInfo) {
    w.leaf("Category", "Public");
    w.leaf("Label", &i.label);
    w.leaf("Location", catalog::LOCATIONS.join(";"));
    w.leaf("LogicalSizeInGB", "30");
    w.leaf("Name", &i.name);
    w.leaf("OS", &i.os);
    w.leaf("Eula", "");
    w.leaf("Description", &i.description);
    w.leaf("ImageFamily", &i.label);
    w.leaf("ShowInGui", "true");
    w.leaf("PublishedDate", "2024-01-01T00:00:00Z");
    w.leaf("IsPremium", "false");
    w.leaf("IconUri", "Debian_100.png");
    w.leaf("PrivacyUri", "");
    w.leaf("RecommendedVMSize", "Small");
    w.leaf("PublisherName", "Azure classic emulator");
    w.leaf("SmallIconUri", "Debian_45.png");
    w.leaf("IOType", "Standard_LRS");
}

pub fn list(emu: &Arc<Emulator>) -> HttpResponse {
    let images = emu.backend.images();
    if images.is_empty() {
        return HttpResponse::xml(XmlWriter::empty_document("Images"));
    }
    let mut w = XmlWriter::with_root("Images");
    for i in &images {
        w.open("OSImage");
        write_image(&mut w, i);
        w.close("OSImage");
    }
    HttpResponse::xml(w.finish("Images"))
}

pub fn get(emu: &Arc<Emulator>, name: &str) -> ApiResult {
    let i = emu
        .backend
        .images()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| ApiError::not_found("The image with the specified name does not exist."))?;
    let mut w = XmlWriter::with_root("OSImage");
    write_image(&mut w, &i);
    Ok(HttpResponse::xml(w.finish("OSImage")))
}

/// List VM Images: there are none (capturing or creating one is not supported).
pub fn list_vm_images() -> HttpResponse {
    HttpResponse::xml(XmlWriter::empty_document("VMImages"))
}
