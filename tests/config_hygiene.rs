//! Configuration input hygiene: subscription ids are GUIDs, CA files PEM certificates,
//! files UTF-8 (else FILE:LINE); values in messages are cut and escaped; reading is linear
//! in the file's size and a flood of problems is reported briefly.

#[path = "support/config_fixture.rs"]
mod fixture;

use std::fs;

use elasticluster::config::{Config, ConfigError};
use elasticluster::providers::Registry;
use fixture::*;

#[test]
fn subscription_ids_must_be_guids_and_ca_files_pem_certificates() {
    let fx = Fixture::new();
    let id = "subscription_id = 0a1b2c3d-0000-4000-8000-00000000beef";
    let d = errors(&fx.load(&good().replace(id, "subscription_id = 1234")), "c");
    assert_one(
        &d,
        &[
            "[cloud/az] subscription_id",
            "`1234` is not a subscription id (a GUID",
        ],
    );
    // A garbage CA file: not a certificate at all, and a certificate block that is not one.
    fx.write("ca-garbage.pem", "\u{1}\u{2}binary\u{7f} garbage\n");
    fx.write(
        "ca-broken.pem",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    for ca in ["ca-garbage.pem", "ca-broken.pem"] {
        let text = good().replace(
            "certificate = cert.pem",
            &format!("certificate = cert.pem\nca_certificate = {ca}"),
        );
        assert_one(
            &errors(&fx.load(&text), "c"),
            &["[cloud/az] ca_certificate", "not a PEM certificate"],
        );
    }
    // Extra subscriptions too.
    fx.write(
        "subs.txt",
        "subscription_id=not-a-guid certificate=cert.pem\n",
    );
    let text = good().replace(
        "flavor = Small",
        "flavor = Small\nsubscription_file = subs.txt",
    );
    assert_one(
        &errors(&fx.load(&text), "c"),
        &["subscription_file", "`not-a-guid` is not a subscription id"],
    );
}

#[test]
fn invalid_utf8_is_an_error_with_file_and_line() {
    let fx = Fixture::new();
    let mut bytes = good().into_bytes();
    let line3 = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap();
    bytes.splice(line3..line3, b"# caf\xe9 latin-1 comment\n".iter().copied());
    let p = fx.path("config");
    fs::write(&p, bytes).unwrap();
    match Config::load(&p) {
        Err(ConfigError::Invalid(d)) => assert_one(
            &d,
            &[
                &format!("{}:3: not valid UTF-8", p.display()),
                "byte 0xe9 at column 6",
                "save the file as UTF-8",
            ],
        ),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a file that is not UTF-8 was used"),
    }
}

#[test]
fn values_in_messages_are_cut_and_escaped() {
    let fx = Fixture::new();
    // A 1 MB base_name, and a value full of terminal control characters.
    let huge = "x".repeat(1_000_000);
    let text = good()
        .replace("base_name = mybase1", &format!("base_name = {huge}"))
        .replace("ssh_to = frontend", "ssh_to = \u{1b}[31mred\u{7}\u{0}");
    let d = errors(&fx.load(&text), "c");
    let text = d.to_string();
    assert_eq!(d.len(), 2, "{}", &text[..text.len().min(2000)]);
    assert!(text.len() < 1000, "{} bytes of messages", text.len());
    assert!(text.contains("… (1000000 characters)"), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters: {text:?}"
    );
    assert!(text.contains("`\\u{1b}[31mred\\u{7}\\u{0}`"), "{text}");
}

/// A config of `mb` megabytes: the good one, plus templates of 100 variables each.
fn big_config(mb: usize) -> String {
    let mut text = good();
    let mut t = 0;
    while text.len() < mb * 1024 * 1024 {
        text.push_str(&format!(
            "[cluster/t{t}]\ncloud = az\nlogin = l\nsetup_provider = s\nlocation = East US\n\
             base_name = mybase1\nimage_id = img\nflavor = Small\nfrontend_nodes = 1\n"
        ));
        for i in 0..100 {
            text.push_str(&format!("global_var_x{i} = {}{i}\n", "v".repeat(60)));
        }
        t += 1;
    }
    text
}

/// Load the config and validate every template; the seconds it took.
fn load_and_validate_all(fx: &Fixture, text: &str) -> f64 {
    let p = fx.write("big", text);
    let t = std::time::Instant::now();
    let c = Config::load(&p).unwrap();
    for name in c.template_names() {
        c.template(&name, &Registry).unwrap();
    }
    t.elapsed().as_secs_f64()
}

#[test]
fn reading_is_linear_in_the_config_size() {
    let fx = Fixture::new();
    let small = load_and_validate_all(&fx, &big_config(1));
    let large = load_and_validate_all(&fx, &big_config(10));
    eprintln!("1 MB: {small:.3} s, 10 MB: {large:.3} s");
    // Linear: ten times the size, about ten times the time (quadratic would be ~100).
    assert!(
        large < 25.0 * small.max(0.01),
        "1 MB took {small:.3} s, 10 MB {large:.3} s: not linear"
    );
}

#[test]
fn a_section_with_a_hundred_thousand_unknown_keys_reports_briefly() {
    let fx = Fixture::new();
    let mut text = good();
    for i in 0..105_000 {
        text.push_str(&format!("unknown_key_{i} = {}\n", "v".repeat(80)));
    }
    let t = std::time::Instant::now();
    let d = errors(&fx.load(&text), "c");
    let took = t.elapsed();
    let shown = d.to_string();
    assert_eq!(d.len(), 105_000);
    assert!(
        shown.lines().count() <= 51,
        "{} lines",
        shown.lines().count()
    );
    assert!(shown.contains("… and 104950 more problems"), "{shown}");
    assert!(took.as_secs_f64() < 10.0, "took {took:?}");
}
