/*
 * C stand-in for bench/ucx/pluvio_client.ts's `bw` command (bench/ucx/sides.ts): Active
 * Messages with 32 in flight (ucx_perftest ucp_am_bw's window), on libucp directly,
 * busy-polling like ucx_perftest's sender, from one send buffer never written (as
 * perftest's).
 *
 * Usage: sender <pong command...>: runs the command with this worker's address (base64)
 * appended, reads the pong's address from its first output line, then reads
 * `bw <size> <count>` lines on stdin and prints `{"mibs":x}` for each (timed until the
 * pong confirms the last message, as pluvio_client.ts does); at end of input, sends AM 9.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "common.h"

#define WINDOW 32

static ucp_worker_h worker;
static ucp_ep_h ep;
static int outstanding = 0, confirmed = 0;

static ucs_status_t on_confirm(void *arg, const void *h, size_t hl, void *d, size_t l,
                               const ucp_am_recv_param_t *p) {
  (void)arg;
  (void)h;
  (void)hl;
  (void)d;
  (void)l;
  (void)p;
  confirmed++;
  return UCS_OK;
}

static void sent(void *req, ucs_status_t st, void *ud) {
  (void)ud;
  if (st != UCS_OK) abort();
  outstanding--;
  ucp_request_free(req);
}

static void send_am(unsigned id, const void *h, size_t hl, const void *d, size_t dl) {
  ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK, .cb.send = sent};
  ucs_status_ptr_t r = ucp_am_send_nbx(ep, id, h, hl, d, dl, &p);
  if (UCS_PTR_IS_ERR(r)) abort();
  if (r != NULL) outstanding++;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sender <pong command...>\n");
    return 2;
  }
  worker = am_worker();
  on_am(worker, 5, on_confirm);
  static char cmd[65536], addr[32768], line[32768];
  framed_address(worker, addr);
  for (int i = 1; i < argc; i++) {
    strcat(cmd, argv[i]);
    strcat(cmd, " ");
  }
  strcat(cmd, addr);
  FILE *pong = popen(cmd, "r");
  if (!pong || !fgets(line, sizeof line, pong)) return 1;
  ep = connect_framed(worker, line);
  void *buf;
  if (posix_memalign(&buf, 4096, 16u << 20)) return 1;
  char in[256];
  uint8_t hdr = 1;
  while (fgets(in, sizeof in, stdin)) {
    size_t size, count;
    if (sscanf(in, "bw %zu %zu", &size, &count) != 2 || size > (16u << 20) || count == 0) break;
    int want = confirmed + 1;
    double t0 = now();
    for (size_t i = 0; i < count; i++) {
      int last = i + 1 == count; /* a header marks a round's last message */
      send_am(size >= 65536 ? 3 : 6, last ? &hdr : NULL, last ? 1 : 0, buf, size);
      while (outstanding >= WINDOW) ucp_worker_progress(worker);
    }
    while (confirmed < want || outstanding > 0) ucp_worker_progress(worker);
    printf("{\"mibs\":%f}\n", (double)size * (double)count / (now() - t0) / 1048576.0);
    fflush(stdout);
  }
  send_am(9, NULL, 0, NULL, 0);
  while (outstanding > 0) ucp_worker_progress(worker);
  /* Let the exit message leave before the endpoint goes away with the process. */
  for (int i = 0; i < 100000; i++) ucp_worker_progress(worker);
  return pclose(pong) == 0 ? 0 : 1;
}
