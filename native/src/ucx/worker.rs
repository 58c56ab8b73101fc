//! Worker state: the UCP worker plus everything its callbacks write into (ring, arena,
//! tables of endpoints, messages, listeners), progress/poll, parking and the address.

use super::am::{AmCtx, Msg};
use super::context::{ContextInner, UcxContext};
use super::endpoint::Ep;
use super::layout::{POLL_MOVED, WAIT_ANY, WAIT_RESUME, WAIT_YIELD};
use super::listener::ListenerCtx;
use super::ring::{Ring, ARENA_SIZE, RING_CAP};
use super::slab::Slab;
use super::sys::*;
use super::{ucs_check, ucs_err};
use crate::error::{guard, guard_ptr, Error};
use std::collections::HashMap;
use std::os::raw::c_void;
use std::ptr::null_mut;
use std::sync::Arc;

/// Magic at the start of a pluvio worker address ("PLUX").
pub const ADDR_MAGIC: [u8; 4] = *b"PLUX";
/// Framing version of a pluvio worker address.
pub const ADDR_VERSION: u32 = 1;
/// Bytes of framing around the UCX address: magic, version, length, checksum.
pub const ADDR_OVERHEAD: usize = 4 + 4 + 4 + 8;

/// FNV-1a, to tell a worker address from garbage before UCX parses it.
pub fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100000001b3)
    })
}

/// Everything one worker owns. Boxed, so callbacks can hold its address.
pub struct WorkerState {
    pub handle: ucp_worker_h,
    _ctx: Arc<ContextInner>,
    pub ring: Ring,
    pub eps: Slab<Ep>,
    /// ucp_ep_h -> endpoint id, for error callbacks and reply endpoints.
    pub ep_ids: HashMap<usize, u32>,
    pub msgs: Slab<Msg>,
    /// Connection requests: (request, listener it arrived on).
    pub conns: Slab<(ucp_conn_request_h, ucp_listener_h)>,
    pub listeners: Slab<Box<ListenerCtx>>,
    pub am_handlers: HashMap<u32, Box<AmCtx>>,
    /// Windowed send lists by JS op id.
    pub batches: HashMap<u32, super::batch::Batch>,
    /// A batch send completed since the last refill: [`super::batch::pump_all`] has work.
    pub batch_room: bool,
    /// In-flight requests by JS op id.
    pending: Vec<*mut c_void>,
    /// Result of the last submission that finished at once: [length, sender tag].
    pub imm: [u64; 2],
    /// When the latest [`pluvio_ucx_worker_wait`] without [`WAIT_RESUME`] ends (monotonic
    /// ns): a spin interrupted by another stream's event resumes it without a clock read
    /// in JS (`performance.now()` costs ~80 ns there).
    wait_deadline: u64,
    /// Where the next eager Active Message of one id lands during
    /// [`super::am::pluvio_ucx_am_wait_into`].
    pub landing: Option<super::am::Landing>,
    /// Active Messages held for ids without a stream or receiver yet.
    pub hold: super::hold::Hold,
    efd: i32,
    /// Where a staged send (`SEND_STAGE`) copies its header and data; reused while sends
    /// finish at once, moved into [`WorkerState::staged`] when one stays in flight.
    stage: Vec<u8>,
    /// Copies of staged sends in flight, by JS op id (freed when the send completes;
    /// dropped with the state, after `ucp_worker_destroy`, for those cancelled by it).
    staged: HashMap<u32, Vec<u8>>,
    /// UCX reported a peer failure on one of this worker's endpoints; destroying the
    /// worker is then unsafe with UCX 1.13 (see [`pluvio_ucx_worker_destroy`]).
    pub peer_failed: bool,
}

impl WorkerState {
    /// Records the in-flight request of `op`.
    pub fn track(&mut self, op: u32, req: *mut c_void) {
        let i = op as usize;
        if i >= self.pending.len() {
            self.pending.resize((i + 1).next_power_of_two(), null_mut());
        }
        self.pending[i] = req;
    }

