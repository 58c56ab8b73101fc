/* Values that mpi.h defines as macros, which bindgen (and so mpi-sys) cannot export.
 * Compiled with mpicc by native/build.rs, so they match the MPI the crate links. */
#include <mpi.h>

/* MPI_IN_PLACE: (void *) 1 in Open MPI, (void *) -1 in MPICH. */
void *pluvio_mpi_shim_in_place(void) { return MPI_IN_PLACE; }
