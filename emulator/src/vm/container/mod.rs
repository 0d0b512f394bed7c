//! The `container` backend: each role is a real host booted with systemd-nspawn over an
//! overlay of a debootstrapped image, in its own network namespace on a per-emulator
//! bridge, reachable through loopback forwarders that play Azure's load balancer.
//! It must never change the host beyond what it records and removes again.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{ImageInfo, VmBackend, VmError, VmInfo, VmSpec, VmStatus};

/// Options of the container backend (set from the emulator's command line).
#[derive(Clone, Debug)]
pub struct ContainerOptions {
    /// Where instance overlays, logs and backend state live (under the emulator state dir).
    pub state_dir: PathBuf,
    /// Image cache directory (default `/var/cache/azure-classic-emulator/images`).
    pub image_dir: PathBuf,
    /// Bind one host directory per virtual network as `/home` in every VM of that network
    /// (stand-in for the NFS export this kernel cannot serve).
    pub shared_home: bool,
}

/// Options of `azure-classic-emulator build-image NAME`.
#[derive(Clone, Debug)]
pub struct ImageOptions {
    pub name: String,
    pub image_dir: PathBuf,
    /// Rebuild even when the cached image matches the recipe.
    pub force: bool,
}

/// Build (or reuse, when the recipe is unchanged) an image; returns its root directory.
pub fn build_image(opts: &ImageOptions) -> Result<PathBuf, VmError> {
    Err(VmError::Prerequisite(format!(
        "building image `{}` is not implemented yet",
        opts.name
    )))
}

pub struct ContainerBackend {
    #[allow(dead_code)]
    opts: ContainerOptions,
}

impl ContainerBackend {
    /// Checks prerequisites (root, systemd-nspawn, images) and fails with a clear error.
    pub fn new(opts: ContainerOptions) -> Result<Self, VmError> {
        let _ = &opts;
        Err(VmError::Prerequisite(
            "the container backend is not implemented yet".into(),
        ))
    }
}

#[async_trait]
impl VmBackend for ContainerBackend {
    fn name(&self) -> &'static str {
        "container"
    }
    fn images(&self) -> Vec<ImageInfo> {
        Vec::new()
    }
    async fn create(&self, spec: &VmSpec) -> Result<VmInfo, VmError> {
        Err(VmError::NotFound(spec.id.clone()))
    }
    async fn status(&self, _id: &str) -> VmStatus {
        VmStatus::Unknown
    }
    async fn stop(&self, id: &str) -> Result<(), VmError> {
        Err(VmError::NotFound(id.into()))
    }
    async fn start(&self, id: &str) -> Result<(), VmError> {
        Err(VmError::NotFound(id.into()))
    }
    async fn delete(&self, _id: &str) -> Result<(), VmError> {
        Ok(())
    }
    async fn restore(&self, _vms: &[(VmSpec, VmInfo, bool)]) -> Result<(), VmError> {
        Ok(())
    }
    async fn shutdown(&self) {}
}
