#include "net.h"
#include "alloc.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

_Static_assert(sizeof(zmq_msg_t) <= 64, "graft_parts storage too small for zmq_msg_t");

struct graft_net {
    void *ctx;
    char public_key[GRAFT_CURVE_KEY_LEN], secret_key[GRAFT_CURVE_KEY_LEN]; /* DEALERs' identity */
    /* The ZAP handler: admits CURVE clients whose public key is in allowed. */
    pthread_t zap_thread;
    int zap_live;
    atomic_int zap_stop;
    void *zap_sock;
    pthread_mutex_t lock;
    uint8_t (*allowed)[32];
    int nallowed;
};

struct graft_sock {
    void *s;
};

graft_err
graft_net_create(graft_net **out)
{
    *out = NULL;
    graft_net *n = graft_calloc(1, sizeof *n);
    if (!n)
        return GRAFT_ERR_NOMEM;
    pthread_mutex_init(&n->lock, NULL);
    atomic_init(&n->zap_stop, 0);
    n->ctx = zmq_ctx_new();
    if (!n->ctx) {
        GRAFT_LOG_ERROR("GRAFT-NET-CTX", "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        pthread_mutex_destroy(&n->lock);
        graft_free(n);
        n = NULL;
    }
    *out = n;
    return n ? GRAFT_OK : GRAFT_ERR_NET;
}

void
graft_net_destroy(graft_net **net)
{
    if (!net || !*net)
        return;
    graft_net *n = *net;
    if (n->zap_live) {
        atomic_store(&n->zap_stop, 1);
        pthread_join(n->zap_thread, NULL);
    }
    zmq_ctx_term(n->ctx);
    pthread_mutex_destroy(&n->lock);
    graft_free(n->allowed);
    graft_free(n);
    *net = NULL;
}

graft_err
graft_net_keypair(char public_key[GRAFT_CURVE_KEY_LEN], char secret_key[GRAFT_CURVE_KEY_LEN])
{
    if (zmq_curve_keypair(public_key, secret_key) != 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-CURVE",
                        "cannot make a CURVE key pair: %s (is libzmq built "
                        "with libsodium?)",
                        zmq_strerror(zmq_errno()));
        return GRAFT_ERR_NET;
    }
    return GRAFT_OK;
}

void
graft_net_set_identity(graft_net *net, const char *public_key, const char *secret_key)
{
    snprintf(net->public_key, sizeof net->public_key, "%s", public_key);
    snprintf(net->secret_key, sizeof net->secret_key, "%s", secret_key);
}

/* One ZAP request (RFC 27) in, one reply out: 200 for a CURVE client with an allowed key. */
static void
zap_answer(graft_net *n)
{
    zmq_msg_t f[8];
    int nf = 0, more = 1;
    while (more && nf < 8) {
        zmq_msg_init(&f[nf]);
        if (zmq_msg_recv(&f[nf], n->zap_sock, 0) < 0) {
            zmq_msg_close(&f[nf]);
            break;
        }
        more = zmq_msg_more(&f[nf]);
        nf++;
    }
    while (more) { /* more frames than any request has: drop them */
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, n->zap_sock, 0) < 0)
            more = 0;
        else
            more = zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    int ok = 0;
    char addr[64] = "?";
    if (nf >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
        zmq_msg_size(&f[6]) == 32) {
        pthread_mutex_lock(&n->lock);
        for (int i = 0; i < n->nallowed && !ok; i++)
            ok = memcmp(n->allowed[i], zmq_msg_data(&f[6]), 32) == 0;
        pthread_mutex_unlock(&n->lock);
    }
    if (nf >= 4) {
        size_t al = zmq_msg_size(&f[3]) < sizeof addr - 1 ? zmq_msg_size(&f[3]) : sizeof addr - 1;
        memcpy(addr, zmq_msg_data(&f[3]), al);
        addr[al] = 0;
    }
    if (!ok)
        GRAFT_LOG_WARN("GRAFT-AUTH-DENIED",
                       "refused a connection from %s: its key is not one of this job's workers",
                       addr);
    const char *code = ok ? "200" : "400", *text = ok ? "OK" : "not a worker of this job";
    const void *rid = nf >= 2 ? zmq_msg_data(&f[1]) : "";
    size_t rl = nf >= 2 ? zmq_msg_size(&f[1]) : 0;
    zmq_send(n->zap_sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(n->zap_sock, rid, rl, ZMQ_SNDMORE);
    zmq_send(n->zap_sock, code, 3, ZMQ_SNDMORE);
    zmq_send(n->zap_sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(n->zap_sock, "", 0, ZMQ_SNDMORE);
    zmq_send(n->zap_sock, "", 0, 0);
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
}

static void *
zap_main(void *arg)
{
    graft_net *n = arg;
    while (!atomic_load(&n->zap_stop)) {
        zmq_pollitem_t it = {n->zap_sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) > 0)
            zap_answer(n);
    }
    zmq_close(n->zap_sock);
    return NULL;
}

