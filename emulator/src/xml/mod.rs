//! Azure's XML: a small strict parser for request bodies (elements, attributes, text,
//! entities), an in-order child walker that rejects missing, misspelled or out-of-order
//! elements the way DataContractSerializer did, and a writer for Azure's single-line,
//! namespaced response bodies. It never decides what an element means.

use serde::{Deserialize, Serialize};

pub const NS: &str = "http://schemas.microsoft.com/windowsazure";
pub const NS_I: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One element of a parsed document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Qualified name as written (`i:nil`, `Deployment`).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Node {
    pub fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.rsplit(':').next() == Some(local))
            .map(|(_, v)| v.as_str())
    }
    pub fn child(&self, local: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.local() == local)
    }
    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.local() == local)
    }
    pub fn value(&self) -> &str {
        self.text.trim()
    }
    pub fn walk(&self) -> Walk<'_> {
        Walk { node: self, idx: 0 }
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
    pub fn shape(parent: &str) -> Self {
        XmlError::Shape(format!(
            "{parent} has a missing, misspelled or out of order element."
        ))
    }
}

/// Walks an element's children in document order against the expected order.
pub struct Walk<'a> {
    node: &'a Node,
    idx: usize,
}

impl<'a> Walk<'a> {
    /// The next child if it has this name.
    pub fn opt(&mut self, name: &str) -> Option<&'a Node> {
        let c = self.node.children.get(self.idx)?;
        if c.local() == name {
            self.idx += 1;
            Some(c)
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
    pub fn many(&mut self, name: &str) -> Vec<&'a Node> {
        let mut v = Vec::new();
        while let Some(n) = self.opt(name) {
            v.push(n);
        }
        v
    }
    /// Every child must have been consumed.
    pub fn finish(self) -> Result<(), XmlError> {
        if self.idx < self.node.children.len() {
            Err(XmlError::shape(self.node.local()))
        } else {
            Ok(())
        }
    }
}

/// Parse a whole document (optional BOM, declaration, comments) into its root element.
pub fn parse(input: &str) -> Result<Node, XmlError> {
    let s = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut p = Parser {
        b: s.as_bytes(),
        s,
        i: 0,
        depth: 0,
    };
    p.misc()?;
    if p.peek() != Some(b'<') {
        return Err(p.err("expected a root element"));
    }
    let root = p.element()?;
    p.misc()?;
    if p.i != p.b.len() {
        return Err(p.err("content after the root element"));
    }
    Ok(root)
}

struct Parser<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    depth: usize,
}

/// Deeper documents are rejected (no request body Azure accepted came close).
const MAX_DEPTH: usize = 64;

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> XmlError {
        XmlError::Malformed(format!("{what} at byte {}", self.i))
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn starts(&self, pat: &str) -> bool {
        self.b[self.i..].starts_with(pat.as_bytes())
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }
    fn skip_past(&mut self, end: &str) -> Result<(), XmlError> {
        match self.s[self.i..].find(end) {
            Some(k) => {
                self.i += k + end.len();
                Ok(())
            }
            None => Err(self.err("unterminated construct")),
        }
    }
    /// Whitespace, declarations, processing instructions and comments.
    fn misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.ws();
            if self.starts("<?") {
                self.skip_past("?>")?;
            } else if self.starts("<!--") {
                self.skip_past("-->")?;
            } else if self.starts("<!") {
                return Err(self.err("DTDs are not accepted"));
            } else {
                return Ok(());
            }
        }
    }
    fn name(&mut self) -> Result<String, XmlError> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') || c >= 0x80 {
                self.i += 1;
            } else {
                break;
            }
        }
        if start == self.i {
            return Err(self.err("expected a name"));
        }
        Ok(self.s[start..self.i].to_string())
    }
    fn element(&mut self) -> Result<Node, XmlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("elements nested too deeply"));
        }
        let r = self.element_inner();
        self.depth -= 1;
        r
    }

    fn element_inner(&mut self) -> Result<Node, XmlError> {
        self.i += 1; // '<'
        let name = self.name()?;
        let mut node = Node {
            name,
            ..Node::default()
        };
        loop {
            self.ws();
            match self.peek() {
                Some(b'/') => {
                    if !self.starts("/>") {
                        return Err(self.err("expected />"));
                    }
                    self.i += 2;
                    return Ok(node);
                }
                Some(b'>') => {
                    self.i += 1;
                    break;
                }
                Some(_) => {
                    let k = self.name()?;
                    self.ws();
                    if self.peek() != Some(b'=') {
                        return Err(self.err("expected ="));
                    }
                    self.i += 1;
                    self.ws();
                    let q = self.peek().ok_or_else(|| self.err("unexpected end"))?;
                    if q != b'"' && q != b'\'' {
                        return Err(self.err("expected a quoted attribute value"));
                    }
                    self.i += 1;
                    let start = self.i;
                    while self.peek().is_some_and(|c| c != q) {
                        self.i += 1;
                    }
                    if self.peek().is_none() {
                        return Err(self.err("unterminated attribute"));
                    }
                    let raw = &self.s[start..self.i];
                    self.i += 1;
                    if node.attrs.iter().any(|(a, _)| *a == k) {
                        return Err(self.err("duplicate attribute"));
                    }
                    node.attrs
                        .push((k, unescape(raw).map_err(|e| self.err(&e))?));
                }
                None => return Err(self.err("unexpected end")),
            }
        }
        // content
        loop {
            if self.i >= self.b.len() {
                return Err(self.err("unclosed element"));
            }
            if self.starts("</") {
                self.i += 2;
                let end = self.name()?;
                if end != node.name {
                    return Err(self.err("mismatched end tag"));
                }
                self.ws();
                if self.peek() != Some(b'>') {
                    return Err(self.err("expected >"));
                }
                self.i += 1;
                if !node.children.is_empty() && node.text.trim().is_empty() {
                    node.text.clear();
                }
                return Ok(node);
            } else if self.starts("<!--") {
                self.skip_past("-->")?;
            } else if self.starts("<![CDATA[") {
                self.i += 9;
                let start = self.i;
                self.skip_past("]]>")?;
                node.text.push_str(&self.s[start..self.i - 3]);
            } else if self.starts("<?") {
                self.skip_past("?>")?;
            } else if self.peek() == Some(b'<') {
                let child = self.element()?;
                node.children.push(child);
            } else {
                let start = self.i;
                while self.peek().is_some_and(|c| c != b'<') {
                    self.i += 1;
                }
                let raw = &self.s[start..self.i];
                node.text
                    .push_str(&unescape(raw).map_err(|e| self.err(&e))?);
            }
        }
    }
}

fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(k) = rest.find('&') {
        out.push_str(&rest[..k]);
        rest = &rest[k + 1..];
        let end = rest.find(';').ok_or("unterminated entity")?;
        let ent = &rest[..end];
        rest = &rest[end + 1..];
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ if ent.starts_with("#x") => u32::from_str_radix(&ent[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or("bad character reference")?,
            _ if ent.starts_with('#') => ent[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or("bad character reference")?,
            _ => return Err(format!("unknown entity &{ent};")),
        };
        out.push(c);
    }
    out.push_str(rest);
    Ok(out)
}

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            _ => o.push(c),
        }
    }
    o
}

pub fn escape_attr(s: &str) -> String {
    escape(s).replace('"', "&quot;")
}

/// Writer for Azure's compact response bodies.
#[derive(Default)]
pub struct W {
    pub s: String,
}

impl W {
    /// Root element with both namespaces, no declaration.
    pub fn root(name: &str) -> Self {
        W {
            s: format!("<{name} xmlns=\"{NS}\" xmlns:i=\"{NS_I}\">"),
        }
    }
    /// Empty root element (`<HostedServices xmlns=… xmlns:i=…/>`).
    pub fn empty_root(name: &str) -> String {
        format!("<{name} xmlns=\"{NS}\" xmlns:i=\"{NS_I}\"/>")
    }
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.s.push('<');
        self.s.push_str(name);
        self.s.push('>');
        self
    }
    pub fn open_typed(&mut self, name: &str, ty: &str) -> &mut Self {
        self.s.push_str(&format!("<{name} i:type=\"{ty}\">"));
        self
    }
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.s.push_str("</");
        self.s.push_str(name);
        self.s.push('>');
        self
    }
    pub fn leaf(&mut self, name: &str, v: impl AsRef<str>) -> &mut Self {
        let v = v.as_ref();
        if v.is_empty() {
            return self.empty(name);
        }
        self.s.push_str(&format!("<{name}>{}</{name}>", escape(v)));
        self
    }
    /// Value or `<X i:nil="true"/>`.
    pub fn leaf_nil(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.leaf(name, v),
            None => {
                self.s.push_str(&format!("<{name} i:nil=\"true\"/>"));
                self
            }
        }
    }
    pub fn leaf_opt(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.leaf(name, v);
        }
        self
    }
    pub fn empty(&mut self, name: &str) -> &mut Self {
        self.s.push_str(&format!("<{name}/>"));
        self
    }
    pub fn raw(&mut self, x: &str) -> &mut Self {
        self.s.push_str(x);
        self
    }
    pub fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.s
    }
}

/// Azure's error body: one line, both namespaces, no declaration.
pub fn error_body(code: &str, message: &str) -> String {
    let mut w = W::root("Error");
    w.leaf("Code", code).leaf("Message", message);
    w.finish("Error")
}

/// Render a parsed document the way .NET's XmlWriter pretty-printed the network
/// configuration: BOM, declaration, CRLF, two-space indent, `<X />` for empty elements.
pub fn pretty_dotnet(root: &Node) -> String {
    let mut out = String::from("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n");
    fn go(n: &Node, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        out.push_str(&pad);
        out.push('<');
        out.push_str(&n.name);
        for (k, v) in &n.attrs {
            out.push_str(&format!(" {k}=\"{}\"", escape_attr(v)));
        }
        if n.children.is_empty() && n.text.is_empty() {
            out.push_str(" />");
        } else if n.children.is_empty() {
            out.push_str(&format!(">{}</{}>", escape(&n.text), n.name));
        } else {
            out.push_str(">\r\n");
            for c in &n.children {
                go(c, depth + 1, out);
                out.push_str("\r\n");
            }
            out.push_str(&pad);
            out.push_str(&format!("</{}>", n.name));
        }
    }
    go(root, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn malformed_is_rejected() {
        for bad in [
            "<A><B></A>",
            "<A>",
            "text",
            "<A></A><B/>",
            "<A x=1/>",
            "<A>&bogus;</A>",
        ] {
            assert!(matches!(parse(bad), Err(XmlError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn error_body_is_byte_exact() {
        assert_eq!(
            error_body("ResourceNotFound", "No deployments were found."),
            "<Error xmlns=\"http://schemas.microsoft.com/windowsazure\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><Code>ResourceNotFound</Code><Message>No deployments were found.</Message></Error>"
        );
    }
}
