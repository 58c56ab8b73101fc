/* Allreduce as C programs call it: the reference of `deno task bench:mpi`.
 *
 * f32 sum in place, 2+ ranks. Modes: `blocking` (MPI_Allreduce) or `nonblocking`
 * (MPI_Iallreduce + MPI_Wait). For each buffer placement (`plain`: malloc; `page`:
 * page-aligned) and loop shape (`b2b`: calls back to back; `barrier`: an MPI_Barrier
 * before each call, outside the timed part) and size: warm-up, then 5 batches; the
 * median batch's mean µs per call, maximised over ranks. First of all, before any
 * warm-up: the cold figure, the mean of the first 1000 calls of a 4 B allreduce.
 *
 * Build: mpicc -O2 -o allreduce allreduce.c
 * Run:   mpirun -n 2 ./allreduce <blocking|nonblocking>[+b2b] [sizes...]  (+b2b: no barrier loop)
 * Output: COLD c-<mode> <µs>  and  RESULT c-<mode> <plain|page> <b2b|barrier> <bytes> <µs>
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCHES 5

static int blocking;

static int iters_for(long bytes) {
  if (bytes <= 1024) return 2000;
  if (bytes <= 65536) return 300;
  if (bytes <= 1 << 20) return 60;
  return 10;
}

static void one(float *a, long n) {
  if (blocking) {
    MPI_Allreduce(MPI_IN_PLACE, a, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  } else {
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, a, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
  }
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static double worst(double v) {
  double w;
  MPI_Allreduce(&v, &w, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return w;
}

int main(int argc, char **argv) {
  int provided, rank;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  blocking = argc > 1 && !strncmp(argv[1], "blocking", 8);
  int loops = argc > 1 && strstr(argv[1], "+b2b") ? 1 : 2;
  const char *mode = blocking ? "blocking" : "nonblocking";
  long sizes[32];
  int ns = 0;
  for (int i = 2; i < argc && ns < 32; i++) sizes[ns++] = atol(argv[i]);
  long max = 4;
  for (int i = 0; i < ns; i++) if (sizes[i] > max) max = sizes[i];
  {
    float x = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < 1000; i++) one(&x, 1);
    double cold = worst((MPI_Wtime() - t0) * 1e6 / 1000);
    if (rank == 0) printf("COLD c-%s %.3f\n", mode, cold);
  }
  float *plain = malloc((size_t)max + 64);
  float *page = NULL;
  if (posix_memalign((void **)&page, 4096, (size_t)max)) return 1;
  /* plain: malloc's own placement, offset by 16 bytes so it is not page-aligned. */
  float *bufs[2] = {(float *)((char *)plain + 16), page};
  const char *names[2] = {"plain", "page"};
  for (int b = 0; b < 2; b++) {
    for (int loop = 0; loop < loops; loop++) {
      for (int s = 0; s < ns; s++) {
        long bytes = sizes[s], n = bytes / 4;
        float *a = bufs[b];
        memset(a, 0, (size_t)bytes);
        int iters = iters_for(bytes), per = iters / BATCHES;
        for (int i = 0; i < iters / 10 + 1; i++) one(a, n);
        double batch[BATCHES];
        MPI_Barrier(MPI_COMM_WORLD);
        for (int k = 0; k < BATCHES; k++) {
          double sum = 0, t0 = MPI_Wtime();
          for (int i = 0; i < per; i++) {
            if (loop) {
              MPI_Barrier(MPI_COMM_WORLD);
              double t = MPI_Wtime();
              one(a, n);
              sum += MPI_Wtime() - t;
            } else {
              one(a, n);
            }
          }
          batch[k] = (loop ? sum : MPI_Wtime() - t0) * 1e6 / per;
        }
        qsort(batch, BATCHES, sizeof(double), cmp);
        double w = worst(batch[BATCHES / 2]);
        if (rank == 0) {
          printf("RESULT c-%s %s %s %ld %.3f\n", mode, names[b], loop ? "barrier" : "b2b", bytes, w);
        }
        fflush(stdout);
      }
    }
  }
  free(plain);
  free(page);
  MPI_Finalize();
  return 0;
}
