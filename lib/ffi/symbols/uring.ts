/** Symbols of the io_uring backend (Cargo feature `uring`). @module */

/** FFI symbol table of the io_uring backend. */
export const URING_SYMBOLS = {
  pluvio_uring_create: { parameters: ["u32"], result: "pointer" },
  pluvio_uring_destroy: { parameters: ["pointer"], result: "i32" },
  pluvio_uring_nop: { parameters: ["pointer", "u64"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
