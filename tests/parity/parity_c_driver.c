/*
 * parity_c_driver: the C API as a C host uses it, for the cross-host parity
 * suite (tests/parity/parity.test.mjs). One operation per run, argv in the
 * shape of the `foldback` CLI, one JSON object on stdout:
 *
 *   parity_c_driver ask DIR --question Q [--driver http|needs] [--endpoint URL]
 *       [--model M] [--key K] [--hops N] [--rewrite llm|rm3|none] [--answer]
 *       [--deadline-ms N] [--allowed-matters A,B] [--redact PATTERN]...
 *     -> {"ok":true,"trace_id":...,"passages":[chunk ids],"trace":<fb_ask_trace_json>}
 *     --driver http:  fb_ask_run_http (the library's libcurl client).
 *     --driver needs: the host answers every need itself, as README.md shows:
 *       fb_ask_need_http_request, one POST over a plain socket (this file;
 *       "Authorization: Bearer K" added by the host), then
 *       fb_ask_http_attempt with each attempt (status, headers, body, or how
 *       the transport failed), sending again after the wait it returns —
 *       the core's retry decision, as the other hosts'.
 *     The trace is saved in DIR/traces (fb_ask_save_trace).
 *   parity_c_driver feedback DIR --trace ID [--rating R] [--relevant C]...
 *       [--partly C]... [--irrelevant C]... [--critique T] [--correction T]
 *       [--preferred-rewrite T] [--tag T]... [--consent] [--privileged] [--replace-earlier]
 *       [--user U] [--matter M]
 *     -> {"ok":true,"record_id":...} | {"ok":false,"code":N,"error":...}
 *   parity_c_driver forget-matter DIR MATTER
 *     -> {"ok":true,"forgotten":N,"embedder":what fb_index_forget_matter did} | error
 *   parity_c_driver train DIR [--shareable-matters A,B]   (sources "feedback",
 *       epochs 0: the default; installed, then fb_index_save)
 *     -> {"ok":true,"pairs":N,"version":V} | error
 *   parity_c_driver export DIR --format F --out FILE [--allowed-matters A,B]
 *     -> {"ok":true,"report":{...}} | error
 *   parity_c_driver search DIR --query Q [--mode bm25|dense|hybrid] [--top-k N]
 *       [--allowed-matters A,B] [--filter F=V]... [--syntax auto|plain|connectors]
 *     -> {"ok":true,"hits":[{"chunk_id","doc_id","matter","score"}]} | error
 *     (tests/parity/search_parity.test.mjs)
 *   parity_c_driver delete DIR ID   (fb_index_remove, then fb_index_save)
 *     -> {"ok":true,"documents":N} | error
 *
 * Exit status 0 whenever the JSON was written (a refusal is data); 2 for
 * bad usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <foldback.h>

/* ------------------------------------------------------------------ output */

static void json_string(FILE* f, const char* s) {
  const unsigned char* p = (const unsigned char*)(s ? s : "");
  fputc('"', f);
  for (; *p; ++p) {
    switch (*p) {
      case '"':
        fputs("\\\"", f);
        break;
      case '\\':
        fputs("\\\\", f);
        break;
      case '\n':
        fputs("\\n", f);
        break;
      case '\r':
        fputs("\\r", f);
        break;
      case '\t':
        fputs("\\t", f);
        break;
      default:
        if (*p < 0x20) {
          fprintf(f, "\\u%04x", *p);
        } else {
          fputc(*p, f);
        }
    }
  }
  fputc('"', f);
}

static int refused(int code, const char* message) {
  printf("{\"ok\":false,\"code\":%d,\"error\":", code);
  json_string(stdout, message);
  printf("}\n");
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: parity_c_driver ask|feedback|forget-matter|export|search|delete|train DIR "
          "[options]\n");
  return 2;
}

/* ------------------------------------------------------------------ arguments */

#define MAX_LIST 32

typedef struct {
  const char* items[MAX_LIST];
  size_t count;
} list;

static void push(list* l, const char* s) {
  if (l->count < MAX_LIST) l->items[l->count++] = s;
}

