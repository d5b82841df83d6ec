/* The listening socket and the connection table. Connections are accepted here, not by libmicrohttpd:
 * one thread (epoll) holds each new connection until its request headers have arrived whole, checks
 * the framing headers libmicrohttpd 0.9.75 mishandles (a malformed Content-Length makes it send its
 * status line twice; conflicting ones it resolves silently by taking the first), answers what is wrong
 * itself, and only then hands the socket to libmicrohttpd (MHD_add_connection). A slow client costs a
 * table slot here, not a thread.
 *
 * Rules: at most max_connections open connections, max_connections_per_ip from one address (more are
 * answered 503 and closed); a request's headers and body must arrive within request_timeout_s of the
 * connection opening (every response closes its connection, so each connection carries one request):
 * after that a connection still sending is closed (here while it sends headers; by shutting the socket
 * down under libmicrohttpd while it sends the body). */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"

#define PEEK_MAX_BYTES 16384 /* request line + headers; more is 431 */
#define LINGER_S 2.0         /* after an error answer: read what the client still sends, then close */
#define TICK_MS 100          /* how often deadlines are checked */
#define ORPHAN_GRACE_S 5.0   /* a handed-off slot libmicrohttpd never took up (it failed) is dropped */

typedef enum slot_phase {
    SLOT_FREE = 0,
    SLOT_HEADERS,   /* here: waiting for the whole header block */
    SLOT_BODY,      /* libmicrohttpd's: receiving the body */
    SLOT_ANSWERING, /* libmicrohttpd's: the request is whole; no deadline */
    SLOT_CLOSING,   /* here: an error answer sent, draining until the client closes or LINGER_S */
} slot_phase;

typedef struct conn_slot {
    int fd;
    slot_phase phase;
    int mhd_started; /* libmicrohttpd announced it (and will announce its end before closing the fd) */
    int shut;        /* shut down for a missed deadline already */
    double deadline_s;
    struct sockaddr_storage addr;
    socklen_t addr_len;
} conn_slot;

struct srv_listener {
    srv_server *s;
    int listen_fd, epoll_fd, wake_fd;
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    pthread_mutex_t mu; /* guards the slots and the counters */
    conn_slot *slots;
    int32_t n_slots, n_open;
    uint64_t timed_out_total, refused_total, bad_headers_total;
};

enum { TAG_LISTEN = 0, TAG_WAKE = 1, TAG_SLOT0 = 2 }; /* epoll data: a tag, or TAG_SLOT0 + slot index */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return 1;
}

/* A free slot for a new connection from addr, or -1 when a limit is reached (mu held). */
static int32_t claim_slot(srv_listener *l, const struct sockaddr_storage *addr) {
    int32_t free_slot = -1, same = 0;
    for (int32_t i = 0; i < l->n_slots; i++) {
        if (l->slots[i].phase == SLOT_FREE) {
            if (free_slot < 0) free_slot = i;
        } else if (same_host(&l->slots[i].addr, addr)) {
            same++;
        }
    }
    if (free_slot < 0 || same >= l->s->cfg.max_connections_per_ip) return -1;
    return free_slot;
}

static void release_slot(srv_listener *l, conn_slot *c) {
    *c = (conn_slot){.fd = -1};
    l->n_open--;
}

/* Closes a connection this thread owns (headers or closing phase). */
static void close_slot(srv_listener *l, conn_slot *c) {
    close(c->fd);
    pthread_mutex_lock(&l->mu);
    release_slot(l, c);
    pthread_mutex_unlock(&l->mu);
}

/* An error answer with OpenAI's body, written at once (the socket buffer holds it). */
static void send_error(int fd, int status, const char *message) {
    api_error e;
    api_fail(&e, status, NULL, "%s", message);
    char *body = api_error_body(&e), head[256];
    const char *reason = status == 400 ? "Bad Request"
        : status == 431                ? "Request Header Fields Too Large"
        : status == 501                ? "Not Implemented"
                                       : "Service Unavailable";
    size_t n = body ? strlen(body) : 0;
    int h =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 status, reason, n);
    if (send(fd, head, (size_t)h, MSG_NOSIGNAL | MSG_DONTWAIT) == h && body)
        send(fd, body, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    free(body);
}

