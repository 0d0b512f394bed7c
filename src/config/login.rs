//! `[login/X]`: who to log in as on the nodes and with which SSH key pair (key files must
//! exist; the private one must not be readable by others, as OpenSSH requires).

use super::checker::KeyChecker;
use super::ini::Ini;
use super::Login;

/// Keys allowed in `[login/X]`.
pub const LOGIN_KEYS: &[&str] = &[
    "image_user",
    "image_user_sudo",
    "image_sudo",
    "user_key_name",
    "user_key_private",
    "user_key_public",
];

/// Validate `[login/NAME]` (which must exist).
pub(super) fn check_login(ini: &Ini, name: &str, check: &mut KeyChecker) -> Option<Login> {
    let s = ini.section(&format!("login/{name}"))?;
    let before = check.count();
    check.unknown_keys(&s, LOGIN_KEYS, |_| false);
    let image_user = check.required(
        &s,
        "image_user",
        "add `image_user = USER` (the login user on the VMs)",
    );
    let value_or = |k: &str, default: &str| {
        s.get(k)
            .map(|e| e.value.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    let image_user_sudo = value_or("image_user_sudo", "root");
    let user_key_name = value_or("user_key_name", "elasticluster-key");
    let image_sudo = check.boolean(&s, "image_sudo", true);
    let private = check
        .required(
            &s,
            "user_key_private",
            "add `user_key_private = PATH` to your SSH private key",
        )
        .and_then(|e| {
            check.file(
                &s,
                "user_key_private",
                &e,
                true,
                "the path of your SSH private key",
            )
        });
    let public = check
        .required(
            &s,
            "user_key_public",
            "add `user_key_public = PATH` to your SSH public key",
        )
        .and_then(|e| {
            check.file(
                &s,
                "user_key_public",
                &e,
                false,
                "the path of your SSH public key",
            )
        });
    if check.count() != before {
        return None;
    }
    Some(Login {
        image_user: image_user?.value.trim().to_string(),
        image_user_sudo,
        image_sudo,
        user_key_name,
        user_key_private: private?,
        user_key_public: public?,
    })
}
