//! Allreduce as point-to-point messages, driven by the reactor.
//!
//! Open MPI's blocking `MPI_Allreduce` (the `tuned` component) runs recursive doubling
//! for small buffers and a ring (reduce-scatter, then allgather) for large ones over its
//! point-to-point layer; its non-blocking `MPI_Iallreduce` (`libnbc`) uses other, slower
//! schedules (2 ranks: 1.5x at 64 KiB, 1.8x at 1 MiB, 2.5x at 16 MiB). This module runs
//! the tuned algorithms as `MPI_Irecv` + `MPI_Isend` steps with `MPI_Reduce_local`, as a
//! state machine that [`advance`](P2p::advance) moves forward without ever waiting, so the
//! JS thread stays free and the collective still runs at the blocking call's speed.
//!
//! Messages go on the caller's communicator with tags from a range reserved for pluvio
//! (see [`tag_range`]) and one tag per call, taken from a per-communicator counter in
//! posting order (every rank posts the collectives of a communicator in the same order,
//! so a call's tag is the same on every rank, and calls in flight at once never match
//! each other's messages). Every operation reduced here is commutative; recursive
//! doubling computes each pair's result in rank order on both sides, so every rank ends
//! with the same bits (NaNs and signed zeros included).

use super::comm::Comm;
use super::reactor::Reactor;
use crate::error::Error;
use mpi_sys as ffi;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

/// From this many bytes on (and at least one element per rank), the ring is used;
/// below it recursive doubling (when the size is a power of two). From
/// `bench/mpi/allreduce.ts` on 2 ranks: doubling 1.0 µs vs ring 2.0 µs at 1 KiB, 36.8 vs
/// 20.7 µs at 64 KiB.
pub const RING_MIN_BYTES: usize = 8192;

/// Which algorithm one call runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Alg {
    /// log2(size) steps, each a full-buffer exchange with rank ^ 2^step.
    Doubling,
    /// size - 1 reduce-scatter steps, then size - 1 allgather steps, around the ring.
    Ring,
}

/// Chooses the algorithm for `n` elements of `bytes` in total over `size` ranks, or
/// `None` when neither fits (a non-power-of-two size with fewer elements than ranks, or
/// below the ring's threshold): the caller falls back to `MPI_Iallreduce`.
pub fn choose(bytes: usize, n: usize, size: usize) -> Option<Alg> {
    let pow2 = size.is_power_of_two();
    if n >= size && (bytes >= RING_MIN_BYTES || !pow2) {
        Some(Alg::Ring)
    } else if pow2 {
        Some(Alg::Doubling)
    } else {
        None
    }
}

/// The start and length (elements) of chunk `c` of `n` elements cut into `size` chunks.
fn chunk(c: usize, n: usize, size: usize) -> (usize, usize) {
    let cs = n.div_ceil(size);
    let a = (c * cs).min(n);
    let b = ((c + 1) * cs).min(n);
    (a, b - a)
}

static TAG_BASE: AtomicU32 = AtomicU32::new(0);
static TAG_SPAN: AtomicU32 = AtomicU32::new(0);
static WORLD_SEQ: AtomicU32 = AtomicU32::new(0);

/// The tags pluvio uses, `(base, span)`: the top of `MPI_TAG_UB` (`2^30 .. 2^30 + 2^20`
/// with Open MPI's `2^31 - 1`), queried once.
fn tag_range() -> (u32, u32) {
    let span = TAG_SPAN.load(Ordering::Relaxed);
    if span != 0 {
        return (TAG_BASE.load(Ordering::Relaxed), span);
    }
    let mut ptr: *mut c_void = std::ptr::null_mut();
    let mut flag: c_int = 0;
    // SAFETY: MPI is active (checked by the caller); MPI_TAG_UB's value is a pointer to
    // an int owned by MPI, written to `ptr`.
    let ub = unsafe {
        let rc = ffi::MPI_Comm_get_attr(
            ffi::RSMPI_COMM_WORLD,
            ffi::MPI_TAG_UB as c_int,
            &mut ptr as *mut *mut c_void as *mut c_void,
            &mut flag,
        );
        if rc == ffi::MPI_SUCCESS as c_int && flag != 0 && !ptr.is_null() {
            *(ptr as *const c_int)
        } else {
            32767 // the least the standard allows
        }
    };
    let ub = ub.max(32767) as u32;
    let (base, span) = if ub >= (1 << 30) + (1 << 20) {
        (1 << 30, 1 << 20)
    } else {
        (ub / 2 + 1, ub - ub / 2)
    };
    TAG_BASE.store(base, Ordering::Relaxed);
    TAG_SPAN.store(span, Ordering::Relaxed);
    (base, span)
}