/* Reads and drops what the client sends; closes at its end. */
static void drain(srv_listener *l, conn_slot *c) {
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        close_slot(l, c);
        return;
    }
}

static void reject(srv_listener *l, conn_slot *c, int status, const char *message) {
    send_error(c->fd, status, message);
    shutdown(c->fd, SHUT_WR);
    pthread_mutex_lock(&l->mu);
    c->phase = SLOT_CLOSING;
    c->deadline_s = now_s() + LINGER_S;
    l->bad_headers_total++;
    pthread_mutex_unlock(&l->mu);
    srv_log(l->s, SRV_LOG_DEBUG, "refused a request with status %d: %s", status, message);
    drain(l, c);
}

/* The end of the header block in buf[0, n): the offset just past the empty line, or 0. */
static size_t header_end(const char *buf, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (buf[i] != '\n') continue;
        if (buf[i + 1] == '\n') return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n') return i + 3;
    }
    return 0;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* The framing headers of one request (RFC 9112 6.1-6.3): 0, or the status to answer with and *why. */
static int check_framing(const char *buf, size_t n, const char **why) {
    int n_cl = 0, n_te = 0;
    unsigned long long length = 0;
    const char *line = memchr(buf, '\n', n); /* skip the request line */
    for (const char *p = line ? line + 1 : buf + n; p < buf + n;) {
        const char *eol = memchr(p, '\n', (size_t)(buf + n - p)), *end = eol ? eol : buf + n;
        if (end > p && end[-1] == '\r') end--;
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (end == p) break; /* the empty line */
        if (colon && !is_ows(*p)) {
            size_t name_len = (size_t)(colon - p);
            if (name_len == 0 || is_ows(colon[-1])) return *why = "whitespace between a header name and its colon", 400;
            const char *v = colon + 1, *ve = end;
            while (v < ve && is_ows(*v)) v++;
            while (ve > v && is_ows(ve[-1])) ve--;
            if (name_len == 14 && strncasecmp(p, "content-length", 14) == 0) {
                unsigned long long x = 0;
                if (v == ve) return *why = "Content-Length is not a number of bytes", 400;
                for (const char *d = v; d < ve; d++) {
                    if (*d < '0' || *d > '9') return *why = "Content-Length is not a number of bytes", 400;
                    unsigned digit = (unsigned)(*d - '0');
                    if (x > (~0ull - digit) / 10)
                        return *why = "Content-Length is too large to be a number of bytes", 400;
                    x = x * 10 + digit;
                }
                if (n_cl++ && x != length) return *why = "conflicting Content-Length headers", 400;
                length = x;
            } else if (name_len == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
                if (n_te++) return *why = "more than one Transfer-Encoding header", 400;
                if ((size_t)(ve - v) != 7 || strncasecmp(v, "chunked", 7) != 0)
                    return *why = "only Transfer-Encoding: chunked is supported", 501;
            }
        }
        p = eol ? eol + 1 : buf + n;
    }
    if (n_cl && n_te) return *why = "both Content-Length and Transfer-Encoding", 400;
    return 0;
}

/* The request's headers are whole and sound: libmicrohttpd reads it from here (the bytes were only
 * peeked). */
static void hand_off(srv_listener *l, conn_slot *c) {
    epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    pthread_mutex_lock(&l->mu);
    c->phase = SLOT_BODY;
    struct sockaddr_storage addr = c->addr;
    socklen_t len = c->addr_len;
    int fd = c->fd;
    pthread_mutex_unlock(&l->mu);
    if (MHD_add_connection(l->s->daemon, fd, (const struct sockaddr *)&addr, len) == MHD_YES) return;
    pthread_mutex_lock(&l->mu); /* libmicrohttpd closed the socket */
    if (c->fd == fd && c->phase == SLOT_BODY && !c->mhd_started) release_slot(l, c);
    pthread_mutex_unlock(&l->mu);
}

