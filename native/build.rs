//! Lets the cdylib find the UCX that `ucx1-sys` builds: `native/build.ts` links
//! `libucp.so.0` next to `libpluvio.so`, and `$ORIGIN` makes the loader look there.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN");
    println!("cargo:rerun-if-changed=build.rs");
}
