//! OS images for the container backend: the versioned recipes (embedded from
//! `emulator/images/<name>/`), their content hash, and the cached debootstrap build
//! `<image_dir>/<name>/<recipe-hash>/rootfs`. A build runs in a temporary directory, is
//! published by one atomic rename and is serialised by a flock, so concurrent builders
//! wait and readers never see a half-built image. It must never modify the host outside
//! `image_dir` (chroot work happens in a private mount namespace).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::super::{ImageInfo, VmError};
use super::apt_sources::host_archive;
use super::sys::{self, FileLock};

/// Bump when the build procedure below changes in a way that changes the image.
const BUILDER_VERSION: &str = "1";

/// One image recipe: every file of `emulator/images/<name>/`, embedded at compile time.
pub struct Recipe {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static str)],
}

macro_rules! recipe_files {
    ($dir:literal: $($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../../images/", $dir, "/", $file)))),*]
    };
}

pub static RECIPES: &[Recipe] = &[
    Recipe {
        name: "debian-12-elasticluster",
        files: recipe_files!("debian-12-elasticluster":
            "recipe.conf", "packages.bootstrap", "packages.install",
            "debconf.preseed", "customize.sh"),
    },
    // A cloud's base image: every cluster package comes from the package cache.
    Recipe {
        name: "debian-12-stock",
        files: recipe_files!("debian-12-stock":
            "recipe.conf", "packages.bootstrap", "customize.sh"),
    },
];

pub const DEFAULT_IMAGE: &str = "debian-12-elasticluster";

/// Default image cache directory.
pub const DEFAULT_IMAGE_DIR: &str = "/var/cache/azure-emulator/images";

/// Options of `azure-emulator build-image NAME`.
#[derive(Clone, Debug)]
pub struct ImageOptions {
    pub name: String,
    pub image_dir: PathBuf,
    /// Rebuild even when the cached image matches the recipe.
    pub force: bool,
}

/// Build (or reuse, when the recipe is unchanged) an image; returns its root directory.
/// Progress goes to stderr; takes ≈2–3 min when it really builds. Blocking.
pub fn build_image(opts: &ImageOptions) -> Result<PathBuf, VmError> {
    build(opts)
}

impl Recipe {
    fn file(&self, name: &str) -> &'static str {
        self.files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
            .unwrap_or("")
    }

    pub(super) fn conf(&self, key: &str) -> Option<&'static str> {
        self.file("recipe.conf").lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim())
        })
    }

    fn list(&self, file: &str) -> Vec<&'static str> {
        self.file(file)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    /// Hash of the builder version and every recipe file (name and content).
    pub fn hash(&self) -> String {
        let mut data = format!("builder {BUILDER_VERSION}\n").into_bytes();
        let mut files: Vec<_> = self.files.to_vec();
        files.sort();
        for (name, content) in files {
            data.extend_from_slice(format!("{name}\0{}\0", content.len()).as_bytes());
            data.extend_from_slice(content.as_bytes());
        }
        sys::short_hash(&data, 16)
    }

    pub fn info(&self) -> ImageInfo {
        ImageInfo {
            name: self.name.to_string(),
            label: self.conf("label").unwrap_or(self.name).to_string(),
            os: "Linux".to_string(),
            description: self.conf("description").unwrap_or("").to_string(),
        }
    }
}

pub fn recipe(name: &str) -> Result<&'static Recipe, VmError> {
    RECIPES.iter().find(|r| r.name == name).ok_or_else(|| {
        let known: Vec<&str> = RECIPES.iter().map(|r| r.name).collect();
        VmError::ImageMissing(
            name.to_string(),
            format!("no such image recipe; known images: {}", known.join(", ")),
        )
    })
}

/// The command that builds `name`, for error messages.
pub fn build_hint(name: &str, image_dir: &Path) -> String {
    let dir = if image_dir == Path::new(DEFAULT_IMAGE_DIR) {
        String::new()
    } else {
        format!(" --image-dir {}", image_dir.display())
    };
    format!("build it with `azure-emulator build-image {name}{dir}` (as root, ≈2–3 min)")
}

fn is_built(root: &Path) -> bool {
    // os-release is a symlink to ../usr/lib/os-release: test the target inside the image.
    root.join("usr/lib/os-release").exists()
}

/// The root filesystem of the build of `name` for the *current* recipe, if it exists.
pub fn current_root(image_dir: &Path, name: &str) -> Result<Option<PathBuf>, VmError> {
    let r = recipe(name)?;
    let root = image_dir.join(name).join(r.hash()).join("rootfs");
    Ok(is_built(&root).then_some(root))
}

