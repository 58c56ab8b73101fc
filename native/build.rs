//! Lets the cdylib find the UCX that `ucx1-sys` builds: `native/build.ts` links
//! `libucp.so.0` next to `libpluvio.so`, and `$ORIGIN` makes the loader look there.
//! With the `mpi` feature, also compiles the MPI backend's C shim with `mpicc`.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN");
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "mpi")]
    mpi_shim();
}

/// `MPI_IN_PLACE` and friends are macros of `mpi.h` whose values differ between MPI
/// implementations (Open MPI: `(void *) 1`, MPICH: `(void *) -1`), so they are read from
/// the header through a tiny C file compiled with the same `mpicc` that mpi-sys uses.
#[cfg(feature = "mpi")]
fn mpi_shim() {
    println!("cargo:rerun-if-changed=src/mpi/shim.c");
    println!("cargo:rerun-if-env-changed=MPICC");
    let mpicc = std::env::var("MPICC").unwrap_or_else(|_| "mpicc".into());
    cc::Build::new()
        .compiler(mpicc)
        .file("src/mpi/shim.c")
        .compile("pluvio_mpi_shim");
}
