/*
 * C stand-in for bench/ucx/pong.ts (bench/ucx/sides.ts): the same Active Messages, on
 * libucp directly, busy-polling like ucx_perftest's receiver; every rendezvous payload is
 * pulled into one buffer from the UCX callback, as ucx_perftest's ucp_am_bw does.
 *
 * Usage: sink <parent address, base64>; prints its own address (base64) on one line.
 * AM 1 (ping): replied with AM 2 carrying the same header and a payload of the same size;
 * AM 3 / 6 (bandwidth): received; one with a header ends a round: AM 5 is sent once every
 * payload before it is in; AM 9: exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"

#define BUF (16u << 20)

static ucp_worker_h worker;
static ucp_ep_h parent;
static void *rbuf, *sbuf;
static int pulls = 0, end_round = 0, quit = 0;
static int ping_ready = 0;
static uint8_t ping_hdr;
static size_t ping_len;

static void pulled(void *req, ucs_status_t st, size_t len, void *ping) {
  (void)req;
  (void)len;
  if (st != UCS_OK) abort();
  if (ping) ping_ready = 1;
  else pulls--;
}

/* Pulls a rendezvous payload into rbuf; `ping` marks a ping's payload. */
static void pull(void *desc, size_t len, void *ping) {
  if (len > BUF) abort();
  ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
                           .cb.recv_am = pulled,
                           .user_data = ping};
  if (!ping) pulls++;
  ucs_status_ptr_t r = ucp_am_recv_data_nbx(worker, desc, rbuf, len, &p);
  if (UCS_PTR_IS_ERR(r)) abort();
  if (r == NULL) pulled(NULL, UCS_OK, len, ping);
  else ucp_request_release(r);
}

static ucs_status_t on_bw(void *arg, const void *hdr, size_t hl, void *data, size_t len,
                          const ucp_am_recv_param_t *p) {
  (void)arg;
  (void)hdr;
  if (hl > 0) end_round = 1;
  if (!(p->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV)) return UCS_OK; /* eager: not read */
  pull(data, len, NULL);
  return UCS_INPROGRESS;
}

static ucs_status_t on_ping(void *arg, const void *hdr, size_t hl, void *data, size_t len,
                            const ucp_am_recv_param_t *p) {
  (void)arg;
  ping_hdr = hl ? *(const uint8_t *)hdr : 0;
  ping_len = len;
  if (len > BUF) abort();
  if (p->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    pull(data, len, (void *)1);
    return UCS_INPROGRESS;
  }
  memcpy(rbuf, data, len);
  ping_ready = 1;
  return UCS_OK;
}

static ucs_status_t on_quit(void *arg, const void *hdr, size_t hl, void *data, size_t len,
                            const ucp_am_recv_param_t *p) {
  (void)arg;
  (void)hdr;
  (void)hl;
  (void)data;
  (void)len;
  (void)p;
  quit = 1;
  return UCS_OK;
}

/* Sends an AM to the parent and progresses until UCX is done with the buffers. */
static void send_wait(unsigned id, const void *h, size_t hl, const void *d, size_t dl) {
  ucp_request_param_t p = {.op_attr_mask = 0};
  ucs_status_ptr_t r = ucp_am_send_nbx(parent, id, h, hl, d, dl, &p);
  if (UCS_PTR_IS_ERR(r)) abort();
  if (r == NULL) return;
  while (ucp_request_check_status(r) == UCS_INPROGRESS) ucp_worker_progress(worker);
  ucp_request_free(r);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sink <parent address, base64>\n");
    return 2;
  }
  worker = am_worker();
  if (posix_memalign(&rbuf, 4096, BUF) || posix_memalign(&sbuf, 4096, BUF)) return 1;
  on_am(worker, 1, on_ping);
  on_am(worker, 3, on_bw);
  on_am(worker, 6, on_bw);
  on_am(worker, 9, on_quit);
  parent = connect_framed(worker, argv[1]);
  static char addr[32768];
  framed_address(worker, addr);
  printf("%s\n", addr);
  fflush(stdout);
  while (!quit) {
    ucp_worker_progress(worker);
    if (ping_ready) {
      ping_ready = 0;
      send_wait(2, &ping_hdr, 1, sbuf, ping_len);
    }
    if (end_round && pulls == 0) {
      end_round = 0;
      send_wait(5, NULL, 0, NULL, 0);
    }
  }
  return 0;
}