    /// Whether `op` is still in flight (submitted, not yet completed).
    pub fn in_flight(&self, op: u32) -> bool {
        self.pending.get(op as usize).is_some_and(|r| !r.is_null())
    }

    /// Forgets the request of `op` (it completed) and frees its staged copy, if any.
    pub fn untrack(&mut self, op: u32) {
        if let Some(slot) = self.pending.get_mut(op as usize) {
            *slot = null_mut();
        }
        if !self.staged.is_empty() {
            self.staged.remove(&op);
        }
    }

    /// Copies `header` and `data` into the staging scratch (data 16-byte aligned after
    /// the header); returns where each copy starts. Valid until the next `stage` call or
    /// [`WorkerState::keep_stage`].
    pub fn stage(&mut self, header: &[u8], data: &[u8]) -> (*const u8, *const u8) {
        let off = (header.len() + 15) & !15;
        let st = &mut self.stage;
        st.clear();
        st.extend_from_slice(header);
        st.resize(off, 0);
        st.extend_from_slice(data);
        let p = st.as_ptr();
        // `off <= st.len()`, so the offset pointer stays inside (or one past) the copy.
        (p, p.wrapping_add(off))
    }

    /// The staged send of `op` stays in flight: its copy is kept until it completes.
    pub fn keep_stage(&mut self, op: u32) {
        let copy = std::mem::take(&mut self.stage);
        self.staged.insert(op, copy);
    }
}

/// Borrows the worker behind `w` for the length of `f` only: the way code that
/// interleaves access to the state with UCX calls reaches it (UCX runs callbacks that
/// borrow the state themselves, so no borrow may live across such a call).
///
/// # Safety
/// `w` is a live worker (from [`pluvio_ucx_worker_create`], not yet destroyed), no
/// other borrow of it is active while `f` runs, and `f` makes no UCX call that can run
/// a callback (progress, cancel, listener or endpoint destruction).
pub unsafe fn with<R>(w: *mut WorkerState, f: impl FnOnce(&mut WorkerState) -> R) -> R {
    // SAFETY: guaranteed by the caller.
    f(unsafe { &mut *w })
}

/// Resolves a worker handle from JavaScript, refusing null: the borrow of an entry point
/// that makes no UCX call able to run a callback while it holds it (others use
/// [`with`] around each step).
///
/// # Safety
/// `w` must be null or a pointer from [`pluvio_ucx_worker_create`] not yet destroyed,
/// with no other borrow of it active for the lifetime the caller gives the result.
pub unsafe fn worker<'a>(w: *mut WorkerState) -> Result<&'a mut WorkerState, Error> {
    // SAFETY: guaranteed by the caller.
    unsafe { w.as_mut() }
        .ok_or_else(|| Error::errno(libc::EBADF, "UCX worker handle is null".into()))
}

fn create(ctx: &UcxContext) -> Result<Box<WorkerState>, Error> {
    // SAFETY: plain data; UCX reads only the fields in field_mask.
    let mut params: ucp_worker_params_t = unsafe { std::mem::zeroed() };
    params.field_mask = ucp_worker_params_field::UCP_WORKER_PARAM_FIELD_THREAD_MODE.0 as u64;
    params.thread_mode = ucs_thread_mode_t::UCS_THREAD_MODE_SINGLE;
    let mut handle: ucp_worker_h = null_mut();
    // SAFETY: the context is live (Arc held below); handle receives the worker.
    ucs_check("ucp_worker_create", unsafe {
        ucp_worker_create(ctx.0.handle, &params, &mut handle)
    })?;
    let mut efd = -1;
    // SAFETY: the worker is live; efd receives its event fd (owned by UCX).
    let st = unsafe { ucp_worker_get_efd(handle, &mut efd) };
    if st != ucs_status_t::UCS_OK {
        // SAFETY: destroying the worker we just created.
        unsafe { ucp_worker_destroy(handle) };
        return Err(ucs_err("ucp_worker_get_efd", st));
    }
    let mut w = Box::new(WorkerState {
        handle,
        _ctx: ctx.0.clone(),
        ring: Ring::new(),
        eps: Slab::default(),
        ep_ids: HashMap::new(),
        msgs: Slab::default(),
        conns: Slab::default(),
        listeners: Slab::default(),
        am_handlers: HashMap::new(),
        batches: HashMap::new(),
        batch_room: false,
        pending: Vec::new(),
        imm: [0; 2],
        wait_deadline: 0,
        landing: None,
        hold: super::hold::Hold::new(null_mut()),
        efd,
        stage: Vec::new(),
        staged: HashMap::new(),
        peer_failed: false,
    });
    // The holding handlers' arguments point at the boxed state, whose address is final.
    let wp: *mut WorkerState = &mut *w;
    for a in w.hold.args.iter_mut() {
        a.worker = wp;
    }
    if let Err(e) = super::am::init_handler_table(&mut w) {
        // SAFETY: destroying the worker we just created (no handler has run).
        unsafe { ucp_worker_destroy(handle) };
        return Err(e);
    }
    Ok(w)
}

