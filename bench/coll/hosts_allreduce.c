/* C Open MPI reference of `deno task bench:coll --hosts`: f32 sum allreduce, 4 B to
 * max_bytes, as blocking MPI_Allreduce (what most MPI programs call) and as
 * MPI_Iallreduce + MPI_Wait, with the statistic of lib/collective/ucx/measure.ts: warm up,
 * 5 batches, the median batch's mean per call, maximised over the ranks.
 *
 * Build: mpicc -O2 -o hosts_allreduce hosts_allreduce.c
 * Run:   mpirun -n 4 ./hosts_allreduce [max_bytes]
 * Output lines (rank 0): RESULT <c-allreduce|c-iallreduce> <bytes> <microseconds>
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCHES 5

static int iters_for(long bytes) {
  if (bytes <= 1024) return 5000;
  if (bytes <= 65536) return 1000;
  if (bytes <= 1 << 20) return 100;
  if (bytes <= 4 << 20) return 20;
  return 10;
}

static void one(int blocking, float *a, long bytes) {
  if (blocking) {
    MPI_Allreduce(MPI_IN_PLACE, a, (int)(bytes / 4), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  } else {
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, a, (int)(bytes / 4), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
  }
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
  int rank;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  long max_bytes = argc > 1 ? atol(argv[1]) : 16L << 20;
  float *a = calloc((size_t)max_bytes / 4, sizeof(float));
  for (int i = 0; i < 1000; i++) one(1, a, 4);
  for (long bytes = 4; bytes <= max_bytes; bytes *= 4) {
    for (int blocking = 1; blocking >= 0; blocking--) {
      int iters = iters_for(bytes), per = iters / BATCHES;
      for (int i = 0; i < iters / 10 + 1; i++) one(blocking, a, bytes);
      double batch[BATCHES];
      MPI_Barrier(MPI_COMM_WORLD);
      for (int k = 0; k < BATCHES; k++) {
        double t0 = MPI_Wtime();
        for (int i = 0; i < per; i++) one(blocking, a, bytes);
        batch[k] = (MPI_Wtime() - t0) * 1e6 / per;
      }
      qsort(batch, BATCHES, sizeof(double), cmp);
      double mine = batch[BATCHES / 2], worst;
      MPI_Allreduce(&mine, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (rank == 0) {
        printf("RESULT %s %ld %.3f\n", blocking ? "c-allreduce" : "c-iallreduce", bytes, worst);
        fflush(stdout);
      }
    }
  }
  free(a);
  MPI_Finalize();
  return 0;
}
