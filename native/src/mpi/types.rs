//! Element types and reduction operations, addressed by small indices that the
//! TypeScript tables (`lib/collective/dtype.ts`, `lib/collective/ops.ts`) mirror.

use crate::error::Error;
use mpi_sys as ffi;
use std::os::raw::c_void;

extern "C" {
    /// `MPI_IN_PLACE` from `mpi.h` (see `shim.c`).
    fn pluvio_mpi_shim_in_place() -> *mut c_void;
}

/// The header's `MPI_IN_PLACE` sentinel.
pub fn in_place() -> *mut c_void {
    // SAFETY: a pure C function returning a constant.
    unsafe { pluvio_mpi_shim_in_place() }
}

/// Element type by index: f32, f64, i8, i16, i32, i64, u8, u16, u32, u64.
pub fn datatype(index: i32) -> Result<ffi::MPI_Datatype, Error> {
    // SAFETY: reading link-time constants exported by mpi-sys' C shim.
    let dt = unsafe {
        match index {
            0 => ffi::RSMPI_FLOAT,
            1 => ffi::RSMPI_DOUBLE,
            2 => ffi::RSMPI_INT8_T,
            3 => ffi::RSMPI_INT16_T,
            4 => ffi::RSMPI_INT32_T,
            5 => ffi::RSMPI_INT64_T,
            6 => ffi::RSMPI_UINT8_T,
            7 => ffi::RSMPI_UINT16_T,
            8 => ffi::RSMPI_UINT32_T,
            9 => ffi::RSMPI_UINT64_T,
            _ => {
                return Err(Error::errno(
                    libc::EINVAL,
                    format!("unknown element type index {index}"),
                ))
            }
        }
    };
    Ok(dt)
}

/// Whether the element type at `index` is a floating-point type (no bitwise ops).
fn is_float(index: i32) -> bool {
    index == 0 || index == 1
}

/// Reduction by index: sum, prod, min, max, band, bor, bxor. Bitwise operations on a
/// floating-point type are rejected here too (MPI would return `MPI_ERR_OP`).
pub fn op(index: i32, dtype: i32) -> Result<ffi::MPI_Op, Error> {
    if index >= 4 && is_float(dtype) {
        return Err(Error::errno(
            libc::EINVAL,
            format!("bitwise reduction {index} is not defined for floating-point type {dtype}"),
        ));
    }
    // SAFETY: reading link-time constants exported by mpi-sys' C shim.
    let op = unsafe {
        match index {
            0 => ffi::RSMPI_SUM,
            1 => ffi::RSMPI_PROD,
            2 => ffi::RSMPI_MIN,
            3 => ffi::RSMPI_MAX,
            4 => ffi::RSMPI_BAND,
            5 => ffi::RSMPI_BOR,
            6 => ffi::RSMPI_BXOR,
            _ => {
                return Err(Error::errno(
                    libc::EINVAL,
                    format!("unknown reduction index {index}"),
                ))
            }
        }
    };
    Ok(op)
}

/// Rejects a negative element count (TypeScript already rejects counts above `i32::MAX`,
/// MPI's `int` limit, before anything reaches this side).
pub fn count(count: i32, what: &str) -> Result<i32, Error> {
    if count < 0 {
        return Err(Error::errno(
            libc::EINVAL,
            format!("{what}: negative count {count}"),
        ));
    }
    Ok(count)
}

/// Size in bytes of the element type at `index` (see [`datatype`]).
pub fn elem_size(index: i32) -> Result<usize, Error> {
    Ok(match index {
        2 | 6 => 1,
        3 | 7 => 2,
        0 | 4 | 8 => 4,
        1 | 5 | 9 => 8,
        _ => {
            return Err(Error::errno(
                libc::EINVAL,
                format!("unknown element type index {index}"),
            ))
        }
    })
}
