//! Worker state: the UCP worker plus everything its callbacks write into (ring, arena,
//! tables of endpoints, messages, listeners), progress/poll, parking and the address.

use super::am::{AmCtx, Msg};
use super::context::{ContextInner, UcxContext};
use super::endpoint::Ep;
use super::listener::ListenerCtx;
use super::ring::{Ring, ARENA_SIZE, RING_CAP};
use super::slab::Slab;
use super::{ucs_check, ucs_err};
use crate::error::{guard, guard_ptr, Error};
use std::collections::HashMap;
use std::os::raw::c_void;
use std::ptr::null_mut;
use std::sync::Arc;
use super::sys::*;

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
    efd: i32,
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

    /// Forgets the request of `op` (it completed).
    pub fn untrack(&mut self, op: u32) {
        if let Some(slot) = self.pending.get_mut(op as usize) {
            *slot = null_mut();
        }
    }
}

/// Resolves a worker handle from JavaScript.
///
/// # Safety
/// `w` must be null or a pointer from [`pluvio_ucx_worker_create`] not yet destroyed.
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
    if let Err(e) = super::am::init_handler_table(handle) {
        // SAFETY: destroying the worker we just created.
        unsafe { ucp_worker_destroy(handle) };
        return Err(e);
    }
    Ok(Box::new(WorkerState {
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
        efd,
    }))
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
/// listeners and releases held messages first.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_destroy(w: *mut WorkerState) -> i32 {
    guard(|| {
        if w.is_null() {
            return Ok(0);
        }
        // Short borrows only: callbacks run inside the UCX calls below and borrow the
        // state themselves.
        // SAFETY (all blocks below): w is the live worker from create, destroyed once.
        let h = unsafe { (*w).handle };
        let mut reqs: Vec<*mut c_void> = unsafe {
            (*w).pending
                .iter()
                .copied()
                .filter(|r| !r.is_null())
                .collect()
        };
        reqs.extend(super::batch::stop_all(unsafe { &mut *w }));
        for r in reqs {
            // SAFETY: r is an in-flight request of this worker; its callback frees it.
            unsafe { ucp_request_cancel(h, r) };
        }
        let conns = unsafe { (*w).conns.drain() };
        for (_, (req, listener)) in conns {
            // SAFETY: an unanswered request of a live listener.
            unsafe { ucp_listener_reject(listener, req) };
        }
        let listeners = unsafe { (*w).listeners.drain() };
        for (_, l) in &listeners {
            // SAFETY: a live listener, destroyed once.
            unsafe { ucp_listener_destroy(l.handle) };
        }
        let msgs = unsafe { (*w).msgs.drain() };
        for (_, m) in msgs {
            if let Msg::Rndv { desc, .. } = m {
                // SAFETY: a descriptor we kept by returning UCS_INPROGRESS.
                unsafe { ucp_am_data_release(h, desc) };
            }
        }
        for ctx in unsafe { (*w).am_handlers.values_mut() } {
            if let Some(r) = ctx.receiver.as_mut() {
                super::receiver::release_held(h, r);
            }
        }
        let eps = unsafe { (*w).eps.drain() };
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
        // SAFETY: every user object on the worker is gone; destroy it, then the state.
        unsafe {
            ucp_worker_destroy(h);
            drop(Box::from_raw(w));
        }
        drop(listeners);
        Ok(0)
    })
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
        // SAFETY: JS passes a live worker or null.
        let w = unsafe { worker(w) }?;
        if w.ring.pending() > 0 {
            return Ok(0);
        }
        let h = w.handle;
        // Work UCX queued for its next progress (e.g. data a merged TCP connection had
        // already read) raises no fd event: progress once more before sleeping.
        // SAFETY: the worker is live; callbacks borrow the state briefly (no borrow is
        // held across this call: `w` is not used again before the re-borrow below).
        if unsafe { ucp_worker_progress(h) } != 0 {
            return Ok(0);
        }
        // SAFETY: as above.
        if unsafe { (*(w as *mut WorkerState)).batch_room } {
            // A batch send completed: refill before sleeping (no fd event would).
            // SAFETY: as above.
            unsafe { super::batch::pump_all(w as *mut WorkerState) };
            return Ok(0);
        }
        // SAFETY: as above.
        if unsafe { (*(w as *mut WorkerState)).ring.pending() } > 0 {
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

/// What [`pluvio_ucx_worker_poll`] returns when UCX made progress (bytes of a transfer
/// moved, a protocol step ran) but nothing finished: the executor treats the turn as busy
/// instead of idle, so it keeps polling rather than parking in the middle of a transfer
/// whose next step needs this side's progress (a TCP rendezvous, a shared-memory pull).
pub const POLL_MOVED: i32 = 1 << 30;

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
        // SAFETY: w is live; borrows end before UCX runs callbacks that borrow it.
        unsafe { (*w).ring.begin_poll() };
        // SAFETY: as above.
        let h = unsafe { (*w).handle };
        let mut moved = false;
        // Bounded, so one poll never monopolises the JS thread.
        for _ in 0..64 {
            // SAFETY: h is live; callbacks borrow the state briefly.
            if unsafe { ucp_worker_progress(h) } == 0 {
                break;
            }
            moved = true;
            // Refill windowed send lists at once, as a C sender loop would.
            // SAFETY: as above.
            unsafe { super::batch::pump_all(w) };
            // SAFETY: as above.
            if unsafe { (*w).ring.pending() } >= RING_CAP {
                break;
            }
        }
        // SAFETY: as above (a completion seen by an earlier `arm` may have left room).
        unsafe { super::batch::pump_all(w) };
        // SAFETY: as above.
        let n = unsafe { (*w).ring.flush() } as i32;
        Ok(if n == 0 && moved { POLL_MOVED } else { n })
    })
}