graft_err
graft_net_zap_start(graft_net *net)
{
    net->zap_sock = zmq_socket(net->ctx, ZMQ_REP);
    int linger = 0;
    if (!net->zap_sock || zmq_setsockopt(net->zap_sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(net->zap_sock, "inproc://zeromq.zap.01") != 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-ZAP", "cannot start the ZAP handler: %s",
                        zmq_strerror(zmq_errno()));
        if (net->zap_sock)
            zmq_close(net->zap_sock);
        net->zap_sock = NULL;
        return GRAFT_ERR_NET;
    }
    /* The socket moves to the thread here; pthread_create orders the memory. */
    if (pthread_create(&net->zap_thread, NULL, zap_main, net) != 0) {
        zmq_close(net->zap_sock);
        net->zap_sock = NULL;
        return GRAFT_ERR_NOMEM;
    }
    net->zap_live = 1;
    return GRAFT_OK;
}

graft_err
graft_net_allow(graft_net *net, const char (*keys)[GRAFT_CURVE_KEY_LEN], int n)
{
    uint8_t(*bin)[32] = graft_calloc((size_t)(n > 0 ? n : 1), 32);
    if (!bin)
        return GRAFT_ERR_NOMEM;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (strlen(keys[i]) == 40 && zmq_z85_decode(bin[m], keys[i]))
            m++;
    pthread_mutex_lock(&net->lock);
    graft_free(net->allowed);
    net->allowed = bin;
    net->nallowed = m;
    pthread_mutex_unlock(&net->lock);
    return GRAFT_OK;
}