/// The root filesystem VMs of `name` boot from: the current recipe's build, else (with a
/// warning: the recipe changed since) the newest earlier build, else `ImageMissing` saying
/// how to build it.
pub fn image_root(image_dir: &Path, name: &str) -> Result<PathBuf, VmError> {
    if let Some(root) = current_root(image_dir, name)? {
        return Ok(root);
    }
    let older = fs::read_dir(image_dir.join(name))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().join("rootfs"))
        .filter(|root| is_built(root))
        .max_by_key(|root| {
            fs::metadata(root.with_file_name("image.json"))
                .and_then(|m| m.modified())
                .ok()
        });
    if let Some(root) = older {
        tracing::warn!(
            image = name,
            root = %root.display(),
            "the image recipe changed since this build; {}",
            build_hint(name, image_dir)
        );
        return Ok(root);
    }
    Err(VmError::ImageMissing(
        name.to_string(),
        format!(
            "not built in {}; {}",
            image_dir.display(),
            build_hint(name, image_dir)
        ),
    ))
}

fn progress(msg: &str) {
    eprintln!("build-image: {msg}");
}

/// Build (or reuse) an image. See the module comment for the cache layout.
pub fn build(opts: &ImageOptions) -> Result<PathBuf, VmError> {
    let r = recipe(&opts.name)?;
    let hash = r.hash();
    let name_dir = opts.image_dir.join(r.name);
    let final_dir = name_dir.join(&hash);
    let rootfs = final_dir.join("rootfs");
    if !opts.force && current_root(&opts.image_dir, r.name)?.is_some() {
        progress(&format!("{} is up to date ({})", r.name, rootfs.display()));
        return Ok(rootfs);
    }
    sys::require_root("building an image")?;
    sys::require_tool("debootstrap", "debootstrap")?;
    sys::require_tool("unshare", "util-linux")?;
    sys::require_tool("chroot", "coreutils")?;
    let suite = r.conf("suite").unwrap_or("bookworm");
    let (archive, security) = host_archive(suite)?;

    fs::create_dir_all(&name_dir).map_err(|e| sys::io_err("cannot create", &name_dir, e))?;
    let lock_path = name_dir.join(".build.lock");
    let _lock = match FileLock::try_acquire(&lock_path)? {
        Some(l) => l,
        None => {
            progress(&format!(
                "another build of {} is running; waiting for it",
                r.name
            ));
            FileLock::acquire(&lock_path)?
        }
    };
    if final_dir.exists() {
        if !opts.force && current_root(&opts.image_dir, r.name)?.is_some() {
            progress(&format!(
                "{} was built meanwhile ({})",
                r.name,
                rootfs.display()
            ));
            return Ok(rootfs);
        }
        let old = name_dir.join(format!(".old-{hash}-{}", std::process::id()));
        fs::rename(&final_dir, &old)
            .map_err(|e| sys::io_err("cannot move aside", &final_dir, e))?;
        let _ = fs::remove_dir_all(&old);
    }
    // Under the lock every temporary directory is a leftover of a crashed build.
    if let Ok(entries) = fs::read_dir(&name_dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let tmp = name_dir.join(format!(".tmp-{hash}-{}", std::process::id()));
    fs::create_dir_all(&tmp).map_err(|e| sys::io_err("cannot create", &tmp, e))?;
    let log = tmp.join("build.log");
    let result = build_into(
        r,
        &tmp,
        &log,
        suite,
        &archive,
        security.as_deref(),
        &opts.image_dir,
    );
    match result {
        Ok(secs) => {
            fs::rename(&tmp, &final_dir)
                .map_err(|e| sys::io_err("cannot publish", &final_dir, e))?;
            progress(&format!(
                "{} ready in {secs:.0} s: {}",
                r.name,
                rootfs.display()
            ));
            Ok(rootfs)
        }
        Err(e) => {
            let kept = name_dir.join("last-failed-build.log");
            let _ = fs::copy(&log, &kept);
            let _ = fs::remove_dir_all(&tmp);
            Err(VmError::Host(format!(
                "building image `{}` failed: {e} (log: {})",
                r.name,
                kept.display()
            )))
        }
    }
}

fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<(), VmError> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| sys::io_err("cannot open", log, e))?;
    let err = out
        .try_clone()
        .map_err(|e| sys::io_err("cannot open", log, e))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| VmError::Host(format!("cannot run {what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        let tail = fs::read_to_string(log).unwrap_or_default();
        let last: Vec<&str> = tail.lines().rev().take(5).collect();
        Err(VmError::Host(format!(
            "{what} failed ({status}); last lines: {}",
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )))
    }
}