static void on_headers_readable(srv_listener *l, conn_slot *c, uint32_t events) {
    char buf[PEEK_MAX_BYTES];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
        close_slot(l, c);
        return;
    }
    size_t end = header_end(buf, (size_t)n);
    const char *why = NULL;
    int status = end ? check_framing(buf, end, &why) : 0;
    if (!end && (size_t)n == sizeof buf) reject(l, c, 431, "the request headers are larger than 16 KiB");
    else if (!end && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) close_slot(l, c); /* gone mid-headers */
    else if (status) reject(l, c, status, why);
    else if (end) hand_off(l, c);
}

static void accept_all(srv_listener *l) {
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(l->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) { /* the listening socket stays readable: do not spin */
                struct timespec pause = {0, 10 * 1000 * 1000};
                nanosleep(&pause, NULL);
            }
            return; /* EAGAIN, or out of descriptors: the next wake-up retries */
        }
        pthread_mutex_lock(&l->mu);
        int32_t i = claim_slot(l, &addr);
        if (i >= 0) {
            l->slots[i] = (conn_slot){.fd = fd,
                                      .phase = SLOT_HEADERS,
                                      .deadline_s = now_s() + l->s->cfg.request_timeout_s,
                                      .addr = addr,
                                      .addr_len = len};
            l->n_open++;
        } else {
            l->refused_total++;
        }
        pthread_mutex_unlock(&l->mu);
        if (i < 0) {
            send_error(fd, 503, "too many connections: retry later");
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = TAG_SLOT0 + (uint64_t)i};
        if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) close_slot(l, &l->slots[i]);
    }
}

/* Deadlines: connections still sending when theirs passes are closed. */
static void reap(srv_listener *l) {
    double now = now_s();
    for (int32_t i = 0; i < l->n_slots; i++) {
        conn_slot *c = &l->slots[i];
        pthread_mutex_lock(&l->mu);
        slot_phase phase = c->phase;
        int late = now > c->deadline_s, owned_here = phase == SLOT_HEADERS || phase == SLOT_CLOSING;
        if (late && phase == SLOT_BODY && c->mhd_started && !c->shut) {
            shutdown(c->fd, SHUT_RDWR); /* libmicrohttpd's read fails; it closes the connection */
            c->shut = 1;
            l->timed_out_total++;
        } else if (phase == SLOT_BODY && !c->mhd_started && now > c->deadline_s + ORPHAN_GRACE_S) {
            release_slot(l, c);
        }
        if (late && phase == SLOT_HEADERS) l->timed_out_total++;
        pthread_mutex_unlock(&l->mu);
        if (late && owned_here) {
            if (phase == SLOT_HEADERS)
                srv_log(l->s, SRV_LOG_DEBUG, "closed a connection whose request did not arrive within %g s",
                        l->s->cfg.request_timeout_s);
            close_slot(l, c);
        }
    }
}

static void *greeter(void *arg) {
    srv_listener *l = arg;
    struct epoll_event evs[64];
    while (!atomic_load(&l->stop)) {
        int n = epoll_wait(l->epoll_fd, evs, 64, TICK_MS);
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;
            if (tag == TAG_LISTEN) {
                accept_all(l);
            } else if (tag >= TAG_SLOT0) {
                conn_slot *c = &l->slots[tag - TAG_SLOT0];
                pthread_mutex_lock(&l->mu);
                slot_phase phase = c->phase;
                pthread_mutex_unlock(&l->mu);
                if (phase == SLOT_HEADERS) on_headers_readable(l, c, evs[k].events);
                else if (phase == SLOT_CLOSING) drain(l, c);
            }
        }
        reap(l);
    }
    return NULL;
}

static loom_status fail_io(loom_error *err, const char *what, const srv_config *cfg) {
    err->status = LOOM_ERR_IO;
    snprintf(err->message, sizeof err->message, "cannot listen on %s port %u: %s failed (%s)", cfg->host, cfg->port,
             what, strerror(errno));
    return err->status;
}

static loom_status open_listen_socket(const srv_config *cfg, const struct sockaddr_storage *addr, socklen_t len,
                                      int *out, loom_error *err) {
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return fail_io(err, "socket", cfg);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, 1024) != 0) {
        loom_status st = fail_io(err, "bind/listen", cfg);
        close(fd);
        return st;
    }
    *out = fd;
    return LOOM_OK;
}

