//! Response bodies written with quick-xml's event writer: [`XmlWriter`] for Azure's compact
//! single-line bodies (root with both namespaces, no declaration, `<X/>` for empty
//! elements), [`pretty_dotnet`] for the network configuration as .NET's XmlWriter printed
//! it. Text is escaped the way Azure did — only `<`, `>` and `&`; quotes and carriage
//! returns are written as they are — so escaping is done here, not by quick-xml.

use std::borrow::Cow;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;
use quick_xml::Writer;

use super::tree::Node;

/// Azure's default namespace of every Service Management body.
pub const NS: &str = "http://schemas.microsoft.com/windowsazure";
/// The XML Schema instance namespace (`i:nil`, `i:type`).
pub const NS_I: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Azure's text escaping: `<`, `>`, `&`.
fn escape_text(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>', '&']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Attribute values: the text escaping plus `"`.
pub fn escape_attribute(s: &str) -> String {
    escape_text(s).replace('"', "&quot;")
}

/// Both namespaces on a root element.
fn root_tag(name: &str) -> BytesStart<'_> {
    BytesStart::new(name).with_attributes([("xmlns", NS), ("xmlns:i", NS_I)])
}

fn into_string(bytes: Vec<u8>) -> String {
    // Only `&str` input was written, so the bytes are UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writer for Azure's compact response bodies.
pub struct XmlWriter {
    out: Writer<Vec<u8>>,
}

impl XmlWriter {
    /// A document whose root element (with both namespaces, no declaration) is open.
    pub fn with_root(name: &str) -> Self {
        let mut writer = XmlWriter {
            out: Writer::new(Vec::new()),
        };
        writer.event(Event::Start(root_tag(name)));
        writer
    }

    /// A whole document that is an empty root element (`<HostedServices xmlns=… xmlns:i=…/>`).
    pub fn empty_document(name: &str) -> String {
        let mut out = Writer::new(Vec::new());
        // Writing into a Vec cannot fail.
        let _ = out.write_event(Event::Empty(root_tag(name)));
        into_string(out.into_inner())
    }

    fn event(&mut self, event: Event<'_>) -> &mut Self {
        // Writing into a Vec cannot fail.
        let _ = self.out.write_event(event);
        self
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.event(Event::Start(BytesStart::new(name)))
    }

    /// `<name i:type="ty">`.
    pub fn open_typed(&mut self, name: &str, ty: &str) -> &mut Self {
        self.event(Event::Start(
            BytesStart::new(name).with_attributes([("i:type", ty)]),
        ))
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.event(Event::End(BytesEnd::new(name)))
    }

    /// `<name>value</name>`, or `<name/>` for an empty value.
    pub fn leaf(&mut self, name: &str, value: impl AsRef<str>) -> &mut Self {
        let value = value.as_ref();
        if value.is_empty() {
            return self.empty(name);
        }
        self.open(name);
        self.event(Event::Text(BytesText::from_escaped(escape_text(value))));
        self.close(name)
    }

    /// Value or `<name i:nil="true"/>`.
    pub fn leaf_nil(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.leaf(name, v),
            None => self.event(Event::Empty(
                BytesStart::new(name).with_attributes([("i:nil", "true")]),
            )),
        }
    }

    /// Value, or nothing at all.
    pub fn leaf_opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.leaf(name, v);
        }
        self
    }

    /// `<name/>`.
    pub fn empty(&mut self, name: &str) -> &mut Self {
        self.event(Event::Empty(BytesStart::new(name)))
    }

    /// Close the root element and return the document.
    pub fn finish(mut self, root: &str) -> String {
        self.close(root);
        into_string(self.out.into_inner())
    }
}

/// Azure's error body: one line, both namespaces, no declaration.
pub fn error_body(code: &str, message: &str) -> String {
    let mut w = XmlWriter::with_root("Error");
    w.leaf("Code", code).leaf("Message", message);
    w.finish("Error")
}

/// Render a parsed document the way .NET's XmlWriter pretty-printed the network
/// configuration: BOM, declaration, CRLF, two-space indent, `<X />` for empty elements.
pub fn pretty_dotnet(root: &Node) -> String {
    let mut out = Writer::new(Vec::new());
    out.config_mut().add_space_before_slash_in_empty_elements = true;
    // Writing into a Vec cannot fail.
    let _ = out.write_bom();
    let _ = out.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
    write_raw(&mut out, "\r\n");
    write_pretty(&mut out, root, 0);
    into_string(out.into_inner())
}

fn write_raw(out: &mut Writer<Vec<u8>>, text: &str) {
    let _ = out.write_event(Event::Text(BytesText::from_escaped(text)));
}

fn write_pretty(out: &mut Writer<Vec<u8>>, node: &Node, depth: usize) {
    let pad = "  ".repeat(depth);
    write_raw(out, &pad);
    let mut start = BytesStart::new(node.name.as_str());
    for (key, value) in &node.attrs {
        start.push_attribute(Attribute {
            key: QName(key.as_str()),
            value: Cow::Owned(escape_attribute(value)),
        });
    }
    if node.children.is_empty() && node.text.is_empty() {
        let _ = out.write_event(Event::Empty(start));
        return;
    }
    let _ = out.write_event(Event::Start(start));
    if node.children.is_empty() {
        write_raw(out, &escape_text(&node.text));
    } else {
        write_raw(out, "\r\n");
        for child in &node.children {
            write_pretty(out, child, depth + 1);
            write_raw(out, "\r\n");
        }
        write_raw(out, &pad);
    }
    let _ = out.write_event(Event::End(BytesEnd::new(node.name.as_str())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    #[test]
    fn error_body_is_byte_exact() {
        assert_eq!(
            error_body("ResourceNotFound", "The storage account 'x' & \"y\" <z> was not found."),
            "<Error xmlns=\"http://schemas.microsoft.com/windowsazure\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><Code>ResourceNotFound</Code><Message>The storage account 'x' &amp; \"y\" &lt;z&gt; was not found.</Message></Error>"
        );
    }

    #[test]
    fn compact_writer_forms() {
        let mut w = XmlWriter::with_root("R");
        w.leaf("Empty", "")
            .leaf_nil("Nil", None)
            .leaf_opt("Absent", None)
            .open_typed("T", "Ty")
            .leaf("V", "a\r\nb")
            .close("T");
        assert_eq!(
            w.finish("R"),
            format!("<R xmlns=\"{NS}\" xmlns:i=\"{NS_I}\"><Empty/><Nil i:nil=\"true\"/><T i:type=\"Ty\"><V>a\r\nb</V></T></R>")
        );
        assert_eq!(
            XmlWriter::empty_document("Disks"),
            format!("<Disks xmlns=\"{NS}\" xmlns:i=\"{NS_I}\"/>")
        );
    }

    #[test]
    fn pretty_dotnet_layout() {
        let doc =
            parse("<N xmlns=\"x\"><S name=\"a&quot;'b\"><E/><P>10.0.0.0/8</P></S></N>").unwrap();
        assert_eq!(
            pretty_dotnet(&doc),
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<N xmlns=\"x\">\r\n  <S name=\"a&quot;'b\">\r\n    <E />\r\n    <P>10.0.0.0/8</P>\r\n  </S>\r\n</N>"
        );
    }
}
