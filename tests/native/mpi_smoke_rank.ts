// One rank of the MPI smoke test (launched by mpirun from native_smoke_test.ts).
import { check, openBackend } from "../../lib/ffi/library.ts";
import { MPI_SYMBOLS } from "../../lib/ffi/symbols/mpi.ts";

const mpi = openBackend("mpi", MPI_SYMBOLS);
check(mpi.pluvio_mpi_disable_async_progress(), "disable async progress");
const funneled = check(mpi.pluvio_mpi_thread_level(1), "MPI_THREAD_FUNNELED");
const provided = check(await mpi.pluvio_mpi_init(funneled), "MPI_Init_thread");
const rank = check(mpi.pluvio_mpi_world_rank(), "MPI_Comm_rank");
const size = check(mpi.pluvio_mpi_world_size(), "MPI_Comm_size");
if (provided < 0 || rank < 0 || rank >= size) throw new Error(`bad rank ${rank}/${size}`);
check(await mpi.pluvio_mpi_finalize(), "MPI_Finalize");
console.log(`mpi-smoke rank ${rank} of ${size} ok`);