fn build_into(
    r: &Recipe,
    tmp: &Path,
    log: &Path,
    suite: &str,
    archive: &str,
    security: Option<&str>,
    image_dir: &Path,
) -> Result<f64, VmError> {
    let start = Instant::now();
    let rootfs = tmp.join("rootfs");
    let debs = image_dir.join(".debs");
    fs::create_dir_all(&debs).map_err(|e| sys::io_err("cannot create", &debs, e))?;
    let include = r.list("packages.bootstrap").join(",");
    progress(&format!(
        "[1/3] debootstrap --variant={} {suite} from {archive} (≈1–2 min; log {})",
        r.conf("variant").unwrap_or("minbase"),
        log.display()
    ));
    run_logged(
        Command::new("debootstrap")
            .arg(format!(
                "--variant={}",
                r.conf("variant").unwrap_or("minbase")
            ))
            .arg(format!("--cache-dir={}", debs.display()))
            .arg(format!("--include={include}"))
            .arg(suite)
            .arg(&rootfs)
            .arg(archive),
        log,
        "debootstrap",
    )?;

    progress(&format!(
        "[2/3] customising (installing {} packages)",
        r.list("packages.install").len()
    ));
    let recipe_dir = rootfs.join("tmp/recipe");
    fs::create_dir_all(&recipe_dir).map_err(|e| sys::io_err("cannot create", &recipe_dir, e))?;
    for (name, content) in r.files {
        let p = recipe_dir.join(name);
        fs::write(&p, content).map_err(|e| sys::io_err("cannot write", &p, e))?;
    }
    let policy = rootfs.join("usr/sbin/policy-rc.d");
    fs::write(&policy, "#!/bin/sh\nexit 101\n")
        .map_err(|e| sys::io_err("cannot write", &policy, e))?;
    set_mode(&policy, 0o755)?;
    let resolv = rootfs.join("etc/resolv.conf");
    let _ = fs::remove_file(&resolv);
    fs::copy("/etc/resolv.conf", &resolv)
        .map_err(|e| sys::io_err("cannot copy host resolv.conf to", &resolv, e))?;
    // A build host name that resolves inside the chroot (some postinsts look it up).
    let hosts = rootfs.join("etc/hosts");
    fs::write(&hosts, "127.0.0.1\tlocalhost\n127.0.1.1\timage-build\n")
        .map_err(|e| sys::io_err("cannot write", &hosts, e))?;
    const SCRIPT: &str = r#"set -e
root="$1"
hostname image-build
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"
exec chroot "$root" /bin/sh /tmp/recipe/customize.sh"#;
    run_logged(
        Command::new("unshare")
            .args([
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                SCRIPT,
                "sh",
            ])
            .arg(&rootfs)
            .env("ARCHIVE_URL", archive)
            .env("SECURITY_URL", security.unwrap_or(""))
            .env("SUITE", suite)
            .env("RECIPE_DIR", "/tmp/recipe")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        log,
        "customize.sh",
    )?;

    progress("[3/3] finishing");
    let _ = fs::remove_file(&policy);
    let _ = fs::remove_dir_all(&recipe_dir);
    fs::write(&resolv, "nameserver 127.0.0.1\n")
        .map_err(|e| sys::io_err("cannot write", &resolv, e))?;
    let secs = start.elapsed().as_secs_f64();
    let meta = serde_json::json!({
        "name": r.name,
        "recipe_hash": r.hash(),
        "archive": archive,
        "security_archive": security,
        "build_seconds": secs.round(),
        "built_at": chrono::Utc::now().to_rfc3339(),
    });
    let meta_path = tmp.join("image.json");
    fs::write(&meta_path, meta.to_string())
        .map_err(|e| sys::io_err("cannot write", &meta_path, e))?;
    Ok(secs)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), VmError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| sys::io_err("cannot chmod", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_hash_is_stable_and_content_sensitive() {
        let r = recipe(DEFAULT_IMAGE).expect("default recipe");
        assert_eq!(r.hash(), r.hash());
        assert_eq!(r.hash().len(), 16);
        assert!(r.list("packages.bootstrap").contains(&"openssh-server"));
        assert!(r.list("packages.install").contains(&"slurmd"));
        let other = Recipe {
            name: "x",
            files: &[("recipe.conf", "suite=bookworm\n")],
        };
        assert_ne!(other.hash(), r.hash());
    }

    #[test]
    fn an_outdated_build_is_used_until_the_current_one_exists() {
        let dir = tempfile::tempdir().expect("image dir");
        let missing = image_root(dir.path(), DEFAULT_IMAGE)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            missing.contains("build-image debian-12-elasticluster --image-dir"),
            "{missing}"
        );
        let old = dir
            .path()
            .join(DEFAULT_IMAGE)
            .join("0123456789abcdef/rootfs");
        fs::create_dir_all(old.join("usr/lib")).expect("mkdir");
        fs::write(old.join("usr/lib/os-release"), "ID=debian\n").expect("write");
        assert_eq!(
            image_root(dir.path(), DEFAULT_IMAGE).ok(),
            Some(old.clone())
        );
        assert_eq!(
            current_root(dir.path(), DEFAULT_IMAGE).ok(),
            Some(None),
            "an old build is not current"
        );
        let cur = dir
            .path()
            .join(DEFAULT_IMAGE)
            .join(recipe(DEFAULT_IMAGE).expect("recipe").hash())
            .join("rootfs");
        fs::create_dir_all(cur.join("usr/lib")).expect("mkdir");
        fs::write(cur.join("usr/lib/os-release"), "ID=debian\n").expect("write");
        assert_eq!(image_root(dir.path(), DEFAULT_IMAGE).ok(), Some(cur));
    }

    #[test]
    fn unknown_image_names_the_known_ones() {
        let err = recipe("nope")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("debian-12-elasticluster"), "{err}");
    }
}
