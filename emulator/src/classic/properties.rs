//! `ExtendedProperties` of hosted services and storage accounts: read from a request in
//! Azure's order, written back, merged on update the way Update did. Nothing else.

use super::errors::ApiError;
use crate::model::ExtProp;
use crate::xml::{Node, XmlWriter};

/// `ExtendedProperties/ExtendedProperty{Name,Value}`.
pub fn parse(element: Option<&Node>) -> Result<Vec<ExtProp>, ApiError> {
    let mut properties = Vec::new();
    if let Some(element) = element {
        let mut walk = element.walk();
        for property in walk.many("ExtendedProperty") {
            let mut fields = property.walk();
            let name = fields.req_text("Name")?;
            let value = fields
                .opt("Value")
                .map(|x| x.value().to_string())
                .unwrap_or_default();
            fields.finish()?;
            properties.push(ExtProp { name, value });
        }
        walk.finish()?;
    }
    Ok(properties)
}

pub fn write(w: &mut XmlWriter, properties: &[ExtProp]) {
    if properties.is_empty() {
        w.empty("ExtendedProperties");
        return;
    }
    w.open("ExtendedProperties");
    for p in properties {
        w.open("ExtendedProperty")
            .leaf("Name", &p.name)
            .leaf("Value", &p.value)
            .close("ExtendedProperty");
    }
    w.close("ExtendedProperties");
}

/// Same name → value replaced, new name → appended.
pub fn merge(old: &mut Vec<ExtProp>, new: Vec<ExtProp>) {
    for p in new {
        match old.iter_mut().find(|o| o.name == p.name) {
            Some(o) => o.value = p.value,
            None => old.push(p),
        }
    }
}
