//! VM deployments and their roles, the heart of the classic face. Split by job: `request`
//! reads Azure's XML into roles, `validate` checks them against the subscription,
//! `addresses` gives new roles their subnet address and public IP,
//! `handlers` and `power` accept the requests as asynchronous operations, `render` writes
//! Get Deployment / Get Role. What the operations do when they complete is the engine's
//! (`engine::effects`); VMs exist only through the `VmBackend`.

mod addresses;
mod find;
mod handlers;
mod power;
mod render;
mod request;
mod validate;

pub use find::Which;
pub use handlers::{add_role, create, delete, delete_role, get, get_role};
pub use power::{reboot_instance, role_operation};
pub use render::write_deployment;
