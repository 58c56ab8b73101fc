//! The request table of one MPI reactor.
//!
//! Active requests are kept dense (`reqs[..n]` with their TypeScript ids in `ids[..n]`),
//! so `MPI_Testsome` looks only at requests in flight. Each poll writes the completions it
//! found as `(id, MPI error code)` pairs of `i32` into a ring that TypeScript reads
//! through a typed array built once; there are at most `capacity` completions per poll.

use super::p2p::P2p;
use super::{check, error_string};
use crate::error::{guard, guard_ptr, Error, E_MPI};
use mpi_sys as ffi;
use std::os::raw::c_int;

/// In-flight requests and the completion ring of one reactor.
pub struct Reactor {
    reqs: Vec<ffi::MPI_Request>,
    ids: Vec<u32>,
    indices: Vec<c_int>,
    statuses: Vec<ffi::MPI_Status>,
    pub(super) ring: Vec<i32>,
    capacity: usize,
    /// Point-to-point collectives in flight (see [`super::p2p`]); they count against
    /// `capacity` like requests.
    pub(super) p2p: Vec<P2p>,
    /// Scratch buffers of finished point-to-point calls, kept for the next ones.
    spare: Vec<Vec<u8>>,
}

/// How many scratch buffers a reactor keeps for reuse.
const SPARE_MAX: usize = 4;

impl Reactor {
    /// Whether one more request or point-to-point call fits.
    pub(super) fn full(&self) -> bool {
        self.reqs.len() + self.p2p.len() >= self.capacity
    }
    /// A scratch buffer (the largest kept one, or a new empty one).
    pub(super) fn scratch(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }
    /// Keeps `v` for a later call, largest last (it is the one [`Reactor::scratch`] takes).
    pub(super) fn recycle(&mut self, v: Vec<u8>) {
        if v.capacity() == 0 {
            return;
        }
        self.spare.push(v);
        self.spare.sort_unstable_by_key(|v| v.capacity());
        if self.spare.len() > SPARE_MAX {
            self.spare.remove(0);
        }
    }
}

pub(super) fn reactor<'a>(r: *mut Reactor, what: &str) -> Result<&'a mut Reactor, Error> {
    if r.is_null() {
        return Err(Error::errno(
            libc::EINVAL,
            format!("{what}: null reactor handle"),
        ));
    }
    // SAFETY: non-null handles come from pluvio_mpi_reactor_create and live until
    // pluvio_mpi_reactor_destroy; TypeScript uses them from one thread only.
    Ok(unsafe { &mut *r })
}

/// Starts one request with `start` (which receives where to store the `MPI_Request`) and
/// records it under `id`. Fails with `EAGAIN` when the table is full.
pub fn post(
    r: *mut Reactor,
    id: u32,
    what: &str,
    start: impl FnOnce(*mut ffi::MPI_Request) -> c_int,
) -> Result<i32, Error> {
    let r = reactor(r, what)?;
    if r.full() {
        return Err(Error::errno(
            libc::EAGAIN,
            format!("{what}: all {} request slots are in flight", r.capacity),
        ));
    }
    // SAFETY: reading a link-time constant.
    let mut req = unsafe { ffi::RSMPI_REQUEST_NULL };
    check(start(&mut req), what)?;
    r.reqs.push(req);
    r.ids.push(id);
    Ok(0)
}

/// Creates a reactor able to hold `capacity` requests in flight (1..=1<<20).
#[no_mangle]
pub extern "C" fn pluvio_mpi_reactor_create(capacity: u32) -> *mut Reactor {
    guard_ptr(|| {
        if capacity == 0 || capacity > 1 << 20 {
            return Err(Error::errno(
                libc::EINVAL,
                format!("MPI reactor capacity {capacity} is outside 1..=1048576"),
            ));
        }
        super::require_active("MPI reactor")?;
        let cap = capacity as usize;
        // SAFETY: MPI_Status is plain old data; all-zero is a valid value.
        let zero: ffi::MPI_Status = unsafe { std::mem::zeroed() };
        Ok(Box::into_raw(Box::new(Reactor {
            reqs: Vec::with_capacity(cap),
            ids: Vec::with_capacity(cap),
            indices: vec![0; cap],
            statuses: vec![zero; cap],
            ring: vec![0; 2 * cap],
            capacity: cap,
            p2p: Vec::new(),
            spare: Vec::new(),
        })))
    })
}

