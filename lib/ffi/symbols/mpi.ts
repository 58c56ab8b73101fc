/**
 * Symbols of the MPI backend (Cargo feature `mpi`, `native/src/mpi/`).
 *
 * Posting calls and the reactor poll are synchronous (they never wait). Calls that may
 * wait for other ranks (`init`, `finalize`, `comm_split`) are `nonblocking`: they run on a
 * helper thread and report failures through `pluvio_mpi_blocking_error`.
 *
 * @module
 */

/** Parameters shared by the posting calls: reactor, communicator, request id. */
const HEAD = ["pointer", "pointer", "u32"] as const;

/** FFI symbol table of the MPI backend. */
export const MPI_SYMBOLS = {
  pluvio_mpi_disable_async_progress: { parameters: [], result: "i32" },
  pluvio_mpi_init: { parameters: ["i32"], result: "i32", nonblocking: true },
  pluvio_mpi_is_active: { parameters: [], result: "i32" },
  pluvio_mpi_thread_level: { parameters: ["i32"], result: "i32" },
  pluvio_mpi_world_rank: { parameters: [], result: "i32" },
  pluvio_mpi_world_size: { parameters: [], result: "i32" },
  pluvio_mpi_finalize: { parameters: [], result: "i32", nonblocking: true },
  pluvio_mpi_abort: { parameters: ["i32"], result: "i32", nonblocking: true },
  pluvio_mpi_blocking_error: { parameters: ["buffer", "usize"], result: "i64" },
  pluvio_mpi_error_string: { parameters: ["i32", "buffer", "usize"], result: "i64" },
  pluvio_mpi_error_class: { parameters: ["i32"], result: "i32" },

  pluvio_mpi_reactor_create: { parameters: ["u32"], result: "pointer" },
  pluvio_mpi_reactor_ring: { parameters: ["pointer"], result: "pointer" },
  pluvio_mpi_reactor_inflight: { parameters: ["pointer"], result: "i32" },
  pluvio_mpi_reactor_poll: { parameters: ["pointer", "u32"], result: "i32" },
  pluvio_mpi_reactor_destroy: { parameters: ["pointer"], result: "i32" },

  pluvio_mpi_comm_world: { parameters: [], result: "pointer" },
  pluvio_mpi_comm_rank: { parameters: ["pointer"], result: "i32" },
  pluvio_mpi_comm_size: { parameters: ["pointer"], result: "i32" },
  pluvio_mpi_comm_idup: { parameters: [...HEAD], result: "pointer" },
  pluvio_mpi_comm_split: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  pluvio_mpi_allreduce_blocking: {
    parameters: ["pointer", "buffer", "i32", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  pluvio_mpi_comm_is_null: { parameters: ["pointer"], result: "i32" },
  pluvio_mpi_comm_free: { parameters: ["pointer"], result: "i32" },

  // (..., send, recv, count, dtype, op, inplace)
  pluvio_mpi_iallreduce: {
    parameters: [...HEAD, "buffer", "buffer", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  // (..., buf, count, dtype, op, spinNs): 1 done, 0 in flight
  pluvio_mpi_allreduce_p2p: {
    parameters: [...HEAD, "buffer", "i32", "i32", "i32", "u32"],
    result: "i32",
  },
  // (..., send, recv, count, dtype, op, root, inplace)
  pluvio_mpi_ireduce: {
    parameters: [...HEAD, "buffer", "buffer", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  // (..., buf, count, dtype, root)
  pluvio_mpi_ibcast: { parameters: [...HEAD, "buffer", "i32", "i32", "i32"], result: "i32" },
  // (..., send, recv, countPerRank, dtype, root, inplace)
  pluvio_mpi_iscatter: {
    parameters: [...HEAD, "buffer", "buffer", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  pluvio_mpi_igather: {
    parameters: [...HEAD, "buffer", "buffer", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  // (..., send, recv, countPerRank, dtype, inplace)
  pluvio_mpi_iallgather: {
    parameters: [...HEAD, "buffer", "buffer", "i32", "i32", "i32"],
    result: "i32",
  },
  // (..., send, recv, countPerRank, dtype, op, inplace)
  pluvio_mpi_ireduce_scatter_block: {
    parameters: [...HEAD, "buffer", "buffer", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  pluvio_mpi_ialltoall: {
    parameters: [...HEAD, "buffer", "buffer", "i32", "i32", "i32"],
    result: "i32",
  },
  pluvio_mpi_ibarrier: { parameters: [...HEAD], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
