//! `MPI_I*` collectives posted into a reactor's request table.
//!
//! Every export takes the reactor, the communicator handle and the request `id` under
//! which the completion is reported, then the MPI arguments with the element type and
//! reduction as indices (see [`super::types`]). `in_place != 0` replaces the buffer MPI
//! allows to be `MPI_IN_PLACE` (send, or recv at the root of `scatter`) with the header's
//! sentinel. Buffers must stay alive until the completion is reported; TypeScript keeps
//! them referenced. Counts are `int` in MPI: TypeScript rejects larger ones first.

use super::comm::{comm, Comm};
use super::reactor::{post, Reactor};
use super::types::{count, datatype, elem_size, in_place, op};
use crate::error::guard;
use mpi_sys as ffi;
use std::os::raw::c_void;

fn or_in_place(buf: *mut c_void, flag: i32) -> *mut c_void {
    if flag != 0 {
        in_place()
    } else {
        buf
    }
}

/// `MPI_Iallreduce(send | MPI_IN_PLACE, recv, count, dtype, op)`.
#[no_mangle]
pub extern "C" fn pluvio_mpi_iallreduce(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    send: *mut c_void,
    recv: *mut c_void,
    n: i32,
    dtype: i32,
    reduce: i32,
    inplace: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Iallreduce";
        let (c, n, dt, o) = (
            comm(c, WHAT)?,
            count(n, WHAT)?,
            datatype(dtype)?,
            op(reduce, dtype)?,
        );
        let send = or_in_place(send, inplace);
        // SAFETY: buffers hold `n` elements and stay referenced until completion.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Iallreduce(send, recv, n, dt, o, c.raw, req)
        })
    })
}

/// Allreduce in place over `buf` (`n` elements) as request `id`, with the blocking
/// call's algorithms run as point-to-point steps (see [`super::p2p`]), falling back to
/// `MPI_Iallreduce` where they do not fit. Drives the call for up to `spin_ns` without a
/// step completing: returns 1 when it is already over (no completion will be reported;
/// the buffer holds the result), 0 when its completion comes through the ring.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn pluvio_mpi_allreduce_p2p(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    buf: *mut c_void,
    n: i32,
    dtype: i32,
    reduce: i32,
    spin_ns: u32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "allreduce";
        let (c, n, dt, o, es) = (
            comm(c, WHAT)?,
            count(n, WHAT)?,
            datatype(dtype)?,
            op(reduce, dtype)?,
            elem_size(dtype)?,
        );
        let reactor = super::reactor::reactor(r, WHAT)?;
        if reactor.full() {
            return Err(crate::error::Error::errno(
                libc::EAGAIN,
                format!("{WHAT}: every request slot is in flight"),
            ));
        }
        let (mut rank, mut size) = (0, 0);
        // SAFETY: a live communicator; each writes one int.
        unsafe {
            super::check(ffi::MPI_Comm_rank(c.raw, &mut rank), "MPI_Comm_rank")?;
            super::check(ffi::MPI_Comm_size(c.raw, &mut size), "MPI_Comm_size")?;
        }
        let (n, size) = (n as usize, size as usize);
        if n == 0 || size == 1 {
            return Ok(1);
        }
        let Some(alg) = super::p2p::choose(n * es, n, size) else {
            // SAFETY: buf holds `n` elements and stays referenced until completion.
            return post(r, id, "MPI_Iallreduce", |req| unsafe {
                ffi::MPI_Iallreduce(in_place(), buf, n as i32, dt, o, c.raw, req)
            });
        };
        super::p2p::start(
            reactor,
            c,
            id,
            buf as *mut u8,
            n,
            es,
            dt,
            o,
            rank as usize,
            size,
            alg,
            spin_ns,
        )
    })
}

/// `MPI_Ireduce(send | MPI_IN_PLACE at root, recv, count, dtype, op, root)`.
#[no_mangle]
pub extern "C" fn pluvio_mpi_ireduce(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    send: *mut c_void,
    recv: *mut c_void,
    n: i32,
    dtype: i32,
    reduce: i32,
    root: i32,
    inplace: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Ireduce";
        let (c, n, dt, o) = (
            comm(c, WHAT)?,
            count(n, WHAT)?,
            datatype(dtype)?,
            op(reduce, dtype)?,
        );
        let send = or_in_place(send, inplace);
        // SAFETY: buffers hold `n` elements (recv only at the root) and stay referenced.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Ireduce(send, recv, n, dt, o, root, c.raw, req)
        })
    })
}

/// `MPI_Ibcast(buf, count, dtype, root)`.
#[no_mangle]
pub extern "C" fn pluvio_mpi_ibcast(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    buf: *mut c_void,
    n: i32,
    dtype: i32,
    root: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Ibcast";
        let (c, n, dt) = (comm(c, WHAT)?, count(n, WHAT)?, datatype(dtype)?);
        // SAFETY: buf holds `n` elements and stays referenced until completion.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Ibcast(buf, n, dt, root, c.raw, req)
        })
    })
}

