/** Symbols of the io_uring backend (Cargo feature `uring`). @module */

/** FFI symbol table of the io_uring backend. */
export const URING_SYMBOLS = {
  // Reactor: setup(entries, submitDepth, sqpollIdleMs, bufferBase, bufferSize, bufferCount,
  // backend (0 auto, 1 io_uring, 2 threads), threads).
  pluvio_uring_setup: {
    parameters: ["u32", "u32", "i32", "u64", "u64", "u32", "i32", "u32"],
    result: "pointer",
  },
  pluvio_uring_close: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_backend: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_close_fd: { parameters: ["i32"], result: "i32" },
  pluvio_uring_submission_area: { parameters: ["pointer"], result: "pointer" },
  pluvio_uring_completion_area: { parameters: ["pointer"], result: "pointer" },
  pluvio_uring_completion_capacity: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_eventfd: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_is_sqpoll: { parameters: ["pointer"], result: "i32" },
  // The hot path: one call per batch, one per poll; neither waits.
  pluvio_uring_submit: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_uring_reap: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_submit_reap: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_uring_prepark: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_register_file: { parameters: ["pointer", "i32"], result: "i32" },
  pluvio_uring_unregister_file: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_uring_block_size: { parameters: ["i32"], result: "i32" },
  // Smoke test of a bare ring (tests/native_smoke_test.ts).
  pluvio_uring_create: { parameters: ["u32"], result: "pointer" },
  pluvio_uring_destroy: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_nop: { parameters: ["pointer", "u64"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
