//! Build script of the native library.
//!
//! - `ucx` (system UCX): finds the UCX installation (`PLUVIO_UCX_DIR`, else `pkg-config ucx`,
//!   at least 1.13), generates the bindings from its headers and links its `libucp`/`libucs`.
//!   A UCX outside the loader's default paths is found at run time through a run path.
//! - `ucx-bundled`: the bindings and the UCX 1.12.1 build come from `ucx1-sys`;
//!   `native/build.ts` copies that UCX's `lib/` into `ucx/lib` beside `libpluvio.so`, which
//!   the run path `$ORIGIN/ucx/lib` points at.
//! - `mpi`: compiles the MPI backend's C shim with `mpicc`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "ucx")]
    ucx::configure();
    #[cfg(feature = "mpi")]
    mpi_shim();
}

#[cfg(feature = "ucx")]
mod ucx {
    use std::env;
    use std::path::PathBuf;
    use std::process::Command;

    /// The oldest UCX whose API and behaviour the backend is written for (besides the
    /// bundled 1.12.1).
    const MIN_VERSION: &str = "1.13";

    /// Where the UCX headers and libraries are.
    struct Install {
        include: Vec<PathBuf>,
        lib: Vec<PathBuf>,
        version: String,
        /// Whether the libraries are outside the loader's default search path.
        needs_rpath: bool,
    }

    pub fn configure() {
        println!("cargo:rerun-if-env-changed=PLUVIO_UCX_DIR");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
        if env::var_os("CARGO_FEATURE_UCX_BUNDLED").is_some() {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN/ucx/lib");
            // The bundled libucp's own run path names its build directory, so a machine
            // with a UCX installation would give it that installation's libucs/libuct:
            // list all four as needed here, so the loader takes them from the copy
            // beside the library first (later lookups reuse them by soname).
            for arg in [
                "--push-state,--no-as-needed",
                "-lucs",
                "-luct",
                "-lucm",
                "--pop-state",
            ] {
                let arg = if arg.starts_with("--") {
                    format!("-Wl,{arg}")
                } else {
                    arg.into()
                };
                println!("cargo:rustc-cdylib-link-arg={arg}");
            }
            std::fs::write(out.join("ucx_source.txt"), "bundled 1.12.1").expect("write");
            return;
        }
        let ucx = find().unwrap_or_else(|why| {
            panic!(
                "pluvio: no UCX installation found ({why}). Install the site's UCX (Debian: \
                 libucx-dev), point PLUVIO_UCX_DIR at one, or build the bundled UCX 1.12.1 \
                 with PLUVIO_UCX=bundled"
            )
        });
        for dir in &ucx.lib {
            println!("cargo:rustc-link-search=native={}", dir.display());
            if ucx.needs_rpath {
                println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,{}", dir.display());
            }
        }
        println!("cargo:rustc-link-lib=dylib=ucp");
        println!("cargo:rustc-link-lib=dylib=ucs");
        let mut b = bindgen::Builder::default().header("src/ucx/wrapper.h");
        for dir in &ucx.include {
            b = b.clang_arg(format!("-I{}", dir.display()));
            // Header changes of the installation rebuild the bindings.
            println!(
                "cargo:rerun-if-changed={}",
                dir.join("ucp/api/ucp.h").display()
            );
        }
        println!("cargo:rerun-if-changed=src/ucx/wrapper.h");
        let bindings = b
            .allowlist_function("uc[sp]_.*")
            .allowlist_var("uc[sp]_.*")
            .allowlist_var("UC[SP]_.*")
            .allowlist_type("uc[sp]_.*")
            // The same shapes as `ucx1-sys` generates, so one backend source serves both.
            .rustified_enum(".*")
            .bitfield_enum("ucp_feature")
            .bitfield_enum(".*_field")
            .bitfield_enum(".*_flags(_t)?")
            // size_t as u64, as in the `ucx1-sys` bindings the bundled build uses.
            .size_t_is_usize(false)
            .layout_tests(false)
            .generate()
            .expect("pluvio: bindgen failed on the UCX headers");
        bindings
            .write_to_file(out.join("ucx_bindings.rs"))
            .expect("write bindings");
        std::fs::write(
            out.join("ucx_source.txt"),
            format!("system {}", ucx.version),
        )
        .expect("write");
    }

    fn find() -> Result<Install, String> {
        if let Some(dir) = env::var_os("PLUVIO_UCX_DIR") {
            let dir = PathBuf::from(dir);
            let include = dir.join("include");
            if !include.join("ucp/api/ucp.h").exists() {
                return Err(format!(
                    "PLUVIO_UCX_DIR={} has no include/ucp/api/ucp.h",
                    dir.display()
                ));
            }
            let lib = ["lib", "lib64"]
                .iter()
                .map(|l| dir.join(l))
                .find(|l| l.join("libucp.so").exists());
            let lib = lib.ok_or(format!(
                "PLUVIO_UCX_DIR={} has no lib/libucp.so",
                dir.display()
            ))?;
            let version = version_from_header(&include).unwrap_or_else(|| "unknown".into());
            return Ok(Install {
                include: vec![include],
                lib: vec![lib],
                version,
                needs_rpath: true,
            });
        }
        let pc = |args: &[&str]| -> Result<String, String> {
            let o = Command::new("pkg-config")
                .args(args)
                .arg("ucx")
                .output()
                .map_err(|e| format!("pkg-config: {e}"))?;
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
            } else {
                Err(format!(
                    "pkg-config ucx: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
        };
        let version = pc(&["--modversion"])?;
        pc(&[&format!("--atleast-version={MIN_VERSION}")])
            .map_err(|_| format!("pkg-config finds UCX {version}, older than {MIN_VERSION}"))?;
        let flags = |opt: &str, prefix: &str| -> Result<Vec<PathBuf>, String> {
            Ok(pc(&[opt])?
                .split_whitespace()
                .filter_map(|f| f.strip_prefix(prefix).map(PathBuf::from))
                .collect())
        };
        let include = flags("--cflags-only-I", "-I")?;
        let lib = flags("--libs-only-L", "-L")?;
        // pkg-config omits the system directories, which the loader searches anyway.
        let needs_rpath = !lib.is_empty();
        Ok(Install {
            include,
            lib,
            version,
            needs_rpath,
        })
    }

    /// `UCP_API_MAJOR.UCP_API_MINOR` from `ucp/api/ucp_version.h`.
    fn version_from_header(include: &std::path::Path) -> Option<String> {
        let text = std::fs::read_to_string(include.join("ucp/api/ucp_version.h")).ok()?;
        let field = |name: &str| {
            text.lines().find_map(|l| {
                let rest = l
                    .trim()
                    .strip_prefix("#define")?
                    .trim()
                    .strip_prefix(name)?;
                rest.split_whitespace().next().map(str::to_string)
            })
        };
        Some(format!(
            "{}.{}",
            field("UCP_API_MAJOR")?,
            field("UCP_API_MINOR")?
        ))
    }
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
