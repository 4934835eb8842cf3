#include "net.h"
#include "alloc.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

_Static_assert(sizeof(zmq_msg_t) <= 64, "graft_parts storage too small for zmq_msg_t");

struct graft_net {
    void *ctx;
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
    n->ctx = zmq_ctx_new();
    if (!n->ctx) {
        GRAFT_LOG_ERROR("GRAFT-NET-CTX", "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        graft_free(n);
        return GRAFT_ERR_NET;
    }
    *out = n;
    return GRAFT_OK;
}

void
graft_net_destroy(graft_net **net)
{
    if (!net || !*net)
        return;
    zmq_ctx_term((*net)->ctx);
    graft_free(*net);
    *net = NULL;
}

static graft_err
new_sock(graft_net *net, int type, graft_sock **out)
{
    *out = NULL;
    graft_sock *s = graft_calloc(1, sizeof *s);
    if (!s)
        return GRAFT_ERR_NOMEM;
    s->s = zmq_socket(net->ctx, type);
    if (!s->s) {
        GRAFT_LOG_ERROR("GRAFT-NET-SOCKET", "zmq_socket: %s", zmq_strerror(zmq_errno()));
        graft_free(s);
        return GRAFT_ERR_NET;
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
    return GRAFT_OK;
}

graft_err
graft_sock_bind_router(graft_net *net, const char *host, size_t max_msg, graft_sock **out,
                       char *endpoint, size_t eplen)
{
    graft_err rc = new_sock(net, ZMQ_ROUTER, out);
    if (rc != GRAFT_OK)
        return rc;
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
graft_sock_connect_dealer(graft_net *net, const char *endpoint, graft_sock **out)
{
    graft_err rc = new_sock(net, ZMQ_DEALER, out);
    if (rc != GRAFT_OK)
        return rc;
    if (zmq_connect((*out)->s, endpoint) != 0) {
        GRAFT_LOG_ERROR("GRAFT-NET-CONNECT", "cannot connect to %s: %s", endpoint,
                        zmq_strerror(zmq_errno()));
        graft_sock_close(out);
        return GRAFT_ERR_NET;
    }
    return GRAFT_OK;
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