loom_status srv_listener_start(srv_server *s, const struct sockaddr_storage *addr, socklen_t addr_len,
                               srv_listener **out, loom_error *err) {
    srv_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->slots = calloc((size_t)s->cfg.max_connections, sizeof *l->slots))) {
        free(l);
        err->status = LOOM_ERR_NO_MEMORY;
        snprintf(err->message, sizeof err->message, "out of memory");
        return err->status;
    }
    l->s = s;
    l->n_slots = s->cfg.max_connections;
    for (int32_t i = 0; i < l->n_slots; i++) l->slots[i].fd = -1;
    l->listen_fd = l->epoll_fd = l->wake_fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    *out = l;
    loom_status st = open_listen_socket(&s->cfg, addr, addr_len, &l->listen_fd, err);
    if (st == LOOM_OK &&
        ((l->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 || (l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0))
        st = fail_io(err, "epoll", &s->cfg);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN},
                       wake = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (st == LOOM_OK &&
        (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->listen_fd, &ev) != 0 ||
         epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->wake_fd, &wake) != 0))
        st = fail_io(err, "epoll_ctl", &s->cfg);
    if (st == LOOM_OK && pthread_create(&l->thread, NULL, greeter, l) != 0)
        st = fail_io(err, "pthread_create", &s->cfg);
    if (st == LOOM_OK) l->thread_started = 1;
    return st;
}

uint16_t srv_listener_port(const srv_listener *l) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(l->listen_fd, (struct sockaddr *)&a, &len) != 0) return 0;
    return ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                         : ((struct sockaddr_in *)&a)->sin_port);
}

void srv_listener_stop_accepting(srv_listener *l) {
    if (!l) return;
    atomic_store(&l->stop, 1);
    if (l->thread_started) {
        uint64_t one = 1;
        if (write(l->wake_fd, &one, sizeof one) < 0) { /* the thread wakes within TICK_MS anyway */
        }
        pthread_join(l->thread, NULL);
        l->thread_started = 0;
    }
    for (int32_t i = 0; i < l->n_slots; i++) {
        pthread_mutex_lock(&l->mu);
        int owned_here = l->slots[i].phase == SLOT_HEADERS || l->slots[i].phase == SLOT_CLOSING;
        pthread_mutex_unlock(&l->mu);
        if (owned_here) close_slot(l, &l->slots[i]);
    }
    if (l->listen_fd >= 0) close(l->listen_fd);
    l->listen_fd = -1;
}

void srv_listener_free(srv_listener *l) {
    if (!l) return;
    srv_listener_stop_accepting(l);
    if (l->epoll_fd >= 0) close(l->epoll_fd);
    if (l->wake_fd >= 0) close(l->wake_fd);
    pthread_mutex_destroy(&l->mu);
    free(l->slots);
    free(l);
}

void srv_listener_mhd_started(srv_listener *l, int fd, void **socket_context) {
    pthread_mutex_lock(&l->mu);
    for (int32_t i = 0; i < l->n_slots; i++) {
        conn_slot *c = &l->slots[i];
        if (c->fd == fd && c->phase == SLOT_BODY && !c->mhd_started) {
            c->mhd_started = 1;
            *socket_context = c;
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void srv_listener_mhd_closed(srv_listener *l, void **socket_context) {
    pthread_mutex_lock(&l->mu);
    if (*socket_context) release_slot(l, *socket_context);
    *socket_context = NULL;
    pthread_mutex_unlock(&l->mu);
}

void srv_listener_request_whole(srv_listener *l, void *socket_context) {
    conn_slot *c = socket_context;
    if (!c) return;
    pthread_mutex_lock(&l->mu);
    if (c->phase == SLOT_BODY) c->phase = SLOT_ANSWERING;
    pthread_mutex_unlock(&l->mu);
}

void srv_listener_stats(srv_listener *l, srv_conn_stats *out) {
    pthread_mutex_lock(&l->mu);
    *out = (srv_conn_stats){.open = l->n_open,
                            .limit = l->n_slots,
                            .per_ip_limit = l->s->cfg.max_connections_per_ip,
                            .timed_out_total = l->timed_out_total,
                            .refused_total = l->refused_total,
                            .bad_headers_total = l->bad_headers_total};
    pthread_mutex_unlock(&l->mu);
}
