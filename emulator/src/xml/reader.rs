//! Request bodies → [`Node`] trees. quick-xml tokenises (tags, attributes, references,
//! end-tag matching); this module builds the tree and adds the strictness Azure had: one
//! root element, no DTD, no unknown entity, element and attribute names of the XML name
//! characters Azure's reader accepted, bounded nesting. It never interprets an element.

use quick_xml::escape::{resolve_predefined_entity, unescape};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::tree::{Node, XmlError};

/// Deeper documents are rejected (no request body Azure accepted came close).
const MAX_DEPTH: usize = 64;

/// Parse a whole document (optional BOM, declaration, comments) into its root element.
pub fn parse(input: &str) -> Result<Node, XmlError> {
    let text = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut reader = Reader::from_str(text);
    let mut tree = TreeBuilder::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(&e.to_string(), reader.error_position()))?;
        let at = reader.buffer_position();
        let step = match event {
            Event::Start(tag) => element(&tag).and_then(|n| tree.open(n)),
            Event::Empty(tag) => element(&tag).and_then(|n| tree.add(n)),
            Event::End(_) => tree.close(),
            Event::Text(text) => tree.text(&text),
            Event::CData(data) => tree.character_data(&data),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Ok(c.to_string()),
                    Ok(None) => resolve_predefined_entity(&reference)
                        .map(str::to_string)
                        .ok_or_else(|| format!("unknown entity &{};", &*reference)),
                    Err(_) => Err("bad character reference".to_string()),
                };
                resolved.and_then(|s| tree.character_data(&s))
            }
            Event::DocType(_) => Err("DTDs are not accepted".to_string()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => Ok(()),
            Event::Eof => break,
        };
        step.map_err(|what| malformed(&what, at))?;
    }
    tree.finish()
        .map_err(|what| malformed(&what, reader.buffer_position()))
}

fn malformed(what: &str, at: u64) -> XmlError {
    XmlError::Malformed(format!("{what} at byte {at}"))
}

/// The name characters Azure's reader accepted in element and attribute names.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') || c >= 0x80
        })
}

/// A start or empty tag → an element without content yet.
fn element(tag: &BytesStart<'_>) -> Result<Node, String> {
    let name = tag.name().0.to_string();
    if !valid_name(&name) {
        return Err(format!("invalid element name `{name}`"));
    }
    let mut node = Node {
        name,
        ..Node::default()
    };
    for attribute in tag.attributes().with_checks(true) {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.0.to_string();
        if !valid_name(&key) {
            return Err(format!("invalid attribute name `{key}`"));
        }
        let value = unescape(&attribute.value).map_err(|e| e.to_string())?;
        node.attrs.push((key, value.into_owned()));
    }
    Ok(node)
}

/// Elements still open (innermost last) and the finished root.
#[derive(Default)]
struct TreeBuilder {
    open: Vec<Node>,
    root: Option<Node>,
}

impl TreeBuilder {
    fn open(&mut self, node: Node) -> Result<(), String> {
        if self.open.is_empty() && self.root.is_some() {
            return Err("content after the root element".into());
        }
        if self.open.len() >= MAX_DEPTH {
            return Err("elements nested too deeply".into());
        }
        self.open.push(node);
        Ok(())
    }

    /// A complete element: becomes a child of the innermost open one, or the root.
    fn add(&mut self, node: Node) -> Result<(), String> {
        match self.open.last_mut() {
            Some(parent) => parent.children.push(node),
            None if self.root.is_none() => self.root = Some(node),
            None => return Err("content after the root element".into()),
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        let mut node = self.open.pop().ok_or("end tag without a start tag")?;
        if !node.children.is_empty() && node.text.trim().is_empty() {
            node.text.clear();
        }
        self.add(node)
    }

    /// Character data as written (whitespace outside the root is allowed).
    fn text(&mut self, text: &str) -> Result<(), String> {
        match self.open.last_mut() {
            Some(node) => {
                node.text.push_str(text);
                Ok(())
            }
            None if text.trim().is_empty() => Ok(()),
            None if self.root.is_none() => Err("expected a root element".into()),
            None => Err("content after the root element".into()),
        }
    }

    /// Resolved references and CDATA: only inside an element.
    fn character_data(&mut self, data: &str) -> Result<(), String> {
        let node = self
            .open
            .last_mut()
            .ok_or("character data outside the root element")?;
        node.text.push_str(data);
        Ok(())
    }

    fn finish(self) -> Result<Node, String> {
        if !self.open.is_empty() {
            return Err("unclosed element".into());
        }
        self.root.ok_or_else(|| "expected a root element".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_is_rejected() {
        for bad in [
            "<A><B></A>",
            "<A>",
            "text",
            "<A></A><B/>",
            "<A x=1/>",
            "<A>&bogus;</A>",
            "<!DOCTYPE A><A/>",
            "<A x=\"1\" x=\"2\"/>",
            "<A$/>",
            "",
        ] {
            assert!(matches!(parse(bad), Err(XmlError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn references_cdata_and_whitespace() {
        let d = parse("<A k=\"a&amp;&#x42;\"> <B>&lt;&#67;<![CDATA[<&>]]></B>\r\n</A>\n").unwrap();
        assert_eq!(d.attr("k"), Some("a&B"));
        assert_eq!(d.text, "", "whitespace between children is dropped");
        assert_eq!(d.children[0].text, "<C<&>");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "<A>".repeat(MAX_DEPTH + 1) + &"</A>".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(&deep), Err(XmlError::Malformed(_))));
        let ok = "<A>".repeat(MAX_DEPTH) + &"</A>".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }
}