/// Flag of [`pluvio_ucx_worker_wait`]: give the CPU away between progress calls (for
/// more ranks than cores, where spinning would starve the peer being waited for).
pub const WAIT_YIELD: u32 = 1;

/// Flag of [`pluvio_ucx_worker_wait`]: ignore `spin_ns` and spin until the deadline of
/// the previous wait without this flag (a spin resumed after another stream's event).
pub const WAIT_RESUME: u32 = 2;

/// `op` of [`pluvio_ucx_worker_wait`] that waits for any event instead of one operation.
pub const WAIT_ANY: u32 = u32::MAX;

/// Progresses the worker until operation `op` has completed (with [`WAIT_ANY`]: until
/// any event is queued), the ring is full, or `spin_ns` have passed, and moves finished
/// events into the ring like [`pluvio_ucx_worker_poll`]; returns how many events the
/// ring now holds. The synchronous fast path of small messages: one FFI call instead of
/// an executor turn per progress.
#[no_mangle]
pub extern "C" fn pluvio_ucx_worker_wait(w: *mut WorkerState, op: u32, spin_ns: u32, flags: u32) -> i32 {
    guard(|| {
        if w.is_null() {
            return Err(Error::errno(libc::EBADF, "UCX worker handle is null".into()));
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
    // SAFETY: w is live; this borrow ends before UCX runs callbacks that borrow it.
    unsafe { (*w).ring.begin_poll() };
    // SAFETY: as above.
    let h = unsafe { (*w).handle };
    // SAFETY: short borrows, as above.
    let deadline = unsafe {
        if flags & WAIT_RESUME == 0 {
            (*w).wait_deadline = crate::sys::now_ns().saturating_add(u64::from(spin_ns));
        }
        (*w).wait_deadline
    };
    let mut turns = 0u32;
    // SAFETY: short borrows between the progress calls, as above.
    while !stop(unsafe { &*w }) {
        // SAFETY: h is live; callbacks borrow the state briefly.
        let progressed = unsafe { ucp_worker_progress(h) } != 0;
        // SAFETY: as above.
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
    // SAFETY: as above.
    unsafe { (*w).ring.flush() as i32 }
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
        _ => super::ring::EVENT_WORDS as i64,
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