/// Creates a worker on `ctx`.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_create(ctx: *mut UcxContext) -> *mut WorkerState {
    guard_ptr(|| {
        // SAFETY: JS passes a live context pointer or null.
        let ctx = unsafe { ctx.as_ref() }
            .ok_or_else(|| Error::errno(libc::EBADF, "UCX context handle is null".into()))?;
        Ok(Box::into_raw(create(ctx)?))
    })
}

/// Waits (progressing) a bounded time for a close request; frees it either way.
///
/// # Safety
/// `h` is a live worker and `req` a request on it that nobody else frees.
unsafe fn wait_and_free(h: ucp_worker_h, req: ucs_status_ptr_t) {
    if req.is_null() || UCS_PTR_IS_ERR(req) {
        return;
    }
    for _ in 0..10_000 {
        // SAFETY: req is live until freed below.
        if unsafe { ucp_request_check_status(req) } != ucs_status_t::UCS_INPROGRESS {
            break;
        }
        // SAFETY: h is live.
        unsafe { ucp_worker_progress(h) };
    }
    // SAFETY: freeing our request once (UCX finishes it internally if still running).
    unsafe { ucp_request_free(req) };
}

/// Destroys a worker: cancels its operations, force-closes its endpoints, destroys its
/// listeners and releases held messages first. Returns 0, or 1 when the UCX worker is
/// kept until the process exits because one of its peers failed.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_destroy(w: *mut WorkerState) -> i32 {
    guard(|| {
        if w.is_null() {
            return Ok(0);
        }
        // Short borrows only: callbacks run inside the UCX calls below and borrow the
        // state themselves. w is the live worker from create (JS forgets the handle
        // before destroying it, so this runs once), and no borrow of it is active.
        // SAFETY: as above; the closure only reads and drains tables.
        let (h, reqs) = unsafe {
            with(w, |s| {
                let mut reqs: Vec<*mut c_void> =
                    s.pending.iter().copied().filter(|r| !r.is_null()).collect();
                reqs.extend(super::batch::stop_all(s));
                (s.handle, reqs)
            })
        };
        for r in reqs {
            // SAFETY: r is an in-flight request of this worker; its callback frees it.
            unsafe { ucp_request_cancel(h, r) };
        }
        // SAFETY: as above (draining a table).
        let conns = unsafe { with(w, |s| s.conns.drain()) };
        for (_, (req, listener)) in conns {
            // SAFETY: an unanswered request of a live listener.
            unsafe { ucp_listener_reject(listener, req) };
        }
        // SAFETY: as above (draining a table).
        let listeners = unsafe { with(w, |s| s.listeners.drain()) };
        for (_, l) in &listeners {
            // SAFETY: a live listener, destroyed once.
            unsafe { ucp_listener_destroy(l.handle) };
        }
        let release = |s: &mut WorkerState| {
            for (_, m) in s.msgs.drain() {
                if let Msg::Rndv { desc, .. } = m {
                    // SAFETY: a descriptor we kept by returning UCS_INPROGRESS.
                    unsafe { ucp_am_data_release(h, desc) };
                }
            }
            for ctx in s.am_handlers.values_mut() {
                if let Some(r) = ctx.receiver.as_mut() {
                    super::receiver::release_held(h, r);
                }
            }
            super::hold::release_all(h, &mut s.hold);
        };
        // SAFETY: as above; releasing descriptors runs no callback.
        unsafe { with(w, release) };
        // SAFETY: as above (draining a table).
        let eps = unsafe { with(w, |s| s.eps.drain()) };
        for (_, ep) in eps {
            if !ep.adopted {
                let p = super::request::send_param(0);
                let mut p = p;
                p.op_attr_mask = ucp_op_attr_t::UCP_OP_ATTR_FIELD_FLAGS as u32;
                p.flags = ucp_ep_close_flags_t::UCP_EP_CLOSE_FLAG_FORCE.0;
                // SAFETY: a live endpoint of this worker, closed once; no callback set.
                let req = unsafe { ucp_ep_close_nbx(ep.handle, &p) };
                // SAFETY: as documented on wait_and_free.
                unsafe { wait_and_free(h, req) };
            }
        }
        // Let the callbacks of cancelled receives and of sends on force-closed endpoints
        // run (bounded: a close waiting for a gone peer's flush may never finish).
        let held = |s: &mut WorkerState| {
            let mut r: Vec<*mut c_void> =
                s.pending.iter().copied().filter(|r| !r.is_null()).collect();
            r.extend(s.batches.values().flat_map(|b| b.reqs.iter().copied()));
            r
        };
        for _ in 0..10_000 {
            // SAFETY: as above (reading tables; no UCX call inside).
            if unsafe { with(w, held) }.is_empty() {
                break;
            }
            // SAFETY: h is live; no borrow of the state is held across the call.
            unsafe { ucp_worker_progress(h) };
        }
        // UCX asserts in ucp_worker_destroy on requests their user still owns: release
        // the rest now, marked so that their callbacks do nothing if UCX finishes them.
        // SAFETY: as above (reading tables).
        for r in unsafe { with(w, held) } {
            // SAFETY: r is a live request of this worker whose user area is a ReqInfo;
            // it is freed once here and its callback will not free it again.
            unsafe {
                (*(r as *mut super::request::ReqInfo)).op = super::request::DETACHED;
                ucp_request_free(r);
            }
        }
        // SAFETY: as above (a read).
        if unsafe { with(w, |s| s.peer_failed) } {
            // A peer that died mid-wireup over TCP can leave a wireup reply queued on an
            // endpoint UCX created internally; UCX 1.13.1 asserts on it when
            // ucp_worker_destroy purges that endpoint (a wrong assertion, removed
            // upstream in openucx/ucx#8175) and aborts the process. Such a worker is
            // left to the process's exit instead: never progressed again, so no
            // callback runs, and its state stays valid memory (the context with it).
            // UCX's async thread still serves it until then, so UCX's code must stay
            // mapped even if the runtime unloads this library at exit.
            pin_ucx();
            return Ok(1);
        }
        // SAFETY: every user object on the worker is gone; destroy it, then the state.
        unsafe {
            ucp_worker_destroy(h);
            drop(Box::from_raw(w));
        }
        drop(listeners);
        Ok(0)
    })
}

