//! The parsed element tree ([`Node`]) and the in-order child walker ([`Walk`]) that
//! rejects missing, misspelled or out-of-order elements with Azure's wording.

use serde::{Deserialize, Serialize};

/// One element of a parsed document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Qualified name as written (`i:nil`, `Deployment`).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    /// Concatenated character data directly inside this element (cleared when it is only
    /// whitespace between child elements).
    pub text: String,
}

impl Node {
    /// The name without its namespace prefix.
    pub fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }
    /// Attribute value by local name.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.rsplit(':').next() == Some(local))
            .map(|(_, v)| v.as_str())
    }
    /// First child with this local name, wherever it is.
    pub fn child(&self, local: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.local() == local)
    }
    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.local() == local)
    }
    /// The text, trimmed.
    pub fn value(&self) -> &str {
        self.text.trim()
    }
    /// Walk the children in document order.
    pub fn walk(&self) -> Walk<'_> {
        Walk {
            node: self,
            next: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    /// Not well-formed (Azure: 400 InvalidXmlRequest).
    Malformed(String),
    /// Missing, misspelled or out-of-order element inside the named element (Azure: 400 BadRequest).
    Shape(String),
}

impl XmlError {
    /// Azure's wording for a child out of place inside `parent`.
    pub fn shape(parent: &str) -> Self {
        XmlError::Shape(format!(
            "{parent} has a missing, misspelled or out of order element."
        ))
    }
}

/// Walks an element's children in document order against the expected order.
pub struct Walk<'a> {
    node: &'a Node,
    next: usize,
}

impl<'a> Walk<'a> {
    /// The next child if it has this name.
    pub fn opt(&mut self, name: &str) -> Option<&'a Node> {
        let child = self.node.children.get(self.next)?;
        if child.local() == name {
            self.next += 1;
            Some(child)
        } else {
            None
        }
    }
    /// Optional text value (an empty element counts as absent).
    pub fn opt_text(&mut self, name: &str) -> Option<String> {
        self.opt(name)
            .map(|n| n.value().to_string())
            .filter(|s| !s.is_empty())
    }
    pub fn req(&mut self, name: &str) -> Result<&'a Node, XmlError> {
        self.opt(name)
            .ok_or_else(|| XmlError::shape(self.node.local()))
    }
    pub fn req_text(&mut self, name: &str) -> Result<String, XmlError> {
        Ok(self.req(name)?.value().to_string())
    }
    /// Every consecutive child with this name.
    pub fn many(&mut self, name: &str) -> Vec<&'a Node> {
        let mut found = Vec::new();
        while let Some(n) = self.opt(name) {
            found.push(n);
        }
        found
    }
    /// Every child must have been consumed.
    pub fn finish(self) -> Result<(), XmlError> {
        if self.next < self.node.children.len() {
            Err(XmlError::shape(self.node.local()))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    #[test]
    fn parses_and_walks_in_order() {
        let d = parse("\u{feff}<?xml version=\"1.0\"?><A xmlns=\"x\"><B>1 &amp; 2</B><C/><!-- c --><D k='v'>t</D></A>").unwrap();
        let mut w = d.walk();
        assert_eq!(w.req_text("B").unwrap(), "1 & 2");
        assert!(w.opt("X").is_none());
        assert!(w.opt("C").is_some());
        assert_eq!(w.req("D").unwrap().attr("k"), Some("v"));
        w.finish().unwrap();
    }

    #[test]
    fn out_of_order_is_a_shape_error_naming_the_parent() {
        let d =
            parse("<InputEndpoint><Name>a</Name><LocalPort>1</LocalPort></InputEndpoint>").unwrap();
        let mut w = d.walk();
        assert!(w.opt("LocalPort").is_none());
        w.req("Name").unwrap();
        assert_eq!(
            w.finish(),
            Err(XmlError::Shape(
                "InputEndpoint has a missing, misspelled or out of order element.".into()
            ))
        );
    }
}