/// Address of the completion ring: `2 * capacity` `i32`s, `(id, error)` pairs.
#[no_mangle]
pub extern "C" fn pluvio_mpi_reactor_ring(r: *mut Reactor) -> *mut i32 {
    guard_ptr(|| Ok(reactor(r, "MPI reactor ring")?.ring.as_mut_ptr()))
}

/// Number of requests in flight.
#[no_mangle]
pub extern "C" fn pluvio_mpi_reactor_inflight(r: *mut Reactor) -> i32 {
    guard(|| {
        let r = reactor(r, "MPI reactor")?;
        Ok((r.reqs.len() + r.p2p.len()) as i32)
    })
}

/// Tests the requests in flight with `MPI_Testsome` and advances the point-to-point
/// collectives, repeating for up to `spin_ns`
/// nanoseconds while nothing completes (MPI progresses only inside these calls, and a
/// native loop polls far more often than one FFI call per executor turn); writes the
/// completed requests to the ring and returns how many. A request that failed carries its
/// MPI error code in the ring. A failure of `MPI_Testsome` itself is returned as `E_MPI`
/// (the requests stay in flight).
#[no_mangle]
pub extern "C" fn pluvio_mpi_reactor_poll(r: *mut Reactor, spin_ns: u32) -> i32 {
    guard(|| {
        let r = reactor(r, "MPI_Testsome")?;
        if r.reqs.is_empty() && r.p2p.is_empty() {
            return Ok(0);
        }
        let mut deadline = 0;
        loop {
            let mut n = if r.reqs.is_empty() { 0 } else { test_some(r)? };
            if !r.p2p.is_empty() {
                n += super::p2p::advance_all(r, n as usize) as i32;
            }
            if n > 0 || spin_ns == 0 {
                return Ok(n);
            }
            let now = crate::sys::now_ns();
            if deadline == 0 {
                deadline = now + spin_ns as u64;
            } else if now >= deadline {
                return Ok(0);
            }
        }
    })
}

/// One `MPI_Testsome` over the requests in flight (at least one).
fn test_some(r: &mut Reactor) -> Result<i32, Error> {
    let n = r.reqs.len();
    let mut out: c_int = 0;
    // SAFETY: reqs holds n live requests; indices and statuses hold capacity >= n
    // entries, as many as MPI_Testsome may write.
    let rc = unsafe {
        ffi::MPI_Testsome(
            n as c_int,
            r.reqs.as_mut_ptr(),
            &mut out,
            r.indices.as_mut_ptr(),
            r.statuses.as_mut_ptr(),
        )
    };
    let in_status = rc == ffi::MPI_ERR_IN_STATUS as c_int;
    if rc != ffi::MPI_SUCCESS as c_int && !in_status {
        return Err(Error::code(
            E_MPI,
            format!("MPI_Testsome failed (MPI error {rc}): {}", error_string(rc)),
        ));
    }
    // SAFETY: reading a link-time constant.
    if out == unsafe { ffi::RSMPI_UNDEFINED } || out <= 0 {
        return Ok(0);
    }
    let out = out as usize;
    for k in 0..out {
        let idx = r.indices[k] as usize;
        r.ring[2 * k] = r.ids[idx] as i32;
        r.ring[2 * k + 1] = if in_status {
            r.statuses[k].MPI_ERROR
        } else {
            0
        };
    }
    // Remove completed entries from the back so swap_remove never moves one that is
    // still to be removed.
    let done = &mut r.indices[..out];
    done.sort_unstable_by(|a, b| b.cmp(a));
    for &idx in done.iter() {
        r.reqs.swap_remove(idx as usize);
        r.ids.swap_remove(idx as usize);
    }
    Ok(out as i32)
}

/// Frees a reactor. Fails with `EBUSY` while requests are in flight (their buffers and
/// requests would be lost).
#[no_mangle]
pub extern "C" fn pluvio_mpi_reactor_destroy(r: *mut Reactor) -> i32 {
    guard(|| {
        if r.is_null() {
            return Ok(0);
        }
        let n = {
            let r = reactor(r, "MPI reactor destroy")?;
            r.reqs.len() + r.p2p.len()
        };
        if n > 0 {
            return Err(Error::errno(
                libc::EBUSY,
                format!("MPI reactor destroy: {n} requests are still in flight"),
            ));
        }
        // SAFETY: `r` came from Box::into_raw in pluvio_mpi_reactor_create; TypeScript
        // forgets the handle after this call.
        drop(unsafe { Box::from_raw(r) });
        Ok(0)
    })
}