/* Splits "a,b" in place into `l`. */
static void split_commas(char* s, list* l) {
  char* p = s;
  while (p && *p) {
    char* comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (*p) push(l, p);
    p = comma ? comma + 1 : NULL;
  }
}

/* ------------------------------------------------------------------ HTTP over a socket */

#define MAX_HEADERS 32

typedef struct {
  long status; /* 0: no complete reply */
  char* body;  /* malloc'ed, NUL-terminated */
  size_t body_len;
  fb_transport transport; /* FB_TRANSPORT_OK when a whole reply came */
  char why[256];          /* when status is 0 */
  char* head;             /* malloc'ed header block (names lower-cased), or NULL */
  fb_http_header headers[MAX_HEADERS];
  size_t header_count;
} http_reply;

static void http_reply_free(http_reply* r) {
  free(r->body);
  free(r->head);
  r->body = r->head = NULL;
}

/* Splits the header block (after the status line) into name/value pairs. */
static void split_headers(http_reply* r) {
  char* end = r->head + strlen(r->head);
  char* line = strstr(r->head, "\r\n");
  if (!line) return;
  line += 2;
  while (line < end && r->header_count < MAX_HEADERS) {
    char* eol = strstr(line, "\r\n");
    char* colon;
    if (!eol) eol = end;
    *eol = '\0';
    colon = strchr(line, ':');
    if (colon) {
      *colon = '\0';
      r->headers[r->header_count].name = line;
      r->headers[r->header_count].value = colon + 1;
      r->header_count++;
    }
    line = eol + 2;
  }
}

static int parse_url(const char* url, char* host, size_t host_size, int* port,
                     const char** target) {
  const char* p;
  const char* colon;
  const char* slash;
  size_t n;
  if (strncmp(url, "http://", 7) != 0) return -1;
  p = url + 7;
  slash = strchr(p, '/');
  colon = strchr(p, ':');
  if (!slash) return -1;
  if (colon && colon < slash) {
    n = (size_t)(colon - p);
    *port = atoi(colon + 1);
  } else {
    n = (size_t)(slash - p);
    *port = 80;
  }
  if (n + 1 > host_size) return -1;
  memcpy(host, p, n);
  host[n] = '\0';
  *target = slash;
  return 0;
}

/* Decodes a chunked body in place; -1 when the last chunk never came. */
static long dechunk(char* data, size_t len) {
  size_t in = 0, out = 0;
  for (;;) {
    char* end;
    unsigned long size;
    char* line_end = NULL;
    size_t i;
    for (i = in; i + 1 < len; ++i) {
      if (data[i] == '\r' && data[i + 1] == '\n') {
        line_end = data + i;
        break;
      }
    }
    if (!line_end) return -1;
    size = strtoul(data + in, &end, 16);
    in = (size_t)(line_end - data) + 2;
    if (size == 0) return (long)out;
    if (in + size + 2 > len) return -1;
    memmove(data + out, data + in, size);
    out += size;
    in += size + 2;
  }
}

