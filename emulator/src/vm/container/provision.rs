//! First-boot provisioning of one VM, written from the host into its not yet booted
//! overlay — what Azure's Linux agent did from inside: host name, `/etc/hosts`, the Azure
//! user with passwordless sudo and its `authorized_keys`, sshd's password policy, the
//! network configuration, the shared `/home` mount point, custom data where the agent
//! keeps it. It must never write outside the VM's root (and the network's shared /home)
//! and never follow a symlink a VM could have planted.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use super::super::{VmError, VmSpec};
use super::net::VmNet;
use super::sys;

/// `base` joined with the relative form of `path`, refusing `..` and any existing symlink
/// on the way (a VM could have planted one to make the host write elsewhere).
fn safe_join(base: &Path, path: &str) -> Result<PathBuf, VmError> {
    let mut out = base.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => {
                out.push(n);
                if fs::symlink_metadata(&out).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(VmError::Host(format!(
                        "refusing to follow symlink {}",
                        out.display()
                    )));
                }
            }
            _ => {
                return Err(VmError::Host(format!(
                    "path `{path}` must be absolute without `..`"
                )))
            }
        }
    }
    Ok(out)
}

fn write_file(path: &Path, content: &str, mode: u32) -> Result<(), VmError> {
    let mut f = fs::File::create(path).map_err(|e| sys::io_err("cannot write", path, e))?;
    f.write_all(content.as_bytes())
        .map_err(|e| sys::io_err("cannot write", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| sys::io_err("cannot chmod", path, e))
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), VmError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| sys::io_err("cannot chown", path, e))
}

/// uid and gid of `user` in the VM's /etc/passwd.
fn lookup_user(merged: &Path, user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string(merged.join("etc/passwd")).ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// Point the VM's apt at the emulator's package cache (rewritten at every boot).
pub fn write_apt_proxy(merged: &Path, config: &str) -> Result<(), VmError> {
    let dir = safe_join(merged, "/etc/apt/apt.conf.d")?;
    fs::create_dir_all(&dir).map_err(|e| sys::io_err("cannot create", &dir, e))?;
    let file = safe_join(merged, "/etc/apt/apt.conf.d/00azure-emulator-proxy")?;
    write_file(&file, config, 0o644)
}

pub fn validate_spec(spec: &VmSpec) -> Result<(), VmError> {
    let h = &spec.hostname;
    if h.is_empty()
        || h.len() > 63
        || !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || h.starts_with('-')
    {
        return Err(VmError::Host(format!(
            "host name `{h}` is not a valid host name (1–63 letters, digits, `-`)"
        )));
    }
    let u = &spec.user;
    let ok_first = u
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !ok_first
        || u.len() > 32
        || !u
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(VmError::Host(format!(
            "user name `{u}` is not a valid Linux user name"
        )));
    }
    if u == "root" {
        return Err(VmError::Host("user name `root` is reserved".into()));
    }
    for (line, path) in &spec.authorized_keys {
        if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(VmError::Host(format!(
                "SSH key path `{path}` must be absolute without `..`"
            )));
        }
        if line.contains('\n') {
            return Err(VmError::Host(
                "an SSH public key must be a single line".into(),
            ));
        }
    }
    Ok(())
}