/// Keeps the UCX libraries loaded until the process exits (RTLD_NODELETE).
fn pin_ucx() {
    static PIN: std::sync::Once = std::sync::Once::new();
    PIN.call_once(|| {
        for name in [c"libucp.so.0", c"libuct.so.0", c"libucs.so.0"] {
            // SAFETY: RTLD_NOLOAD never loads new code; it only marks an already loaded
            // library as never unloaded. The handle is left open on purpose.
            unsafe {
                libc::dlopen(
                    name.as_ptr(),
                    libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
                )
            };
        }
    });
}

/// Copies the worker's address (pluvio framing around the UCX address) into `buf`
/// (capacity `cap`); returns its full length.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_address(w: *mut WorkerState, buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        // SAFETY: JS passes a live worker or null.
        let w = unsafe { worker(w) }?;
        let mut addr: *mut ucp_address_t = null_mut();
        let mut len: usize = 0;
        // SAFETY: the worker is live; UCX allocates the address, released below.
        ucs_check("ucp_worker_get_address", unsafe {
            ucp_worker_get_address(w.handle, &mut addr, &mut len as *mut usize as *mut _)
        })?;
        // SAFETY: UCX returned `len` bytes at `addr`.
        let raw = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
        let mut framed = Vec::with_capacity(len + ADDR_OVERHEAD);
        framed.extend_from_slice(&ADDR_MAGIC);
        framed.extend_from_slice(&ADDR_VERSION.to_le_bytes());
        framed.extend_from_slice(&(len as u32).to_le_bytes());
        framed.extend_from_slice(raw);
        framed.extend_from_slice(&fnv1a(raw).to_le_bytes());
        // SAFETY: releasing the address UCX gave us, once.
        unsafe { ucp_worker_release_address(w.handle, addr) };
        if !buf.is_null() {
            // SAFETY: the caller promises `buf` holds `cap` bytes; we copy at most that.
            unsafe { std::ptr::copy_nonoverlapping(framed.as_ptr(), buf, framed.len().min(cap)) };
        }
        Ok(framed.len() as i64)
    })
}