/* One POST; waits at most timeout_ms (0: 120 s) for the whole reply. */
static void http_post(const char* url, const char* body, const char* key, double timeout_ms,
                      http_reply* r) {
  char host[256];
  int port = 0;
  const char* target = NULL;
  int fd = -1;
  struct sockaddr_in addr;
  char* req = NULL;
  size_t req_len, sent = 0, cap = 65536, len = 0;
  char* buf = NULL;
  double start = fb_monotonic_ms();
  double limit = timeout_ms > 0 ? timeout_ms : 120000;
  char* header_end;
  memset(r, 0, sizeof *r);
  if (parse_url(url, host, sizeof host, &port, &target) != 0) {
    snprintf(r->why, sizeof r->why, "cannot parse URL %s", url);
    r->transport = FB_TRANSPORT_HOPELESS;
    return;
  }
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  if (fd < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
      connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    snprintf(r->why, sizeof r->why, "could not reach %s: %s", url, strerror(errno));
    r->transport = FB_TRANSPORT_UNREACHABLE;
    if (fd >= 0) close(fd);
    return;
  }
  req_len = strlen(body) + strlen(target) + strlen(host) + (key ? strlen(key) : 0) + 512;
  req = (char*)malloc(req_len);
  req_len = (size_t)snprintf(req, req_len,
                             "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                             "Accept: application/json\r\n%s%s%sContent-Length: %zu\r\n"
                             "Connection: close\r\n\r\n%s",
                             target, host, port, key ? "Authorization: Bearer " : "",
                             key ? key : "", key ? "\r\n" : "", strlen(body), body);
  while (sent < req_len) {
    ssize_t n = send(fd, req + sent, req_len - sent, 0);
    if (n <= 0) break;
    sent += (size_t)n;
  }
  free(req);
  buf = (char*)malloc(cap + 1);
  for (;;) {
    struct pollfd pfd;
    double left = limit - (fb_monotonic_ms() - start);
    ssize_t n;
    if (left <= 0) {
      r->transport = FB_TRANSPORT_NEED_TIMEOUT;
      break;
    }
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, (int)(left + 1)) <= 0) continue;
    if (len == cap) {
      cap *= 2;
      buf = (char*)realloc(buf, cap + 1);
    }
    n = recv(fd, buf + len, cap - len, 0);
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  header_end = strstr(buf, "\r\n\r\n");
  if (r->transport == FB_TRANSPORT_NEED_TIMEOUT) {
    /* The status line, when one came before the stall. */
    if (len >= 12 && strncmp(buf, "HTTP/1.", 7) == 0) r->status = strtol(buf + 9, NULL, 10);
    snprintf(r->why, sizeof r->why, "no complete reply from %s within %.0f ms", url, limit);
    free(buf);
    return;
  }
  if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || !header_end) {
    snprintf(r->why, sizeof r->why, "connection to %s closed before a reply", url);
    r->transport = len > 0 ? FB_TRANSPORT_CUT_OFF : FB_TRANSPORT_UNREACHABLE;
    free(buf);
    return;
  }
  {
    long status = strtol(buf + 9, NULL, 10);
    char* body_start = header_end + 4;
    size_t body_len = len - (size_t)(body_start - buf);
    const char* cl = NULL;
    int chunked = 0;
    char* p;
    *header_end = '\0';
    for (p = buf; *p; ++p) *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    cl = strstr(buf, "\r\ncontent-length:");
    chunked = strstr(buf, "\r\ntransfer-encoding: chunked") != NULL;
    if (chunked) {
      long n = dechunk(body_start, body_len);
      if (n < 0) {
        snprintf(r->why, sizeof r->why, "connection to %s closed in the middle of the reply", url);
        r->transport = FB_TRANSPORT_CUT_OFF;
        free(buf);
        return;
      }
      body_len = (size_t)n;
    } else if (cl) {
      size_t want = (size_t)strtoul(cl + 17, NULL, 10);
      if (body_len < want) {
        snprintf(r->why, sizeof r->why, "connection to %s closed in the middle of the reply", url);
        r->transport = FB_TRANSPORT_CUT_OFF;
        free(buf);
        return;
      }
      body_len = want;
    }
    r->status = status;
    r->head = (char*)malloc(strlen(buf) + 1);
    strcpy(r->head, buf);
    split_headers(r);
    r->body = (char*)malloc(body_len + 1);
    memcpy(r->body, body_start, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
  }
  free(buf);
}

/* ------------------------------------------------------------------ ask */