/// First-boot provisioning, from the host into the (not yet booted) overlay: what Azure's
/// Linux agent did from inside. Runs once per VM (the overlay keeps the result).
pub fn provision(
    merged: &Path,
    spec: &VmSpec,
    net: &VmNet,
    shared_home: Option<&Path>,
) -> Result<(), VmError> {
    let etc = safe_join(merged, "/etc")?;
    write_file(
        &etc.join("hostname"),
        &format!("{}\n", spec.hostname),
        0o644,
    )?;
    write_file(
        &etc.join("hosts"),
        &format!(
            "127.0.0.1\tlocalhost\n{}\t{}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
            net.addr, spec.hostname
        ),
        0o644,
    )?;

    // The user, with passwordless sudo.
    if lookup_user(merged, &spec.user).is_none() {
        let home_flag = if shared_home.is_some() { "-M" } else { "-m" };
        sys::run(
            "useradd",
            [
                "--root".as_ref(),
                merged.as_os_str(),
                home_flag.as_ref(),
                "-s".as_ref(),
                "/bin/bash".as_ref(),
                "-G".as_ref(),
                "sudo".as_ref(),
                "-c".as_ref(),
                "Azure provisioned user".as_ref(),
                spec.user.as_str().as_ref(),
            ] as [&std::ffi::OsStr; 10],
        )?;
    }
    let (uid, gid) = lookup_user(merged, &spec.user)
        .ok_or_else(|| VmError::Host(format!("user `{}` missing after useradd", spec.user)))?;
    match &spec.password {
        Some(pw) => {
            let mut child = Command::new("chpasswd")
                .arg("--root")
                .arg(merged)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| VmError::Host(format!("cannot run chpasswd: {e}")))?;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = writeln!(stdin, "{}:{}", spec.user, pw);
            }
            let out = child
                .wait_with_output()
                .map_err(|e| VmError::Host(format!("chpasswd: {e}")))?;
            if !out.status.success() {
                return Err(VmError::Host(format!(
                    "chpasswd failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        None => {
            // Not locked ('!'), just no password: key logins work whatever sshd's UsePAM says.
            sys::run(
                "usermod",
                [
                    "--root".as_ref(),
                    merged.as_os_str(),
                    "-p".as_ref(),
                    "*".as_ref(),
                    spec.user.as_str().as_ref(),
                ] as [&std::ffi::OsStr; 5],
            )?;
        }
    }
    let sudoers = safe_join(merged, "/etc/sudoers.d")?;
    fs::create_dir_all(&sudoers).map_err(|e| sys::io_err("cannot create", &sudoers, e))?;
    write_file(
        &sudoers.join("90-azure-user"),
        &format!("# Written by the emulator's provisioning (Azure agent stand-in)\n{} ALL=(ALL) NOPASSWD:ALL\n", spec.user),
        0o440,
    )?;

    // Home directory on the shared /home, from the image's skeleton.
    if let Some(shared) = shared_home {
        let home = safe_join(shared, &spec.user)?;
        if !home.exists() {
            fs::create_dir_all(&home).map_err(|e| sys::io_err("cannot create", &home, e))?;
            if let Ok(entries) = fs::read_dir(merged.join("etc/skel")) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_file()) {
                        let dst = home.join(e.file_name());
                        fs::copy(e.path(), &dst)
                            .map_err(|err| sys::io_err("cannot copy skeleton to", &dst, err))?;
                        chown(&dst, uid, gid)?;
                    }
                }
            }
            chown(&home, uid, gid)?;
            fs::set_permissions(&home, fs::Permissions::from_mode(0o755))
                .map_err(|e| sys::io_err("cannot chmod", &home, e))?;
        }
    }

    // authorized_keys, grouped by target path.
    let mut by_path: Vec<(&str, Vec<&str>)> = Vec::new();
    for (line, path) in &spec.authorized_keys {
        match by_path.iter_mut().find(|(p, _)| p == path) {
            Some((_, lines)) => lines.push(line),
            None => by_path.push((path, vec![line])),
        }
    }
    for (path, lines) in by_path {
        let host_path = match (shared_home, path.strip_prefix("/home/")) {
            (Some(shared), Some(rest)) => safe_join(shared, rest)?,
            _ => safe_join(merged, path)?,
        };
        let parent = host_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if !parent.exists() {
            fs::create_dir_all(&parent).map_err(|e| sys::io_err("cannot create", &parent, e))?;
            fs::set_permissions(&parent, fs::Permissions::from_mode(0o700))
                .map_err(|e| sys::io_err("cannot chmod", &parent, e))?;
            chown(&parent, uid, gid)?;
        }
        let mut content = String::new();
        if let Ok(existing) = fs::read_to_string(&host_path) {
            content = existing;
        }
        for l in lines {
            if !content.lines().any(|x| x.trim() == l.trim()) {
                if !content.is_empty() && !content.ends_with('\n') {
                    content.push('\n');
                }
                content.push_str(l.trim());
                content.push('\n');
            }
        }
        write_file(&host_path, &content, 0o600)?;
        chown(&host_path, uid, gid)?;
    }

    // sshd password policy, as the agent set it.
    let dropin = safe_join(merged, "/etc/ssh/sshd_config.d")?;
    fs::create_dir_all(&dropin).map_err(|e| sys::io_err("cannot create", &dropin, e))?;
    let pw = if spec.disable_ssh_password_authentication {
        "no"
    } else {
        "yes"
    };
    write_file(
        &dropin.join("50-azure-provisioning.conf"),
        &format!("# Written by the emulator's provisioning (DisableSshPasswordAuthentication)\nPasswordAuthentication {pw}\nKbdInteractiveAuthentication no\n"),
        0o644,
    )?;

    if let Some(data) = &spec.custom_data {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| VmError::Host(format!("custom data is not base64: {e}")))?;
        let dir = safe_join(merged, "/var/lib/waagent")?;
        fs::create_dir_all(&dir).map_err(|e| sys::io_err("cannot create", &dir, e))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| sys::io_err("cannot chmod", &dir, e))?;
        let path = dir.join("CustomData");
        let mut f = fs::File::create(&path).map_err(|e| sys::io_err("cannot write", &path, e))?;
        f.write_all(&bytes)
            .map_err(|e| sys::io_err("cannot write", &path, e))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|e| sys::io_err("cannot chmod", &path, e))?;
    }

    if spec.fail_provisioning {
        // Provisioning "fails": sshd never comes up, so the VM never answers.
        let units = safe_join(merged, "/etc/systemd/system")?;
        for unit in ["ssh.service", "ssh.socket", "ssh-hostkeys.service"] {
            let p = units.join(unit);
            let _ = fs::remove_file(&p);
            symlink("/dev/null", &p).map_err(|e| sys::io_err("cannot mask", &p, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_join_refuses_escapes_and_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(safe_join(dir.path(), "/home/../etc").is_err());
        let ok = safe_join(dir.path(), "/home/u/.ssh/authorized_keys").expect("plain path");
        assert!(ok.starts_with(dir.path()));
        fs::create_dir_all(dir.path().join("home")).expect("mkdir");
        symlink("/etc", dir.path().join("home/u")).expect("symlink");
        assert!(safe_join(dir.path(), "/home/u/.ssh/authorized_keys").is_err());
    }
}