/// The tag of the next point-to-point collective on `c` (all handles of
/// `MPI_COMM_WORLD` share one counter; every other handle owns its communicator).
pub fn next_tag(c: &Comm) -> c_int {
    let (base, span) = tag_range();
    let seq = if c.owned {
        let s = c.seq.get();
        c.seq.set(s.wrapping_add(1));
        s
    } else {
        WORLD_SEQ.fetch_add(1, Ordering::Relaxed)
    };
    (base + seq % span) as c_int
}

/// One allreduce in flight.
pub struct P2p {
    /// The request id TypeScript waits on.
    pub id: u32,
    comm: ffi::MPI_Comm,
    buf: *mut u8,
    n: usize,
    es: usize,
    dt: ffi::MPI_Datatype,
    op: ffi::MPI_Op,
    rank: usize,
    size: usize,
    tag: c_int,
    alg: Alg,
    step: usize,
    steps: usize,
    reqs: [ffi::MPI_Request; 2],
    posted: bool,
    cancelled: bool,
    /// Scratch for the incoming data (one chunk, or the whole buffer for doubling).
    pub tmp: Vec<u8>,
    /// The first MPI error met (0: none).
    pub error: c_int,
}

/// What a new [`P2p`] is built from.
pub struct Args {
    pub id: u32,
    pub comm: ffi::MPI_Comm,
    pub buf: *mut u8,
    pub n: usize,
    pub es: usize,
    pub dt: ffi::MPI_Datatype,
    pub op: ffi::MPI_Op,
    pub rank: usize,
    pub size: usize,
    pub tag: c_int,
    pub alg: Alg,
}

impl P2p {
    /// A call ready to post its first step; `tmp` is reused scratch (grown here).
    pub fn new(a: Args, mut tmp: Vec<u8>) -> Self {
        let (steps, scratch) = match a.alg {
            Alg::Doubling => (a.size.trailing_zeros() as usize, a.n * a.es),
            Alg::Ring => (2 * (a.size - 1), a.n.div_ceil(a.size) * a.es),
        };
        if tmp.len() < scratch {
            // Zeroed only when it grows: reused scratch is overwritten by receives.
            tmp.resize(scratch, 0);
        }
        // SAFETY: reading a link-time constant.
        let null = unsafe { ffi::RSMPI_REQUEST_NULL };
        P2p {
            id: a.id,
            comm: a.comm,
            buf: a.buf,
            n: a.n,
            es: a.es,
            dt: a.dt,
            op: a.op,
            rank: a.rank,
            size: a.size,
            tag: a.tag,
            alg: a.alg,
            step: 0,
            steps,
            reqs: [null, null],
            posted: false,
            cancelled: false,
            tmp,
            error: 0,
        }
    }

    /// The number of steps completed so far (for progress detection).
    pub fn step(&self) -> usize {
        self.step
    }

    /// Moves the call forward as far as it goes without waiting; true once it is over
    /// (successfully, or with [`P2p::error`] set and no request of it left in MPI).
    pub fn advance(&mut self) -> bool {
        loop {
            if self.posted {
                if !self.test() {
                    return false;
                }
                self.posted = false;
                if self.error != 0 {
                    return true;
                }
                if let Err(rc) = self.finish_step() {
                    self.error = rc;
                    return true;
                }
                self.step += 1;
            }
            if self.step >= self.steps {
                return true;
            }
            self.post_step();
            if !self.posted {
                return true; // posting failed before anything was in flight
            }
        }
    }