static int answer_needs(fb_ask* ask, const fb_llm_endpoint_params* ep, const char* key) {
  while (!fb_ask_done(ask)) {
    fb_needs* needs = NULL;
    size_t i, count;
    if (fb_ask_take_needs(ask, &needs) != FB_OK) return -1;
    count = fb_needs_count(needs);
    if (count == 0) {
      /* Nothing to do but tell the time (an abandoned session finishes). */
      fb_needs_free(needs);
      fb_ask_tick(ask, fb_monotonic_ms());
      if (!fb_ask_done(ask)) {
        fprintf(stderr, "the session asks for nothing and is not done\n");
        return -1;
      }
      break;
    }
    for (i = 0; i < count; ++i) {
      const fb_need* n = fb_needs_get(needs, i);
      char* url = NULL;
      char* body = NULL;
      http_reply reply;
      double start = fb_monotonic_ms();
      int rc = fb_ask_need_http_request(ask, n->id, ep, &url, &body);
      if (rc != FB_OK) {
        fb_need_result failed = fb_need_default_result();
        failed.status = rc;
        failed.message = fb_ask_last_error(ask);
        failed.attempts = 0;
        fb_ask_provide(ask, n->id, &failed, fb_monotonic_ms());
        continue;
      }
      /* Every attempt goes to the core, which says whether to send again. */
      for (;;) {
        fb_http_attempt at = fb_http_attempt_default();
        double retry_in = -1;
        double attempt_start = fb_monotonic_ms();
        double left = n->timeout_ms > 0 ? n->timeout_ms - (attempt_start - start) : 0;
        http_post(url, body, key, n->timeout_ms > 0 ? (left > 1 ? left : 1) : 0, &reply);
        at.transport = reply.transport;
        at.http_status = reply.status;
        at.headers = reply.headers;
        at.header_count = reply.header_count;
        at.body = reply.body;
        at.body_len = reply.body_len;
        at.why = reply.why;
        at.elapsed_ms = fb_monotonic_ms() - attempt_start;
        rc = fb_ask_http_attempt(ask, n->id, ep, &at, fb_monotonic_ms(), &retry_in);
        http_reply_free(&reply);
        if (rc != FB_OK) {
          fprintf(stderr, "fb_ask_http_attempt: %s\n", fb_ask_last_error(ask));
          return -1;
        }
        if (retry_in < 0) break;
        {
          struct timespec ts;
          ts.tv_sec = (time_t)(retry_in / 1000);
          ts.tv_nsec = (long)((retry_in - (double)ts.tv_sec * 1000) * 1e6);
          nanosleep(&ts, NULL);
        }
      }
      fb_string_free(url);
      fb_string_free(body);
    }
    fb_needs_free(needs);
  }
  return 0;
}

static int cmd_ask(const char* dir, int argc, char** argv) {
  const char* question = NULL;
  const char* driver = "http";
  const char* key = NULL;
  fb_ask_params ap = fb_ask_default_params();
  fb_llm_endpoint_params ep = fb_llm_endpoint_default_params();
  list matters = {{0}, 0};
  list redact = {{0}, 0};
  fb_index* index;
  fb_ask* ask = NULL;
  int err = 0, rc, i;
  size_t k;
  for (i = 0; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--answer")) {
      ap.answer = 1;
      continue;
    }
    if (!v) return usage();
    ++i;
    if (!strcmp(a, "--question"))
      question = v;
    else if (!strcmp(a, "--driver"))
      driver = v;
    else if (!strcmp(a, "--endpoint"))
      ep.url = v;
    else if (!strcmp(a, "--model"))
      ep.model = v;
    else if (!strcmp(a, "--key"))
      key = v;
    else if (!strcmp(a, "--hops"))
      ap.hops = (uint32_t)atoi(v);
    else if (!strcmp(a, "--redact"))
      push(&redact, v);
    else if (!strcmp(a, "--deadline-ms"))
      ap.deadline_ms = atof(v);
    else if (!strcmp(a, "--rewrite")) {
      ap.rewrite = !strcmp(v, "rm3")    ? FB_REWRITE_RM3
                   : !strcmp(v, "none") ? FB_REWRITE_NONE
                                        : FB_REWRITE_LLM;
    } else if (!strcmp(a, "--allowed-matters")) {
      split_commas(argv[i], &matters);
      ap.restrict_matters = 1;
    } else {
      return usage();
    }
  }
  if (!question) return usage();
  ap.allowed_matters = matters.items;
  ap.allowed_matter_count = matters.count;
  ap.redact_patterns = redact.items;
  ap.redact_pattern_count = redact.count;
  ep.api_key = key;
  index = fb_index_open(dir, &err);
  if (!index) return refused(err, "fb_index_open failed");
  rc = fb_ask_start(index, question, &ap, fb_monotonic_ms(), &ask);
  if (rc != FB_OK) {
    refused(rc, fb_index_last_error(index));
    fb_index_free(index);
    return 0;
  }
  if (!strcmp(driver, "needs")) {
    rc = answer_needs(ask, &ep, key) == 0 ? FB_OK : FB_EINTERNAL;
  } else {
    rc = fb_ask_run_http(ask, &ep, NULL, NULL);
  }
  if (rc != FB_OK) {
    refused(rc, fb_ask_last_error(ask));
  } else if ((rc = fb_ask_save_trace(ask, NULL)) != FB_OK) {
    refused(rc, fb_ask_last_error(ask));
  } else {
    printf("{\"ok\":true,\"trace_id\":");
    json_string(stdout, fb_ask_trace_id(ask));
    printf(",\"passages\":[");
    for (k = 0; k < fb_ask_passage_count(ask); ++k) {
      if (k) putchar(',');
      json_string(stdout, fb_ask_passage(ask, k)->chunk_id);
    }
    printf("],\"trace\":%s}\n", fb_ask_trace_json(ask));
  }
  fb_ask_free(ask);
  fb_index_free(index);
  return 0;
}