static graft_err
new_sock(graft_net *net, int type, graft_sock **out)
{
    *out = NULL;
    graft_sock *s = graft_calloc(1, sizeof *s);
    if (!s)
        return GRAFT_ERR_NOMEM;
    graft_err rc = GRAFT_OK;
    s->s = zmq_socket(net->ctx, type);
    if (!s->s) {
        GRAFT_LOG_ERROR("GRAFT-NET-SOCKET", "zmq_socket: %s", zmq_strerror(zmq_errno()));
        rc = GRAFT_ERR_NET;
        goto out;
    }
    int linger = 0;
    zmq_setsockopt(s->s, ZMQ_LINGER, &linger, sizeof linger);
    /* No high-water mark: a bounded number of requests is in flight by design, and dropping or
     * blocking on one would stall training. */
    int hwm = 0;
    zmq_setsockopt(s->s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    /* Kernel buffers of 4 MB: a Unix socket's default (about 200 KB) halves the rate of
     * multi-megabyte frames (docs/performance.md). */
    int buf = 4 << 20;
    zmq_setsockopt(s->s, ZMQ_SNDBUF, &buf, sizeof buf);
    zmq_setsockopt(s->s, ZMQ_RCVBUF, &buf, sizeof buf);
    *out = s;
    s = NULL;
out:
    graft_free(s);
    return rc;
}

graft_err
graft_sock_bind_router(graft_net *net, const char *host, size_t max_msg, const char *curve_secret,
                       graft_sock **out, char *endpoint, size_t eplen)
{
    graft_err rc = new_sock(net, ZMQ_ROUTER, out);
    if (rc != GRAFT_OK)
        return rc;
    if (curve_secret && curve_secret[0]) {
        /* CURVE, and every client through the ZAP handler, which must be running already (with
         * no handler, libzmq would admit any client: graft_net_zap_start comes first). */
        int one = 1;
        if (zmq_setsockopt((*out)->s, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
            zmq_setsockopt((*out)->s, ZMQ_CURVE_SECRETKEY, curve_secret, 40) != 0 ||
            zmq_setsockopt((*out)->s, ZMQ_ZAP_DOMAIN, "graft", 5) != 0) {
            GRAFT_LOG_ERROR("GRAFT-NET-CURVE", "cannot set up CURVE: %s",
                            zmq_strerror(zmq_errno()));
            graft_sock_close(out);
            return GRAFT_ERR_NET;
        }
    }
    int64_t maxmsg = (int64_t)max_msg;
    zmq_setsockopt((*out)->s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    /* Replies to a peer that has gone are dropped rather than failing the server. */
    char addr[256];
    if (strncmp(host, "ipc://", 6) == 0)
        snprintf(addr, sizeof addr, "%s", host);
    else
        snprintf(addr, sizeof addr, "tcp://%s:*", host);
    if (zmq_bind((*out)->s, addr) != 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-BIND", "cannot bind %s: %s", addr, zmq_strerror(zmq_errno()));
        graft_sock_close(out);
        return GRAFT_ERR_NET;
    }
    /* Only this user may connect to a Unix socket, whatever the umask: it is the one endpoint
     * that runs without CURVE by default (docs/security.md). */
    if (strncmp(host, "ipc://", 6) == 0 && chmod(host + 6, 0600) != 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-BIND", "cannot restrict %s to its owner: %s", host + 6,
                        strerror(errno));
        graft_sock_close(out);
        return GRAFT_ERR_NET;
    }
    size_t len = eplen;
    if (zmq_getsockopt((*out)->s, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-BIND", "cannot read the bound endpoint: %s",
                        zmq_strerror(zmq_errno()));
        graft_sock_close(out);
        return GRAFT_ERR_NET;
    }
    return GRAFT_OK;
}

graft_err
graft_sock_connect_dealer(graft_net *net, const char *endpoint, const char *server_key,
                          graft_sock **out)
{
    graft_err rc = new_sock(net, ZMQ_DEALER, out);
    if (rc != GRAFT_OK)
        return rc;
    /* A DEALER whose only peer is gone (dead, or refused at the handshake) blocks every send:
     * give up after a while instead, as after a lost peer. */
    graft_sock_set_send_timeout(*out, 30000);
    if (server_key && server_key[0] &&
        (zmq_setsockopt((*out)->s, ZMQ_CURVE_SERVERKEY, server_key, 40) != 0 ||
         zmq_setsockopt((*out)->s, ZMQ_CURVE_PUBLICKEY, net->public_key, 40) != 0 ||
         zmq_setsockopt((*out)->s, ZMQ_CURVE_SECRETKEY, net->secret_key, 40) != 0)) {
        GRAFT_LOG_ERROR("GRAFT-NET-CURVE", "cannot set up CURVE towards %s: %s", endpoint,
                        zmq_strerror(zmq_errno()));
        graft_sock_close(out);
        return GRAFT_ERR_NET;
    }
    if (zmq_connect((*out)->s, endpoint) != 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-CONNECT", "cannot connect to %s: %s", endpoint,
                        zmq_strerror(zmq_errno()));
        graft_sock_close(out);
        return GRAFT_ERR_NET;
    }
    return GRAFT_OK;
}

void
graft_sock_set_send_timeout(graft_sock *sock, int ms)
{
    zmq_setsockopt(sock->s, ZMQ_SNDTIMEO, &ms, sizeof ms);
}

void
graft_sock_close(graft_sock **sock)
{
    if (!sock || !*sock)
        return;
    zmq_close((*sock)->s);
    graft_free(*sock);
    *sock = NULL;
}

graft_err
graft_sock_send(graft_sock *sock, int n, const void *const *data, const size_t *sizes)
{
    for (int i = 0; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        int r;
        do
            r = zmq_send(sock->s, data[i], sizes[i], flags);
        while (r < 0 && zmq_errno() == EINTR);
        if (r < 0) {
            GRAFT_LOG_ERROR("GRAFT-NET-SEND", "zmq_send: %s", zmq_strerror(zmq_errno()));
            return GRAFT_ERR_NET;
        }
    }
    return GRAFT_OK;
}

void
graft_net_tune_heap(int bounded)
{
    /* ZeroMQ allocates every large frame it receives, and frees it once read. Above glibc's mmap
     * threshold each is a fresh mapping whose pages fault in one by one (a quarter of the time of
     * a 2 MB frame here); below it they come from the heap, reused. A server keeps the threshold
     * low, so that its peak memory stays near its tables', and keeps 2 MB of freed heap, about
     * what one worker connection's window of 256 KB frames needs (worker/client.c): below that
     * the frames' pages were given back and faulted in again on every request, halving the
     * socket path's rate. A worker keeps frames in the heap. */
    if (bounded) {
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
        mallopt(M_TRIM_THRESHOLD, 2 << 20);
        return;
    }
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20); /* freed heap kept for reuse */
    mallopt(M_TOP_PAD, 16 << 20);
}

