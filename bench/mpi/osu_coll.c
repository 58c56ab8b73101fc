/* OSU-style latency of non-blocking collectives: the reference for bench/mpi/coll_bench.ts.
 *
 * For each collective and message size: warm up, then run `iters` iterations of
 * MPI_I<coll> + an MPI_Test loop (the same non-blocking path pluvio drives), in 5
 * batches; report the median batch's mean latency per iteration, maximised over ranks.
 * Sizes are bytes per rank (allreduce: f32 elements; the others: bytes).
 *
 * Build: mpicc -O2 -o osu_coll osu_coll.c
 * Run:   mpirun -n 2 ./osu_coll [max_bytes]
 * Output lines: RESULT <collective> <bytes> <microseconds>
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCHES 5

static int iters_for(long bytes) {
  if (bytes <= 1024) return 2000;
  if (bytes <= 65536) return 300;
  if (bytes <= 1 << 20) return 60;
  if (bytes <= 4 << 20) return 20;
  return 10;
}

static void wait_req(MPI_Request *req) {
  int done = 0;
  while (!done) MPI_Test(req, &done, MPI_STATUS_IGNORE);
}

static void one(const char *coll, long bytes, void *a, void *b, int rank, int size) {
  MPI_Request req;
  if (!strcmp(coll, "allreduce")) {
    MPI_Iallreduce(MPI_IN_PLACE, a, (int)(bytes / 4), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
  } else if (!strcmp(coll, "broadcast")) {
    MPI_Ibcast(a, (int)bytes, MPI_UINT8_T, 0, MPI_COMM_WORLD, &req);
  } else if (!strcmp(coll, "allgather")) {
    MPI_Iallgather(a, (int)bytes, MPI_UINT8_T, b, (int)bytes, MPI_UINT8_T, MPI_COMM_WORLD, &req);
  } else { /* scatter */
    MPI_Iscatter(rank == 0 ? b : NULL, (int)bytes, MPI_UINT8_T, a, (int)bytes, MPI_UINT8_T, 0,
                 MPI_COMM_WORLD, &req);
  }
  (void)size;
  wait_req(&req);
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
  int provided, rank, size;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long max_bytes = argc > 1 ? atol(argv[1]) : 16L << 20;
  const char *colls[] = {"allreduce", "broadcast", "allgather", "scatter"};
  char *a = malloc((size_t)max_bytes);
  char *b = malloc((size_t)max_bytes * (size_t)size);
  memset(a, 1, (size_t)max_bytes);
  memset(b, 1, (size_t)max_bytes * (size_t)size);
  /* Warm-up (MPI connections) before anything is measured, as coll_bench.ts does. */
  for (int i = 0; i < 3000; i++) {
    float warm = 0;
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, &warm, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
    wait_req(&req);
  }
  for (int c = 0; c < 4; c++) {
    for (long bytes = 4; bytes <= max_bytes; bytes *= 4) {
      int iters = iters_for(bytes), per = iters / BATCHES;
      if (!strcmp(colls[c], "allreduce")) memset(a, 0, (size_t)bytes); /* keep sums finite */
      for (int i = 0; i < iters / 10 + 1; i++) one(colls[c], bytes, a, b, rank, size);
      double batch[BATCHES];
      MPI_Barrier(MPI_COMM_WORLD);
      for (int k = 0; k < BATCHES; k++) {
        double t0 = MPI_Wtime();
        for (int i = 0; i < per; i++) one(colls[c], bytes, a, b, rank, size);
        batch[k] = (MPI_Wtime() - t0) * 1e6 / per;
      }
      qsort(batch, BATCHES, sizeof(double), cmp);
      double med = batch[BATCHES / 2], worst;
      MPI_Reduce(&med, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
      if (rank == 0) printf("RESULT %s %ld %.3f\n", colls[c], bytes, worst);
      fflush(stdout);
    }
  }
  free(a);
  free(b);
  MPI_Finalize();
  return 0;
}