/* ------------------------------------------------------------------ feedback */

static int cmd_feedback(const char* dir, int argc, char** argv) {
  fb_feedback_record r = fb_feedback_default_record();
  list relevant = {{0}, 0}, partly = {{0}, 0}, irrelevant = {{0}, 0}, tags = {{0}, 0};
  fb_feedback_log* log = NULL;
  char* id = NULL;
  int rc, i, replace_earlier = 0;
  for (i = 0; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--replace-earlier")) {
      replace_earlier = 1;
      continue;
    }
    if (!strcmp(a, "--consent")) {
      r.consent_to_train = 1;
      continue;
    }
    if (!strcmp(a, "--privileged")) {
      r.privileged = 1;
      continue;
    }
    if (!v) return usage();
    ++i;
    if (!strcmp(a, "--trace"))
      r.trace_id = v;
    else if (!strcmp(a, "--rating"))
      r.rating = v;
    else if (!strcmp(a, "--relevant"))
      push(&relevant, v);
    else if (!strcmp(a, "--partly"))
      push(&partly, v);
    else if (!strcmp(a, "--irrelevant"))
      push(&irrelevant, v);
    else if (!strcmp(a, "--critique"))
      r.critique = v;
    else if (!strcmp(a, "--correction"))
      r.corrected_answer = v;
    else if (!strcmp(a, "--preferred-rewrite"))
      r.preferred_rewrite = v;
    else if (!strcmp(a, "--tag"))
      push(&tags, v);
    else if (!strcmp(a, "--user"))
      r.user = v;
    else if (!strcmp(a, "--matter"))
      r.matter = v;
    else
      return usage();
  }
  r.relevant = relevant.items;
  r.relevant_count = relevant.count;
  r.partly = partly.items;
  r.partly_count = partly.count;
  r.not_relevant = irrelevant.items;
  r.not_relevant_count = irrelevant.count;
  r.tags = tags.items;
  r.tag_count = tags.count;
  rc = fb_feedback_log_open(dir, NULL, &log);
  if (rc != FB_OK) return refused(rc, "fb_feedback_log_open failed");
  rc = replace_earlier ? fb_feedback_log_append_replacing(log, &r, NULL, 0, &id)
                       : fb_feedback_log_append(log, &r, &id);
  if (rc != FB_OK) {
    refused(rc, fb_feedback_log_last_error(log));
  } else {
    printf("{\"ok\":true,\"record_id\":");
    json_string(stdout, id);
    printf("}\n");
  }
  fb_string_free(id);
  fb_feedback_log_free(log);
  return 0;
}

