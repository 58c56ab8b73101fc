/** Symbols of the UCX backend (Cargo feature `ucx`); see `native/src/ucx/`. @module */

/** FFI symbol table of the UCX backend. */
export const UCX_SYMBOLS = {
  pluvio_ucx_version: { parameters: ["buffer", "usize"], result: "i64" },
  // context / worker
  pluvio_ucx_context_create: { parameters: [], result: "pointer" },
  pluvio_ucx_context_destroy: { parameters: ["pointer"], result: "i32" },
  pluvio_ucx_worker_create: { parameters: ["pointer"], result: "pointer" },
  pluvio_ucx_worker_destroy: { parameters: ["pointer"], result: "i32" },
  pluvio_ucx_worker_address: { parameters: ["pointer", "buffer", "usize"], result: "i64" },
  pluvio_ucx_worker_efd: { parameters: ["pointer"], result: "i32" },
  pluvio_ucx_worker_arm: { parameters: ["pointer"], result: "i32" },
  pluvio_ucx_worker_poll: { parameters: ["pointer"], result: "i32" },
  pluvio_ucx_worker_wait: { parameters: ["pointer", "u32", "u32", "u32"], result: "i32" },
  pluvio_ucx_worker_ring: { parameters: ["pointer"], result: "pointer" },
  pluvio_ucx_worker_arena: { parameters: ["pointer"], result: "pointer" },
  pluvio_ucx_worker_imm: { parameters: ["pointer"], result: "pointer" },
  pluvio_ucx_ring_info: { parameters: ["i32"], result: "i64" },
  pluvio_ucx_layout: { parameters: ["buffer", "usize"], result: "i64" },
  pluvio_ucx_worker_hold_limit: { parameters: ["pointer", "u64", "u64"], result: "i32" },
  pluvio_ucx_worker_stats: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  pluvio_ucx_cancel: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_status_text: { parameters: ["i32", "buffer", "usize"], result: "i64" },
  // park set (one epoll fd over all workers' event fds)
  pluvio_ucx_parkset_create: { parameters: [], result: "i32" },
  pluvio_ucx_parkset_add: { parameters: ["i32", "i32"], result: "i32" },
  pluvio_ucx_parkset_remove: { parameters: ["i32", "i32"], result: "i32" },
  pluvio_ucx_parkset_destroy: { parameters: ["i32"], result: "i32" },
  // endpoints
  pluvio_ucx_ep_connect_addr: { parameters: ["pointer", "buffer", "usize", "u32"], result: "i32" },
  pluvio_ucx_ep_connect_socket: {
    parameters: ["pointer", "buffer", "usize", "u32"],
    result: "i32",
  },
  pluvio_ucx_ep_accept: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  pluvio_ucx_ep_flush: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  pluvio_ucx_ep_close: { parameters: ["pointer", "u32", "i32", "u32"], result: "i32" },
  pluvio_ucx_ep_status: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_ep_swap: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  pluvio_ucx_ep_mark_failed: { parameters: ["pointer", "u32", "i32"], result: "i32" },
  // listeners
  pluvio_ucx_listener_create: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  pluvio_ucx_listener_addr: {
    parameters: ["pointer", "u32", "buffer", "usize"],
    result: "i64",
  },
  pluvio_ucx_listener_destroy: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_conn_addr: { parameters: ["pointer", "u32", "buffer", "usize"], result: "i64" },
  pluvio_ucx_conn_reject: { parameters: ["pointer", "u32"], result: "i32" },
  // active messages
  pluvio_ucx_am_register: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_am_unregister: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_am_send: {
    parameters: ["pointer", "u32", "u32", "buffer", "u32", "buffer", "u32", "u32", "u32"],
    result: "i32",
  },
  pluvio_ucx_am_send_many: {
    parameters: ["pointer", "u32", "u32", "buffer", "u32", "buffer", "u32", "u32", "u32", "u32"],
    result: "i32",
  },
  pluvio_ucx_am_recv_data: {
    parameters: ["pointer", "u32", "buffer", "u32", "u32"],
    result: "i32",
  },
  pluvio_ucx_am_wait_into: {
    parameters: ["pointer", "u32", "u32", "u32", "buffer", "u32", "buffer", "u32"],
    result: "i32",
  },
  pluvio_ucx_am_release: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_am_receiver_open: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_am_post: {
    parameters: ["pointer", "u32", "buffer", "u32", "buffer", "u32", "u32"],
    result: "i32",
  },
  pluvio_ucx_am_unpost: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  pluvio_ucx_am_held: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_ucx_am_take: { parameters: ["pointer", "u32", "buffer", "usize"], result: "i64" },
  // tag messaging
  pluvio_ucx_tag_send: {
    parameters: ["pointer", "u32", "u64", "buffer", "u32", "u32"],
    result: "i32",
  },
  pluvio_ucx_tag_recv: {
    parameters: ["pointer", "u64", "u64", "buffer", "u32", "u32"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;