static void
free_frame(void *data, void *hint)
{
    (void)hint;
    graft_free(data); /* called by ZeroMQ's I/O thread once the frame is sent */
}

graft_err
graft_sock_send_owned(graft_sock *sock, int n, const void *const *data, const size_t *sizes,
                      void *last, size_t last_size)
{
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, last, last_size, free_frame, NULL) != 0) {
        graft_free(last);
        return GRAFT_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        int r;
        do
            r = zmq_send(sock->s, data[i], sizes[i], ZMQ_SNDMORE);
        while (r < 0 && zmq_errno() == EINTR);
        if (r < 0) {
            GRAFT_LOG_ERROR("GRAFT-NET-SEND", "zmq_send: %s", zmq_strerror(zmq_errno()));
            zmq_msg_close(&msg);
            return GRAFT_ERR_NET;
        }
    }
    int r;
    do
        r = zmq_msg_send(&msg, sock->s, 0);
    while (r < 0 && zmq_errno() == EINTR);
    if (r < 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-SEND", "zmq_msg_send: %s", zmq_strerror(zmq_errno()));
        zmq_msg_close(&msg);
        return GRAFT_ERR_NET;
    }
    return GRAFT_OK;
}

graft_err
graft_sock_recv(graft_sock *sock, graft_parts *p, int timeout_ms)
{
    p->n = 0;
    p->extra = 0;
    if (timeout_ms >= 0) {
        zmq_pollitem_t it = {sock->s, 0, ZMQ_POLLIN, 0};
        int r;
        do
            r = zmq_poll(&it, 1, timeout_ms);
        while (r < 0 && zmq_errno() == EINTR);
        if (r == 0)
            return GRAFT_ERR_TIMEOUT;
        if (r < 0) {
            GRAFT_LOG_ERROR("GRAFT-NET-POLL", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            return GRAFT_ERR_NET;
        }
    }
    for (;;) {
        zmq_msg_t tmp;
        zmq_msg_t *m = p->n < GRAFT_NET_MAX_PARTS ? (zmq_msg_t *)p->storage[p->n] : &tmp;
        zmq_msg_init(m);
        int r;
        do
            r = zmq_msg_recv(m, sock->s, 0);
        while (r < 0 && zmq_errno() == EINTR);
        if (r < 0) {
            GRAFT_LOG_ERROR("GRAFT-NET-RECV", "zmq_msg_recv: %s", zmq_strerror(zmq_errno()));
            zmq_msg_close(m);
            graft_parts_close(p);
            return GRAFT_ERR_NET;
        }
        int more = zmq_msg_more(m);
        if (m == &tmp) {
            zmq_msg_close(m);
            p->extra++;
        } else {
            p->data[p->n] = zmq_msg_data(m);
            p->size[p->n] = zmq_msg_size(m);
            p->n++;
        }
        if (!more)
            break;
    }
    return GRAFT_OK;
}

void
graft_parts_close(graft_parts *p)
{
    for (int i = 0; i < p->n; i++)
        zmq_msg_close((zmq_msg_t *)p->storage[i]);
    p->n = 0;
}

int
graft_sock_poll(graft_sock **socks, int n, int timeout_ms)
{
    zmq_pollitem_t items[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        items[i] = (zmq_pollitem_t){socks[i]->s, 0, ZMQ_POLLIN, 0};
    int r;
    do
        r = zmq_poll(items, n, timeout_ms);
    while (r < 0 && zmq_errno() == EINTR);
    if (r <= 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (items[i].revents & ZMQ_POLLIN)
            return i;
    return -1;
}

void
graft_net_host_address(char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1");
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0)
        return;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf, (socklen_t)len);
        break;
    }
    freeifaddrs(ifa);
}