    /// Tests the step's two requests; true when neither is left in MPI.
    fn test(&mut self) -> bool {
        let mut flag: c_int = 0;
        // SAFETY: MPI_Status is plain old data; all-zero is a valid value.
        let mut st: [ffi::MPI_Status; 2] = unsafe { std::mem::zeroed() };
        // SAFETY: two requests (live or MPI_REQUEST_NULL, which MPI_Testall skips) and
        // two statuses, as the count says.
        let rc = unsafe { ffi::MPI_Testall(2, self.reqs.as_mut_ptr(), &mut flag, st.as_mut_ptr()) };
        if rc == ffi::MPI_ERR_IN_STATUS as c_int {
            for s in &st {
                let e = s.MPI_ERROR;
                if e != ffi::MPI_SUCCESS as c_int
                    && e != ffi::MPI_ERR_PENDING as c_int
                    && self.error == 0
                {
                    self.error = e;
                }
            }
        } else if rc != ffi::MPI_SUCCESS as c_int && self.error == 0 {
            self.error = rc;
        }
        // SAFETY: reading a link-time constant.
        let null = unsafe { ffi::RSMPI_REQUEST_NULL };
        let left = self.reqs.iter().any(|&r| r != null);
        if !left {
            return true;
        }
        if self.error != 0 && !self.cancelled {
            // The other half of a failed step would never complete: cancel it, then
            // keep testing until MPI lets go of it (its buffer is still referenced).
            self.cancelled = true;
            for r in self.reqs.iter_mut().filter(|r| **r != null) {
                // SAFETY: a live request of this call.
                unsafe { ffi::MPI_Cancel(r) };
            }
        }
        false
    }

    /// Posts the receive and the send of the current step.
    fn post_step(&mut self) {
        let (size, rank, n, es) = (self.size, self.rank, self.n, self.es);
        // (send offset, send count, to, recv pointer, recv count, from)
        let (so, sc, to, rp, rc, from) = match self.alg {
            Alg::Doubling => {
                let peer = rank ^ (1 << self.step);
                (0, n, peer, self.tmp.as_mut_ptr(), n, peer)
            }
            Alg::Ring => {
                let right = (rank + 1) % size;
                let left = (rank + size - 1) % size;
                let p1 = size - 1;
                if self.step < p1 {
                    let s = self.step;
                    let (so, sc) = chunk((rank + size - s) % size, n, size);
                    let (_, rc) = chunk((rank + 2 * size - s - 1) % size, n, size);
                    (so, sc, right, self.tmp.as_mut_ptr(), rc, left)
                } else {
                    let t = self.step - p1;
                    let (so, sc) = chunk((rank + 1 + size - t) % size, n, size);
                    let (ro, rc) = chunk((rank + size - t) % size, n, size);
                    // SAFETY: ro + rc <= n: inside the caller's buffer.
                    let rp = unsafe { self.buf.add(ro * es) };
                    (so, sc, right, rp, rc, left)
                }
            }
        };
        // SAFETY: the receive area holds `rc` elements (tmp was sized for the largest
        // chunk or the whole buffer; or it is a chunk of the caller's buffer), the send
        // area `sc` elements of the caller's buffer; both stay alive until the requests
        // complete (TypeScript keeps the buffer referenced, the P2p owns tmp).
        let r = unsafe {
            ffi::MPI_Irecv(
                rp as *mut c_void,
                rc as c_int,
                self.dt,
                from as c_int,
                self.tag,
                self.comm,
                &mut self.reqs[0],
            )
        };
        if r != ffi::MPI_SUCCESS as c_int {
            self.error = r;
            return;
        }
        self.posted = true;
        // SAFETY: as above.
        let s = unsafe {
            ffi::MPI_Isend(
                self.buf.add(so * es) as *const c_void,
                sc as c_int,
                self.dt,
                to as c_int,
                self.tag,
                self.comm,
                &mut self.reqs[1],
            )
        };
        if s != ffi::MPI_SUCCESS as c_int {
            self.error = s;
            self.cancelled = true;
            // SAFETY: the receive just posted; cancelled so the step can end.
            unsafe { ffi::MPI_Cancel(&mut self.reqs[0]) };
        }
    }