static int cmd_forget_matter(const char* dir, const char* matter) {
  fb_feedback_log* log = NULL;
  uint64_t n = 0;
  int rc = fb_feedback_log_open(dir, NULL, &log);
  if (rc != FB_OK) return refused(rc, "fb_feedback_log_open failed");
  rc = fb_feedback_forget_matter(log, matter, NULL, &n);
  if (rc != FB_OK) {
    refused(rc, fb_feedback_log_last_error(log));
  } else {
    /* The embedder lives in the index: its part, then the index saved. */
    int err = FB_OK;
    char* action = NULL;
    fb_index* index = fb_index_open(dir, &err);
    if (!index) {
      refused(err, "cannot open the index");
    } else {
      rc = fb_index_forget_matter(index, matter, &action);
      if (rc == FB_OK && action && *action) rc = fb_index_save(index, dir);
      if (rc != FB_OK) {
        refused(rc, fb_index_last_error(index));
      } else {
        printf("{\"ok\":true,\"forgotten\":%lu,\"embedder\":", (unsigned long)n);
        json_string(stdout, action ? action : "");
        printf("}\n");
      }
      fb_string_free(action);
      fb_index_free(index);
    }
  }
  fb_feedback_log_free(log);
  return 0;
}

static int cmd_train(const char* dir, int argc, char** argv) {
  list matters = {{0}, 0};
  int err = FB_OK, rc, i;
  fb_index* index;
  fb_trainer* t = NULL;
  fb_train_params p = fb_train_default_params();
  for (i = 0; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--shareable-matters"))
      split_commas(argv[i + 1], &matters);
    else
      return usage();
  }
  if (i != argc) return usage();
  index = fb_index_open(dir, &err);
  if (!index) return refused(err, "cannot open the index");
  p.sources = "feedback";
  p.epochs = 0;
  p.shareable_matters = matters.items;
  p.shareable_matter_count = matters.count;
  rc = fb_train_start(index, &p, &t);
  while (rc == FB_OK && !fb_train_done(t)) rc = fb_train_step(t, NULL);
  if (rc == FB_OK) rc = fb_train_install(t, index);
  if (rc == FB_OK) rc = fb_index_save(index, dir);
  if (rc != FB_OK) {
    refused(rc, t && fb_trainer_last_error(t)[0] ? fb_trainer_last_error(t)
                                                 : fb_index_last_error(index));
  } else {
    printf("{\"ok\":true,\"pairs\":%lu,\"version\":%u}\n",
           (unsigned long)fb_train_pair_count(t, NULL), (unsigned)fb_index_embedder_version(index));
  }
  fb_trainer_free(t);
  fb_index_free(index);
  return 0;
}

static int cmd_export(const char* dir, int argc, char** argv) {
  const char* format = NULL;
  const char* out = NULL;
  list matters = {{0}, 0};
  int walled = 0, rc, i;
  fb_export_format f;
  fb_export_report rep;
  char* error = NULL;
  for (i = 0; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--format"))
      format = argv[i + 1];
    else if (!strcmp(argv[i], "--out"))
      out = argv[i + 1];
    else if (!strcmp(argv[i], "--allowed-matters")) {
      split_commas(argv[i + 1], &matters);
      walled = 1;
    } else {
      return usage();
    }
  }
  if (!format || !out || i != argc) return usage();
  if (!strcmp(format, "triplets"))
    f = FB_EXPORT_TRIPLETS;
  else if (!strcmp(format, "dpo"))
    f = FB_EXPORT_DPO;
  else if (!strcmp(format, "sft"))
    f = FB_EXPORT_SFT;
  else if (!strcmp(format, "demos"))
    f = FB_EXPORT_DEMOS;
  else if (!strcmp(format, "dpo-chat"))
    f = FB_EXPORT_DPO_CHAT;
  else if (!strcmp(format, "openai-preference"))
    f = FB_EXPORT_OPENAI_PREFERENCE;
  else
    return usage();
  memset(&rep, 0, sizeof rep);
  rc = walled ? fb_feedback_export_walled(dir, f, out, matters.items, matters.count, &rep, &error)
              : fb_feedback_export(dir, f, out, &rep, &error);
  if (rc != FB_OK) {
    refused(rc, error);
  } else {
    printf(
        "{\"ok\":true,\"report\":{\"records\":%lu,\"exported\":%lu,\"rows\":%lu,"
        "\"no_consent\":%lu,\"privileged\":%lu,\"unusable\":%lu,\"stale_passages\":%lu}}\n",
        (unsigned long)rep.records, (unsigned long)rep.exported, (unsigned long)rep.rows,
        (unsigned long)rep.no_consent, (unsigned long)rep.privileged, (unsigned long)rep.unusable,
        (unsigned long)rep.stale_passages);
  }
  fb_string_free(error);
  return 0;
}

