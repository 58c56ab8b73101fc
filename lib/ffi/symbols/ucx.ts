/** Symbols of the UCX backend (Cargo feature `ucx`). @module */

/** FFI symbol table of the UCX backend. */
export const UCX_SYMBOLS = {
  pluvio_ucx_context_create: { parameters: [], result: "pointer" },
  pluvio_ucx_context_destroy: { parameters: ["pointer"], result: "i32" },
  pluvio_ucx_worker_create: { parameters: ["pointer"], result: "pointer" },
  pluvio_ucx_worker_destroy: { parameters: ["pointer"], result: "i32" },
  pluvio_ucx_worker_address: {
    parameters: ["pointer", "buffer", "usize"],
    result: "i64",
  },
} as const satisfies Deno.ForeignLibraryInterface;
