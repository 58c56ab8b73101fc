/*
 * Shared by the C stand-ins of bench/ucx/sides.ts: base64 and pluvio's worker-address
 * framing ("PLUX", u32 version 1, u32 length, raw UCX address, u64 FNV-1a of it), so
 * that they talk to pluvio_client.ts and pong.ts unchanged.
 */
#ifndef PLUVIO_BENCH_UCX_COMMON_H
#define PLUVIO_BENCH_UCX_COMMON_H
#include <stdint.h>
#include <string.h>
#include <ucp/api/ucp.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes). */
static void b64enc(const uint8_t *in, size_t n, char *out) {
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    *out++ = B64[v >> 18 & 63];
    *out++ = B64[v >> 12 & 63];
    *out++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
    *out++ = i + 2 < n ? B64[v & 63] : '=';
  }
  *out = 0;
}

/* Decodes base64 (stops at the end of the string; skips padding and newlines). */
static size_t b64dec(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  uint32_t v = 0;
  int bits = 0;
  for (; *s && n < cap; s++) {
    const char *p = strchr(B64, *s);
    if (!p || *s == '=' || *s == '\n') continue;
    v = v << 6 | (uint32_t)(p - B64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (uint8_t)(v >> bits);
    }
  }
  return n;
}

/* The worker's address, framed as pluvio's worker.address() and base64-encoded. */
static void framed_address(ucp_worker_h w, char *out) {
  ucp_address_t *a;
  size_t al;
  if (ucp_worker_get_address(w, &a, &al) != UCS_OK) abort();
  static uint8_t fr[16384];
  uint32_t ver = 1, l32 = (uint32_t)al;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < al; i++) h = (h ^ ((const uint8_t *)a)[i]) * 0x100000001b3ULL;
  memcpy(fr, "PLUX", 4);
  memcpy(fr + 4, &ver, 4);
  memcpy(fr + 8, &l32, 4);
  memcpy(fr + 12, a, al);
  memcpy(fr + 12 + al, &h, 8);
  ucp_worker_release_address(w, a);
  b64enc(fr, al + 20, out);
}

/* Connects to a framed, base64-encoded pluvio worker address. */
static ucp_ep_h connect_framed(ucp_worker_h w, const char *b64) {
  static uint8_t raw[16384];
  size_t n = b64dec(b64, raw, sizeof raw);
  if (n < 20 || memcmp(raw, "PLUX", 4) != 0) abort();
  ucp_ep_params_t p = {.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS,
                       .address = (const ucp_address_t *)(raw + 12)};
  ucp_ep_h ep;
  if (ucp_ep_create(w, &p, &ep) != UCS_OK) abort();
  return ep;
}

/* A context with Active Messages only and a single-threaded worker, as ucx_perftest's. */
static ucp_worker_h am_worker(void) {
  ucp_params_t pp = {.field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_AM};
  ucp_config_t *cfg;
  ucp_context_h ctx;
  ucp_worker_h w;
  if (ucp_config_read(NULL, NULL, &cfg) != UCS_OK) abort();
  if (ucp_init(&pp, cfg, &ctx) != UCS_OK) abort();
  ucp_config_release(cfg);
  ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                            .thread_mode = UCS_THREAD_MODE_SINGLE};
  if (ucp_worker_create(ctx, &wp, &w) != UCS_OK) abort();
  return w;
}

/* Registers an Active Message handler. */
static void on_am(ucp_worker_h w, unsigned id, ucp_am_recv_callback_t cb) {
  ucp_am_handler_param_t p = {
      .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB,
      .id = id,
      .cb = cb};
  if (ucp_worker_set_am_recv_handler(w, &p) != UCS_OK) abort();
}
#endif