static int cmd_search(const char* dir, int argc, char** argv) {
  fb_search_params p = fb_search_default_params();
  list matters = {{0}, 0}, filters = {{0}, 0};
  const char* query = NULL;
  fb_results* results = NULL;
  fb_index* index;
  int i, rc, err = FB_OK;
  size_t k;
  for (i = 0; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    ++i;
    if (!strcmp(a, "--query")) {
      query = v;
    } else if (!strcmp(a, "--mode")) {
      p.mode = !strcmp(v, "bm25") ? FB_MODE_BM25 : !strcmp(v, "dense") ? FB_MODE_DENSE : FB_MODE_HYBRID;
    } else if (!strcmp(a, "--top-k")) {
      p.top_k = (uint32_t)atoi(v);
    } else if (!strcmp(a, "--allowed-matters")) {
      split_commas(argv[i], &matters);
      p.restrict_matters = 1;
    } else if (!strcmp(a, "--filter")) {
      push(&filters, v);
    } else if (!strcmp(a, "--syntax")) {
      p.syntax = !strcmp(v, "plain")        ? FB_SYNTAX_PLAIN
                 : !strcmp(v, "connectors") ? FB_SYNTAX_CONNECTORS
                                            : FB_SYNTAX_AUTO;
    } else {
      return usage();
    }
  }
  if (!query) return usage();
  p.allowed_matters = matters.items;
  p.allowed_matter_count = matters.count;
  p.filters = filters.items;
  p.filter_count = filters.count;
  index = fb_index_open(dir, &err);
  if (!index) return refused(err, "cannot open the index");
  rc = fb_index_search(index, query, &p, &results);
  if (rc != FB_OK) {
    refused(rc, fb_index_last_error(index));
  } else {
    printf("{\"ok\":true,\"hits\":[");
    for (k = 0; k < fb_results_count(results); ++k) {
      const fb_hit* h = fb_results_get(results, k);
      printf("%s{\"chunk_id\":", k ? "," : "");
      json_string(stdout, h->chunk_id);
      printf(",\"doc_id\":");
      json_string(stdout, h->doc_id);
      printf(",\"matter\":");
      json_string(stdout, h->matter);
      printf(",\"score\":%.17g}", h->score);
    }
    printf("]}\n");
    fb_results_free(results);
  }
  fb_index_free(index);
  return 0;
}

static int cmd_delete(const char* dir, const char* id) {
  int err = FB_OK, rc;
  fb_index* index = fb_index_open(dir, &err);
  if (!index) return refused(err, "cannot open the index");
  rc = fb_index_remove(index, id);
  if (rc == FB_OK) rc = fb_index_save(index, dir);
  if (rc != FB_OK) {
    refused(rc, fb_index_last_error(index));
  } else {
    printf("{\"ok\":true,\"documents\":%lu}\n", (unsigned long)fb_index_document_count(index));
  }
  fb_index_free(index);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  if (!strcmp(argv[1], "ask")) return cmd_ask(argv[2], argc - 3, argv + 3);
  if (!strcmp(argv[1], "feedback")) return cmd_feedback(argv[2], argc - 3, argv + 3);
  if (!strcmp(argv[1], "forget-matter") && argc == 4) return cmd_forget_matter(argv[2], argv[3]);
  if (!strcmp(argv[1], "export")) return cmd_export(argv[2], argc - 3, argv + 3);
  if (!strcmp(argv[1], "search")) return cmd_search(argv[2], argc - 3, argv + 3);
  if (!strcmp(argv[1], "delete") && argc == 4) return cmd_delete(argv[2], argv[3]);
  if (!strcmp(argv[1], "train")) return cmd_train(argv[2], argc - 3, argv + 3);
  return usage();
}
