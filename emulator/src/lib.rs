//! Azure classic (Service Management API) emulator: HTTPS with client certificates,
//! ASM XML, async operations, exclusivity, quotas, faults, and VMs through a backend.

pub mod vm;
