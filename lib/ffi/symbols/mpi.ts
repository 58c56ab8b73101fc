/** Symbols of the MPI backend (Cargo feature `mpi`). @module */

/** FFI symbol table of the MPI backend. */
export const MPI_SYMBOLS = {
  pluvio_mpi_disable_async_progress: { parameters: [], result: "i32" },
  pluvio_mpi_init: { parameters: ["i32"], result: "i32", nonblocking: true },
  pluvio_mpi_thread_level: { parameters: ["i32"], result: "i32" },
  pluvio_mpi_world_rank: { parameters: [], result: "i32" },
  pluvio_mpi_world_size: { parameters: [], result: "i32" },
  pluvio_mpi_finalize: { parameters: [], result: "i32", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;
