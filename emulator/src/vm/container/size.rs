//! A VM's size on the host: the cores and memory of its role size (the emulator's
//! catalogue) become a cpuset of that many host CPUs (capped at the host's) and a memory
//! limit, in cgroups of the VM nested under the emulator's own cgroup of each controller
//! (so whatever limits and accounting apply to the emulator apply to its VMs too). What
//! the VM *sees* (`/proc/meminfo` and friends) is `lxcfs`'s job. It never writes to a
//! cgroup it did not create.

use std::fs;
use std::path::{Path, PathBuf};

use super::super::VmError;
use super::sys;
use crate::model::{catalog, vm_sizes};

/// What the VM gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmSize {
    /// Host CPUs the VM may run on (`cpuset.cpus`), as many as the role size has cores,
    /// at most all of the emulator's.
    pub cpus: Vec<u32>,
    /// Memory limit in bytes (the role size's `MemoryInMb`).
    pub memory_bytes: u64,
}

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Is this a pure cgroup v2 host (one unified hierarchy at `/sys/fs/cgroup`)?
pub fn unified_only() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

/// The size of a size name — a classic role size (List Role Sizes) or an ARM VM size
/// (`vmSizes`) — for the VM in slot `slot` (the slot rotates which host CPUs a VM smaller
/// than the host gets, so VMs spread over the CPUs).
pub fn for_role(role_size: &str, slot: u16) -> Result<VmSize, VmError> {
    let (cores, memory_mb) = catalog::role_size(role_size)
        .map(|(_, cores, memory_mb, ..)| (*cores, *memory_mb))
        .or_else(|| vm_sizes::vm_size(role_size).map(|s| (s.cores, s.memory_mb)))
        .ok_or_else(|| VmError::Host(format!("unknown role size `{role_size}`")))?;
    let host = emulator_cpus()?;
    let n = (cores as usize).clamp(1, host.len());
    let start = slot as usize % host.len();
    let mut cpus: Vec<u32> = (0..n).map(|i| host[(start + i) % host.len()]).collect();
    cpus.sort_unstable();
    Ok(VmSize {
        cpus,
        memory_bytes: u64::from(memory_mb) * 1024 * 1024,
    })
}

/// The CPUs the emulator itself may use (its affinity: cpuset and taskset both show here).
fn emulator_cpus() -> Result<Vec<u32>, VmError> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity writes at most its size.
    let cpus = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(VmError::Host(format!(
                "cannot read the emulator's CPU affinity: {}",
                std::io::Error::last_os_error()
            )));
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .map(|c| c as u32)
            .collect::<Vec<u32>>()
    };
    if cpus.is_empty() {
        return Err(VmError::Host("the emulator may run on no CPU".into()));
    }
    Ok(cpus)
}

/// A CPU list as cgroups take it (`0,1,3`).
pub fn cpu_list(cpus: &[u32]) -> String {
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The emulator's own cgroup in a v1 controller's hierarchy (from /proc/self/cgroup).
fn own_cgroup(controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        names.split(',').any(|n| n == controller).then_some(path)
    })?;
    let dir = Path::new(CGROUP_ROOT).join(controller);
    dir.join("cgroup.procs")
        .exists()
        .then(|| dir.join(rel.trim_start_matches('/')))
}

/// The VM's cgroups of the cpuset and memory controllers on a cgroup v1 host:
/// `<emulator's cgroup>/<group>/<machine>` in each (none on a pure v2 host, where the
/// VM's unified cgroup carries the limits).
pub fn limit_cgroups(group: &str, machine: &str) -> Vec<PathBuf> {
    if unified_only() {
        return Vec::new();
    }
    ["cpuset", "memory"]
        .iter()
        .filter_map(|c| own_cgroup(c))
        .map(|base| base.join(group).join(machine))
        .collect()
}

fn write(path: &Path, value: &str) -> Result<(), VmError> {
    fs::write(path, value).map_err(|e| sys::io_err(format!("cannot write {value:?} to"), path, e))
}

fn read_trimmed(path: &Path) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A v1 cpuset group starts without CPUs or memory nodes: give it its parent's.
fn init_cpuset_group(group: &Path) -> Result<(), VmError> {
    let Some(parent) = group.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_trimmed(&group.join(file)).is_empty() {
            write(&group.join(file), &read_trimmed(&parent.join(file)))?;
        }
    }
    Ok(())
}

/// Write the size into the VM's (already created) cgroups before any process joins them:
/// the v1 cpuset and memory cgroups, or on a pure v2 host the VM's unified cgroup
/// `unified` (cpuset and memory enabled in its group, which this emulator owns).
pub fn apply(size: &VmSize, v1: &[PathBuf], unified: Option<&Path>) -> Result<(), VmError> {
    let cpus = cpu_list(&size.cpus);
    for cg in v1 {
        let controller = cg
            .strip_prefix(CGROUP_ROOT)
            .ok()
            .and_then(|p| p.components().next())
            .map(|c| c.as_os_str().to_string_lossy().to_string());
        match controller.as_deref() {
            Some("cpuset") => {
                if let Some(group) = cg.parent() {
                    init_cpuset_group(group)?;
                }
                write(&cg.join("cpuset.cpus"), &cpus)?;
                let mems = cg
                    .parent()
                    .map(|g| read_trimmed(&g.join("cpuset.mems")))
                    .unwrap_or_default();
                write(&cg.join("cpuset.mems"), &mems)?;
            }
            Some("memory") => write(
                &cg.join("memory.limit_in_bytes"),
                &size.memory_bytes.to_string(),
            )?,
            _ => {}
        }
    }
    if let Some(cg) = unified.filter(|_| unified_only()) {
        // Untested here (this project's hosts are cgroup v1 hybrids).
        if let Some(group) = cg.parent() {
            write(&group.join("cgroup.subtree_control"), "+cpuset +memory")?;
        }
        write(&cg.join("cpuset.cpus"), &cpus)?;
        write(&cg.join("memory.max"), &size.memory_bytes.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_the_catalogue_and_are_capped_at_the_host() {
        let host = emulator_cpus().unwrap();
        let small = for_role("Small", 4).unwrap();
        assert_eq!(small.cpus.len(), 1);
        assert_eq!(small.memory_bytes, 1792 * 1024 * 1024);
        assert!(host.contains(&small.cpus[0]));
        let big = for_role("Standard_G5", 4).unwrap();
        assert_eq!(big.cpus.len(), host.len().min(32));
        assert_eq!(big.memory_bytes, 458_752 * 1024 * 1024);
        assert!(for_role("Huge", 4).is_err());
        // ARM sizes come from the ARM catalogue.
        let b2s = for_role("Standard_B2s", 300).unwrap();
        assert_eq!(b2s.cpus.len(), host.len().min(2));
        assert_eq!(b2s.memory_bytes, 4096 * 1024 * 1024);
        assert_eq!(for_role("Standard_B1s", 4).unwrap().cpus.len(), 1);
        // Consecutive slots start on consecutive CPUs.
        if host.len() > 1 {
            assert_ne!(for_role("Small", 4).unwrap(), for_role("Small", 5).unwrap());
        }
    }

    #[test]
    fn cpu_lists_are_comma_separated() {
        assert_eq!(cpu_list(&[0, 1, 3]), "0,1,3");
        assert_eq!(cpu_list(&[1]), "1");
    }
}
