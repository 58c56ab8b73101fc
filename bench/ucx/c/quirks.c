/*
 * Probes the UCX behaviours pluvio's UCX backend works around, against whichever UCX it
 * is compiled and run with (bench/ucx/quirks.ts builds it for the UCX libpluvio loads).
 * Two workers of one context in one process, connected by worker address.
 *
 *   quirks am-none     an Active Message for an id on a worker that never registered one
 *   quirks am-beyond   AMs for ids 7, 1007, 2007 on a worker that registered only id 3
 *   quirks tag-info    a tag receive posted after its eager message arrived: is the
 *                      receive info written when the receive completes at once?
 * Prints one result line; a crash is the result for am-none on an affected UCX.
 */
#include <stdio.h>
#include <string.h>
#include <ucp/api/ucp.h>

static void send_cb(void *req, ucs_status_t st, void *arg) { (void)req, (void)st, (void)arg; }

static void recv_cb(void *req, ucs_status_t st, const ucp_tag_recv_info_t *info, void *arg) {
  (void)req, (void)st, (void)info, (void)arg;
}

static ucs_status_t am_cb(void *arg, const void *hdr, size_t hlen, void *data, size_t len,
                          const ucp_am_recv_param_t *param) {
  (void)hdr, (void)hlen, (void)data, (void)len, (void)param;
  ++*(int *)arg;
  return UCS_OK;
}

static ucp_worker_h a, b;

static void progress(int turns) {
  for (int i = 0; i < turns; i++) ucp_worker_progress(a), ucp_worker_progress(b);
}

static void wait_req(void *r) {
  while (r != NULL && UCS_PTR_IS_PTR(r) && ucp_request_check_status(r) == UCS_INPROGRESS) progress(1);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  ucp_config_t *cfg;
  ucp_params_t pp = {.field_mask = UCP_PARAM_FIELD_FEATURES,
                     .features = UCP_FEATURE_AM | UCP_FEATURE_TAG | UCP_FEATURE_WAKEUP};
  ucp_context_h ctx;
  ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                            .thread_mode = UCS_THREAD_MODE_SINGLE};
  if (ucp_config_read(NULL, NULL, &cfg) != UCS_OK || ucp_init(&pp, cfg, &ctx) != UCS_OK ||
      ucp_worker_create(ctx, &wp, &a) != UCS_OK || ucp_worker_create(ctx, &wp, &b) != UCS_OK) {
    fprintf(stderr, "UCX setup failed\n");
    return 2;
  }
  ucp_address_t *addr;
  size_t alen;
  ucp_worker_get_address(a, &addr, &alen);
  ucp_ep_params_t ep = {.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS, .address = addr};
  ucp_ep_h e;
  ucp_ep_create(b, &ep, &e);
  char buf[64] = "hello";
  ucp_request_param_t sp = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK, .cb.send = send_cb};

  if (!strcmp(mode, "am-none") || !strcmp(mode, "am-beyond")) {
    int calls = 0;
    if (!strcmp(mode, "am-beyond")) {
      ucp_am_handler_param_t hp = {.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID |
                                                 UCP_AM_HANDLER_PARAM_FIELD_CB |
                                                 UCP_AM_HANDLER_PARAM_FIELD_ARG,
                                   .id = 3, .cb = am_cb, .arg = &calls};
      ucp_worker_set_am_recv_handler(a, &hp);
    }
    for (unsigned id = 7; id < 3000; id += 1000) wait_req(ucp_am_send_nbx(e, id, NULL, 0, buf, 6, &sp));
    progress(100000);
    printf("survived; handler calls %d\n", calls);
  } else if (!strcmp(mode, "tag-info")) {
    wait_req(ucp_tag_send_nbx(e, buf, 6, 42, &sp));
    progress(100000);
    ucp_tag_recv_info_t info;
    memset(&info, 0xab, sizeof info);
    ucp_request_param_t rp = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_RECV_INFO,
                              .cb.recv = recv_cb, .recv_info.tag_info = &info};
    char out[64];
    void *r = ucp_tag_recv_nbx(a, out, sizeof out, 42, (ucp_tag_t)-1, &rp);
    printf("completed at once: %s; info %s (length %zu)\n", r == NULL ? "yes" : "no",
           info.length == 6 ? "written" : "NOT written", info.length);
  } else {
    fprintf(stderr, "usage: quirks am-none|am-beyond|tag-info\n");
    return 2;
  }
  return 0;
}
