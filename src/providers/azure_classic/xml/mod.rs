//! ASM XML: request bodies written in Azure's exact element order, response parsers, and
//! the subscription-wide network configuration edited in place.
//!
//! Azure deserialises requests with DataContractSerializer, so element ORDER matters; the
//! builders are hand-written on purpose (the order is visible in the code). Parsers are
//! lenient: unknown elements are ignored, optional ones may be absent. Nothing here does I/O.

mod netconfig;
mod requests;
mod responses;

pub use netconfig::*;
pub use requests::*;
pub use responses::*;

pub const NS: &str = "http://schemas.microsoft.com/windowsazure";
pub const NS_I: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const VNET_NS: &str =
    "http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration";

/// Escape text and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
pub(crate) mod test_support {
    //! What the response tests read: the vendored recorded bodies.
    use std::path::PathBuf;

    /// A recorded libcloud response body from `tests/fixtures/asm-golden`.
    pub fn golden(name: &str) -> Option<String> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/asm-golden/libcloud")
            .join(format!("_3761b98b_673d_526c_8d55_fee918758e6e_{name}.xml"));
        Some(
            std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("golden file {}: {e}", p.display())),
        )
    }
}
