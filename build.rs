//! Build script: only tells Cargo to rebuild when the embedded playbooks change
//! (`include_dir!` cannot track new or edited files on stable Rust by itself).
fn main() {
    println!("cargo:rerun-if-changed=playbooks");
}