/// The worker's event fd (readable when the armed worker has events).
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_efd(w: *mut WorkerState) -> i32 {
    // SAFETY: JS passes a live worker or null.
    guard(|| Ok(unsafe { worker(w) }?.efd))
}

/// Arms the event fd before parking: 1 = the executor may sleep on it, 0 = there is
/// work now (events queued, or UCX says busy), so poll instead.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_arm(w: *mut WorkerState) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker or null; the borrow ends in this statement.
        let (h, pending) = unsafe { worker(w) }.map(|s| (s.handle, s.ring.pending()))?;
        if pending > 0 {
            return Ok(0);
        }
        // Work UCX queued for its next progress (e.g. data a merged TCP connection had
        // already read) raises no fd event: progress once more before sleeping.
        // SAFETY: h is the live worker's handle and no borrow of the state is held
        // across the call (its callbacks borrow the state themselves).
        if unsafe { ucp_worker_progress(h) } != 0 {
            return Ok(0);
        }
        // SAFETY: w is live (checked above) and no other borrow is active; reads a flag.
        if unsafe { with(w, |s| s.batch_room) } {
            // A batch send completed: refill before sleeping (no fd event would).
            // SAFETY: w is live and not borrowed here (pump_all's contract).
            unsafe { super::batch::pump_all(w) };
            return Ok(0);
        }
        // SAFETY: w is live and not borrowed elsewhere; reads a length.
        if unsafe { with(w, |s| s.ring.pending()) } > 0 {
            return Ok(0);
        }
        // SAFETY: the worker is live.
        match unsafe { ucp_worker_arm(h) } {
            ucs_status_t::UCS_OK => Ok(1),
            ucs_status_t::UCS_ERR_BUSY => Ok(0),
            st => Err(ucs_err("ucp_worker_arm", st)),
        }
    })
}

/// Progresses the worker and moves finished events into the ring; returns how many
/// events the ring now holds (TypeScript reads them before the next poll), or
/// [`POLL_MOVED`] when there are none but UCX made progress.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_poll(w: *mut WorkerState) -> i32 {
    guard(|| {
        if w.is_null() {
            return Err(Error::errno(
                libc::EBADF,
                "UCX worker handle is null".into(),
            ));
        }
        // SAFETY: w is a live worker (JS passes live handles; null refused above) and no
        // borrow of it is active; the closure touches the ring only.
        let h = unsafe {
            with(w, |s| {
                s.ring.begin_poll();
                s.handle
            })
        };
        let mut moved = false;
        // Bounded, so one poll never monopolises the JS thread.
        for _ in 0..64 {
            // SAFETY: h is live; no borrow of the state is held across the call.
            if unsafe { ucp_worker_progress(h) } == 0 {
                break;
            }
            moved = true;
            // Refill windowed send lists at once, as a C sender loop would.
            // SAFETY: w is live and not borrowed here.
            unsafe { super::batch::pump_all(w) };
            // SAFETY: w is live and not borrowed here; reads a length.
            if unsafe { with(w, |s| s.ring.pending()) } >= RING_CAP {
                break;
            }
        }
        // A completion seen by an earlier `arm` may have left room.
        // SAFETY: w is live and not borrowed here.
        unsafe { super::batch::pump_all(w) };
        // SAFETY: w is live and not borrowed here; moves events into the shared ring.
        let n = unsafe { with(w, |s| s.ring.flush()) } as i32;
        Ok(if n == 0 && moved { POLL_MOVED } else { n })
    })
}

