/** Symbols every build of the native library exports: ABI, features, errors, clock,
 * affinity, the parking notifier, and host identity and pidfds. @module */

/** FFI symbol table of the core (backend-independent) exports. */
export const CORE_SYMBOLS = {
  pluvio_abi_version: { parameters: [], result: "u32" },
  pluvio_features: { parameters: [], result: "u32" },
  pluvio_last_error: { parameters: ["buffer", "usize"], result: "i64" },
  pluvio_now_ns: { parameters: [], result: "u64" },
  pluvio_now_ms: { parameters: [], result: "f64" },
  pluvio_set_affinity: { parameters: ["i32"], result: "i32" },
  pluvio_cpu_count: { parameters: [], result: "i32" },
  pluvio_thread_cpu_ns: { parameters: [], result: "u64" },
  pluvio_process_cpu_ns: { parameters: [], result: "u64" },
  pluvio_notifier_create: { parameters: ["function"], result: "pointer" },
  pluvio_notifier_add_fd: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  pluvio_notifier_remove_fd: { parameters: ["pointer", "i32"], result: "i32" },
  pluvio_notifier_arm: { parameters: ["pointer", "u32", "i64"], result: "i32" },
  pluvio_notifier_disarm: { parameters: ["pointer"], result: "i32" },
  pluvio_notifier_wait: {
    parameters: ["pointer", "i32"],
    result: "i64",
    nonblocking: true,
  },
  pluvio_notifier_block: { parameters: ["pointer", "i64"], result: "i32" },
  pluvio_notifier_kick: { parameters: ["pointer"], result: "i32" },
  pluvio_notifier_fired_ns: { parameters: ["pointer"], result: "u64" },
  pluvio_notifier_destroy: { parameters: ["pointer"], result: "i32" },
  pluvio_host_id: { parameters: ["buffer", "usize"], result: "i64" },
  pluvio_pidfd_open: { parameters: ["i32"], result: "i32" },
  pluvio_pidfd_exited: { parameters: ["i32"], result: "i32" },
  pluvio_fd_close: { parameters: ["i32"], result: "i32" },
  pluvio_reduce: { parameters: ["u32", "u32", "buffer", "buffer", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
