/* C Open MPI reference of `deno task bench:coll --hosts`: f32 sum allreduce, 4 B to
 * max_bytes, as blocking MPI_Allreduce (what most MPI programs call) and as
 * MPI_Iallreduce + MPI_Wait, with the loop of bench/coll/hosts_rank.ts (bounded in time:
 * across namespace hosts a call takes 0.1-100 ms): 5 probe calls give the slowest rank's
 * time per call t; ~300 ms of warm-up calls (at most iters/10 + 1) and 5 batches of ~200 ms
 * (at most iters/5 calls each); the median batch's mean per call, maximised over the ranks.
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

static double slowest(double x) {
  double y;
  MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return y;
}

static int clamp(double x, int lo, int hi) {
  return x < lo ? lo : x > hi ? hi : (int)x;
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
      int iters = iters_for(bytes);
      double p0 = MPI_Wtime();
      for (int i = 0; i < 5; i++) one(blocking, a, bytes);
      double t = slowest((MPI_Wtime() - p0) / 5) * 1e3; /* ms per call */
      if (t < 1e-6) t = 1e-6;
      int warm = clamp(300 / t, 5, iters / 10 + 1), per = clamp(200 / t, 1, iters / BATCHES);
      for (int i = 0; i < warm; i++) one(blocking, a, bytes);
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