/// Progresses the worker until operation `op` has completed (with [`WAIT_ANY`]: until
/// any event is queued), the ring is full, or `spin_ns` have passed, and moves finished
/// events into the ring like [`pluvio_ucx_worker_poll`]; returns how many events the
/// ring now holds. The synchronous fast path of small messages: one FFI call instead of
/// an executor turn per progress.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_wait(
    w: *mut WorkerState,
    op: u32,
    spin_ns: u32,
    flags: u32,
) -> i32 {
    guard(|| {
        if w.is_null() {
            return Err(Error::errno(
                libc::EBADF,
                "UCX worker handle is null".into(),
            ));
        }
        let any = op == WAIT_ANY;
        // SAFETY: w is live (checked non-null; JS passes live workers).
        Ok(unsafe {
            spin(w, spin_ns, flags, |s| {
                if any {
                    s.ring.pending() != 0
                } else {
                    !s.in_flight(op) || s.ring.pending() >= RING_CAP
                }
            })
        })
    })
}

/// Progresses `w` until `stop` holds or the spin ends (see [`pluvio_ucx_worker_wait`] for
/// `spin_ns` and `flags`), then moves finished events into the ring; returns how many.
///
/// # Safety
/// `w` must be a live worker, not borrowed by the caller across this call (UCX runs
/// callbacks that borrow it).
pub unsafe fn spin(
    w: *mut WorkerState,
    spin_ns: u32,
    flags: u32,
    stop: impl Fn(&WorkerState) -> bool,
) -> i32 {
    // SAFETY: guaranteed by the caller (live, not borrowed); the closure runs no UCX call.
    let (h, deadline) = unsafe {
        with(w, |s| {
            s.ring.begin_poll();
            if flags & WAIT_RESUME == 0 {
                s.wait_deadline = crate::sys::now_ns().saturating_add(u64::from(spin_ns));
            }
            (s.handle, s.wait_deadline)
        })
    };
    let mut turns = 0u32;
    // SAFETY: as above; `stop` only reads the state between progress calls.
    while !unsafe { with(w, |s| stop(s)) } {
        // SAFETY: h is live; no borrow of the state is held across the call.
        let progressed = unsafe { ucp_worker_progress(h) } != 0;
        // SAFETY: w is live and not borrowed here.
        unsafe { super::batch::pump_all(w) };
        turns = turns.wrapping_add(1);
        // Reading the clock costs ~50 ns on these VMs (5 progress turns; perf showed 17 %
        // of a spin in it at every 16th turn): every 64th turn only.
        if turns.is_multiple_of(64) {
            if crate::sys::now_ns() >= deadline {
                break;
            }
            if !progressed && flags & WAIT_YIELD != 0 {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }
    // SAFETY: w is live and not borrowed here; moves events into the shared ring.
    unsafe { with(w, |s| s.ring.flush()) as i32 }
}

/// Pointer to the ring ([`RING_CAP`] events of 64 bytes).
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_ring(w: *mut WorkerState) -> *mut c_void {
    // SAFETY: JS passes a live worker or null.
    guard_ptr(|| Ok(unsafe { worker(w) }?.ring.ring.as_mut_ptr() as *mut c_void))
}

/// Pointer to the message arena ([`ARENA_SIZE`] bytes).
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_arena(w: *mut WorkerState) -> *mut c_void {
    // SAFETY: JS passes a live worker or null.
    guard_ptr(|| Ok(unsafe { worker(w) }?.ring.arena.as_mut_ptr() as *mut c_void))
}

/// Pointer to the immediate-result area: [length u64, sender tag u64].
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_imm(w: *mut WorkerState) -> *mut c_void {
    // SAFETY: JS passes a live worker or null.
    guard_ptr(|| Ok(unsafe { worker(w) }?.imm.as_mut_ptr() as *mut c_void))
}

/// Sizes of the shared areas: ring capacity (events) and arena bytes, for checks.
#[no_mangle]
pub extern "C" fn pluvio_ucx_ring_info(which: i32) -> i64 {
    match which {
        0 => RING_CAP as i64,
        1 => ARENA_SIZE as i64,
        _ => super::layout::EVENT_WORDS as i64,
    }
}

/// Cancels the in-flight operation `op` (receives; sends finish on their own). Its
/// event then reports `ECANCELED` unless it already completed. Returns 1 if a
/// request was found.
#[no_mangle]
pub extern "C" fn pluvio_ucx_cancel(w: *mut WorkerState, op: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker or null; borrow ends before the cancel call.
        let (h, req) = {
            let w = unsafe { worker(w) }?;
            (
                w.handle,
                w.pending.get(op as usize).copied().unwrap_or(null_mut()),
            )
        };
        if req.is_null() {
            // A batch: stop submitting (its sends in flight finish on their own).
            // SAFETY: as above; a short borrow.
            return Ok(i32::from(super::batch::stop(unsafe { worker(w) }?, op)));
        }
        // SAFETY: an in-flight request of this worker; its callback may run right here.
        unsafe { ucp_request_cancel(h, req) };
        Ok(1)
    })
}

