//! Reading the recorded Azure traffic the recorded-conformance tests compare with
//! (`tests/fixtures/asm-golden`, origin and license in its NOTICE): Azure CLI excerpts,
//! libcloud bodies, and small XML helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use azure_emulator::xml::Node;

pub fn golden() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/asm-golden");
    assert!(p.is_dir(), "golden data not found at {}", p.display());
    p
}

/// One recorded reply of an excerpt.
#[derive(serde::Deserialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub date: String,
    pub body: String,
}

pub fn recording(name: &str) -> Vec<Recorded> {
    #[derive(serde::Deserialize)]
    struct Excerpt {
        interactions: Vec<Recorded>,
    }
    let p = golden()
        .join("azure-xplat-cli")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let e: Excerpt = serde_json::from_str(&text).unwrap();
    e.interactions
}

pub const SHUTDOWN_AND_START: &str = "cli_vm_Vm_Shutdown_and_start_should_work";
pub const VNET_WITH_DNS: &str =
    "cli_network_vnet_should_create_vnet_with_dns-server-id_option_and_show";

pub fn libcloud(name: &str) -> String {
    let p = golden()
        .join("libcloud")
        .join(format!("_3761b98b_673d_526c_8d55_fee918758e6e_{name}.xml"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Seconds since the Unix epoch of a recorded Date header.
pub fn date_secs(d: &str) -> i64 {
    chrono::DateTime::parse_from_rfc2822(d)
        .unwrap_or_else(|e| panic!("{d}: {e}"))
        .timestamp()
}

pub fn parse(xml: &str) -> Node {
    azure_emulator::xml::parse(xml).unwrap_or_else(|e| panic!("{e:?}: {xml}"))
}

/// Names of an element's children, in order.
pub fn child_names(n: &Node) -> Vec<String> {
    n.children.iter().map(|c| c.local().to_string()).collect()
}

/// The first `<tag>…</tag>` of a body, tags included (`tag` must not nest in itself).
pub fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let empty = format!("<{tag}/>");
    match (xml.find(&open), xml.find(&empty)) {
        (Some(i), e) if e.is_none_or(|e| i < e) => {
            let j = xml[i..]
                .find(&close)
                .unwrap_or_else(|| panic!("no {close}"))
                + i;
            &xml[i..j + close.len()]
        }
        (_, Some(e)) => &xml[e..e + empty.len()],
        _ => panic!("no <{tag}> in {xml}"),
    }
}