/// `MPI_Iscatter(send, n, recv | MPI_IN_PLACE at root, n, root)`: `n` elements per rank.
#[no_mangle]
pub extern "C" fn pluvio_mpi_iscatter(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    send: *mut c_void,
    recv: *mut c_void,
    n: i32,
    dtype: i32,
    root: i32,
    inplace: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Iscatter";
        let (c, n, dt) = (comm(c, WHAT)?, count(n, WHAT)?, datatype(dtype)?);
        let recv = or_in_place(recv, inplace);
        // SAFETY: send holds n * size elements at the root, recv n; both stay referenced.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Iscatter(send, n, dt, recv, n, dt, root, c.raw, req)
        })
    })
}

/// `MPI_Igather(send | MPI_IN_PLACE at root, n, recv, n, root)`: `n` elements per rank.
#[no_mangle]
pub extern "C" fn pluvio_mpi_igather(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    send: *mut c_void,
    recv: *mut c_void,
    n: i32,
    dtype: i32,
    root: i32,
    inplace: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Igather";
        let (c, n, dt) = (comm(c, WHAT)?, count(n, WHAT)?, datatype(dtype)?);
        let send = or_in_place(send, inplace);
        // SAFETY: send holds n elements, recv n * size at the root; both stay referenced.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Igather(send, n, dt, recv, n, dt, root, c.raw, req)
        })
    })
}

/// `MPI_Iallgather(send | MPI_IN_PLACE, n, recv, n)`: `n` elements per rank.
#[no_mangle]
pub extern "C" fn pluvio_mpi_iallgather(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    send: *mut c_void,
    recv: *mut c_void,
    n: i32,
    dtype: i32,
    inplace: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Iallgather";
        let (c, n, dt) = (comm(c, WHAT)?, count(n, WHAT)?, datatype(dtype)?);
        let send = or_in_place(send, inplace);
        // SAFETY: send holds n elements, recv n * size; both stay referenced.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Iallgather(send, n, dt, recv, n, dt, c.raw, req)
        })
    })
}

/// `MPI_Ireduce_scatter_block(send | MPI_IN_PLACE, recv, n, dtype, op)`: `n` per rank.
#[no_mangle]
pub extern "C" fn pluvio_mpi_ireduce_scatter_block(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    send: *mut c_void,
    recv: *mut c_void,
    n: i32,
    dtype: i32,
    reduce: i32,
    inplace: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Ireduce_scatter_block";
        let (c, n, dt, o) = (
            comm(c, WHAT)?,
            count(n, WHAT)?,
            datatype(dtype)?,
            op(reduce, dtype)?,
        );
        let send = or_in_place(send, inplace);
        // SAFETY: send holds n * size elements, recv n; both stay referenced.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Ireduce_scatter_block(send, recv, n, dt, o, c.raw, req)
        })
    })
}

/// `MPI_Ialltoall(send | MPI_IN_PLACE, n, recv, n)`: `n` elements to and from each rank.
#[no_mangle]
pub extern "C" fn pluvio_mpi_ialltoall(
    r: *mut Reactor,
    c: *const Comm,
    id: u32,
    send: *mut c_void,
    recv: *mut c_void,
    n: i32,
    dtype: i32,
    inplace: i32,
) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Ialltoall";
        let (c, n, dt) = (comm(c, WHAT)?, count(n, WHAT)?, datatype(dtype)?);
        let send = or_in_place(send, inplace);
        // SAFETY: send and recv hold n * size elements; both stay referenced.
        post(r, id, WHAT, |req| unsafe {
            ffi::MPI_Ialltoall(send, n, dt, recv, n, dt, c.raw, req)
        })
    })
}

/// `MPI_Ibarrier`.
#[no_mangle]
pub extern "C" fn pluvio_mpi_ibarrier(r: *mut Reactor, c: *const Comm, id: u32) -> i32 {
    guard(|| {
        const WHAT: &str = "MPI_Ibarrier";
        let c = comm(c, WHAT)?;
        // SAFETY: a live communicator; the request slot is provided by `post`.
        post(r, id, WHAT, |req| unsafe { ffi::MPI_Ibarrier(c.raw, req) })
    })
}

/// Blocking `MPI_Allreduce(MPI_IN_PLACE, buf, count, dtype, op)`: Open MPI's tuned
/// algorithms for large buffers, which its non-blocking collectives (libnbc) lack. Waits
/// for the other ranks: TypeScript runs it as a `nonblocking` FFI call on a helper
/// thread while no other thread calls MPI. Errors go to `pluvio_mpi_blocking_error`.
#[no_mangle]
pub extern "C" fn pluvio_mpi_allreduce_blocking(
    c: *const Comm,
    buf: *mut c_void,
    n: i32,
    dtype: i32,
    reduce: i32,
) -> i32 {
    super::init::guard_blocking(|| {
        const WHAT: &str = "MPI_Allreduce";
        let (c, n, dt, o) = (
            comm(c, WHAT)?,
            count(n, WHAT)?,
            datatype(dtype)?,
            op(reduce, dtype)?,
        );
        // SAFETY: buf holds n elements and stays referenced by TypeScript until this
        // call returns; a live communicator.
        super::check(
            unsafe { ffi::MPI_Allreduce(in_place(), buf, n, dt, o, c.raw) },
            WHAT,
        )?;
        Ok(0)
    })
}