/// Copies the text of UCS status `st` into `buf`; returns its full length.
#[no_mangle]
pub extern "C" fn pluvio_ucx_status_text(st: i32, buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        if !(-128..=1).contains(&st) {
            return Err(super::einval(format!("{st} is not a UCS status")));
        }
        // SAFETY: ucs_status_string takes any i8 (unknown values print "Unknown
        // error") and returns a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(ucs_status_string_raw(st as i8)) }
            .to_string_lossy()
            .into_owned();
        if !buf.is_null() {
            // SAFETY: the caller promises `buf` holds `cap` bytes.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, text.len().min(cap)) };
        }
        Ok(text.len() as i64)
    })
}

// The same C function as sys::ucs_status_string, taking the packed (1-byte) status as a
// plain i8: any value from JavaScript is then a valid argument, where the binding's Rust
// enum would make an unlisted value undefined behaviour. (Hence the deliberate clash.)
#[allow(clashing_extern_declarations)]
extern "C" {
    #[link_name = "ucs_status_string"]
    fn ucs_status_string_raw(status: i8) -> *const std::os::raw::c_char;
}

/// Sets the limits of the messages worker `w` holds for ids without a stream or
/// receiver (counted together over all ids): `msgs` messages, `bytes` bytes of headers
/// and eager payloads.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_hold_limit(w: *mut WorkerState, msgs: u64, bytes: u64) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker or null; no UCX call while borrowed.
        let w = unsafe { worker(w) }?;
        w.hold.max_msgs = msgs;
        w.hold.max_bytes = bytes;
        Ok(0)
    })
}

/// Writes the holding counters of `w` into `out` (`n` u64 slots, at most 5 written):
/// held messages, held bytes, messages dropped in total, message limit, byte limit.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_stats(w: *mut WorkerState, out: *mut u64, n: u32) -> i32 {
    guard(|| {
        // SAFETY: JS passes a live worker or null; no UCX call while borrowed.
        let w = unsafe { worker(w) }?;
        let h = &w.hold;
        let v = [
            h.held_msgs,
            h.held_bytes,
            h.dropped_total,
            h.max_msgs,
            h.max_bytes,
        ];
        let k = v.len().min(n as usize);
        if !out.is_null() {
            // SAFETY: the caller promises `out` holds `n` u64 slots; k <= n are written.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out, k) };
        }
        Ok(k as i32)
    })
}