    /// The local part of a completed step: the reduction of what came in.
    fn finish_step(&mut self) -> Result<(), c_int> {
        let (n, es) = (self.n, self.es);
        match self.alg {
            Alg::Doubling => {
                let peer = self.rank ^ (1 << self.step);
                let tmp = self.tmp.as_mut_ptr() as *mut c_void;
                let buf = self.buf as *mut c_void;
                // Both sides compute f(in = higher rank's data, inout = lower rank's).
                if self.rank < peer {
                    // SAFETY: tmp and buf hold n elements each, no request uses them.
                    let rc =
                        unsafe { ffi::MPI_Reduce_local(tmp, buf, n as c_int, self.dt, self.op) };
                    ok(rc)
                } else {
                    // SAFETY: as above; then the result moves from tmp to buf.
                    let rc =
                        unsafe { ffi::MPI_Reduce_local(buf, tmp, n as c_int, self.dt, self.op) };
                    ok(rc)?;
                    // SAFETY: both hold n * es bytes and do not overlap.
                    unsafe { std::ptr::copy_nonoverlapping(self.tmp.as_ptr(), self.buf, n * es) };
                    Ok(())
                }
            }
            Alg::Ring => {
                if self.step >= self.size - 1 {
                    return Ok(()); // allgather: received in place
                }
                let s = self.step;
                let (ro, rc) = chunk(
                    (self.rank + 2 * self.size - s - 1) % self.size,
                    n,
                    self.size,
                );
                if rc == 0 {
                    return Ok(());
                }
                // SAFETY: tmp holds rc elements just received; buf + ro holds rc of the
                // caller's; no request uses either now.
                let rc = unsafe {
                    ffi::MPI_Reduce_local(
                        self.tmp.as_ptr() as *const c_void,
                        self.buf.add(ro * es) as *mut c_void,
                        rc as c_int,
                        self.dt,
                        self.op,
                    )
                };
                ok(rc)
            }
        }
    }
}

fn ok(rc: c_int) -> Result<(), c_int> {
    if rc == ffi::MPI_SUCCESS as c_int {
        Ok(())
    } else {
        Err(rc)
    }
}

/// Advances every point-to-point call of `r` once, writing the finished ones to the ring
/// from pair `offset` on; returns how many finished.
pub fn advance_all(r: &mut Reactor, offset: usize) -> usize {
    let mut k = 0;
    let mut i = 0;
    while i < r.p2p.len() {
        if r.p2p[i].advance() {
            let op = r.p2p.swap_remove(i);
            r.ring[2 * (offset + k)] = op.id as i32;
            r.ring[2 * (offset + k) + 1] = op.error;
            k += 1;
            r.recycle(op.tmp);
        } else {
            i += 1;
        }
    }
    k
}

/// Starts one allreduce of `n` elements (`es` bytes each) in place in `buf` as request
/// `id` of `r`, then drives it for up to `spin_ns` without a step completing (and at
/// most [`SYNC_MAX_NS`] in all). Returns 1 when it is already over (nothing stays in the
/// reactor), 0 when it runs on (its completion comes through the ring).
#[allow(clippy::too_many_arguments)]
pub fn start(
    r: &mut Reactor,
    c: &Comm,
    id: u32,
    buf: *mut u8,
    n: usize,
    es: usize,
    dt: ffi::MPI_Datatype,
    op: ffi::MPI_Op,
    rank: usize,
    size: usize,
    alg: Alg,
    spin_ns: u32,
) -> Result<i32, Error> {
    let tag = next_tag(c);
    let tmp = r.scratch();
    let mut p = P2p::new(
        Args {
            id,
            comm: c.raw,
            buf,
            n,
            es,
            dt,
            op,
            rank,
            size,
            tag,
            alg,
        },
        tmp,
    );
    let mut done = p.advance();
    if !done && spin_ns > 0 {
        let t0 = crate::sys::now_ns();
        let mut last = t0;
        let mut step = p.step();
        while !done {
            done = p.advance();
            let now = crate::sys::now_ns();
            if p.step() != step {
                step = p.step();
                last = now;
            }
            if now - last >= spin_ns as u64 || now - t0 >= SYNC_MAX_NS {
                break;
            }
        }
    }
    if !done {
        r.p2p.push(p);
        return Ok(0);
    }
    let err = p.error;
    r.recycle(p.tmp);
    if err != 0 {
        return Err(Error::code(
            crate::error::E_MPI,
            format!(
                "allreduce (point to point) failed (MPI error {err}): {}",
                super::error_string(err)
            ),
        ));
    }
    Ok(1)
}

/// The longest a submission drives its call before handing it to the executor (ns).
pub const SYNC_MAX_NS: u64 = 200_000;
