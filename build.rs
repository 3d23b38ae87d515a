//! Rebuilds the crate when a file under `web/static/` (embedded in the binary) is added,
//! changed or removed.

fn main() {
    println!("cargo:rerun-if-changed=web/static");
}
