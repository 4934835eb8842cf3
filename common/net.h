/* The network layer: the only code that includes zmq.h. Servers bind a ROUTER socket; workers
 * connect one DEALER socket per server. A message is a list of frames. */
#ifndef GRAFT_NET_H
#define GRAFT_NET_H

#include "err.h"

#include <stddef.h>

#define GRAFT_NET_MAX_PARTS 8

typedef struct graft_net graft_net;
typedef struct graft_sock graft_sock;

/* A received multipart message. Frames stay valid until graft_parts_close. Parts past
 * GRAFT_NET_MAX_PARTS are received and dropped; `extra` counts them, so a peer cannot make the
 * receiver hold unbounded frames. */
typedef struct {
    int n;
    int extra;
    void *data[GRAFT_NET_MAX_PARTS];
    size_t size[GRAFT_NET_MAX_PARTS];
    _Alignas(16) unsigned char storage[GRAFT_NET_MAX_PARTS][64]; /* zmq_msg_t */
} graft_parts;

/* The heap policy for large frames: bounded (servers) keeps freed frames out of the process,
 * else (workers) they are reused from the heap, which is faster. Call once at start. */
void graft_net_tune_heap(int bounded);
graft_err graft_net_create(graft_net **out);
/* Destroys the context (stopping its ZAP handler); every socket must be closed first. */
void graft_net_destroy(graft_net **net);

/* CURVE authentication (docs/security.md). Keys are Z85 text: 40 characters and a NUL. */
#define GRAFT_CURVE_KEY_LEN 41
/* A fresh key pair. */
graft_err graft_net_keypair(char public_key[GRAFT_CURVE_KEY_LEN],
                            char secret_key[GRAFT_CURVE_KEY_LEN]);
/* The key pair this context's DEALER sockets present to CURVE servers. */
void graft_net_set_identity(graft_net *net, const char *public_key, const char *secret_key);
/* Starts this context's ZAP handler (a thread): a CURVE server socket then admits only clients
 * whose public key graft_net_allow listed (none until then), and logs GRAFT-AUTH-DENIED for the
 * others. Start it before binding a CURVE socket. */
graft_err graft_net_zap_start(graft_net *net);
/* Replaces the list of admitted public keys. */
graft_err graft_net_allow(graft_net *net, const char (*keys)[GRAFT_CURVE_KEY_LEN], int n);

/* Binds a ROUTER socket on tcp://host:* (an ephemeral port), or on host itself when it is an
 * ipc:// endpoint. Frames larger than max_msg make ZeroMQ drop the peer before anything is
 * allocated for them. With curve_secret (not NULL or empty) the socket is a CURVE server whose
 * every client must pass the ZAP handler. The bound endpoint, as peers should connect to it, is
 * written to endpoint. */
graft_err graft_sock_bind_router(graft_net *net, const char *host, size_t max_msg,
                                 const char *curve_secret, graft_sock **out, char *endpoint,
                                 size_t eplen);
/* Connects a DEALER socket to endpoint (the connection completes in the background); with
 * server_key (not NULL or empty), over CURVE with the context's identity. */
graft_err graft_sock_connect_dealer(graft_net *net, const char *endpoint, const char *server_key,
                                    graft_sock **out);
void graft_sock_close(graft_sock **sock);
/* How long a send may wait for a peer to take it (DEALERs: 30 s by default) before failing. */
void graft_sock_set_send_timeout(graft_sock *sock, int ms);

/* Sends n frames as one message; the data is copied, so the caller keeps its buffers. Blocks
 * while the peer's queue is full. */
graft_err graft_sock_send(graft_sock *sock, int n, const void *const *data, const size_t *sizes);
/* Sends n copied frames and then `last` (last_size bytes, from graft_malloc) as the final frame
 * without copying it: ZeroMQ owns it from this call on and frees it once sent, also when the
 * send fails. For bulk rows. */
graft_err graft_sock_send_owned(graft_sock *sock, int n, const void *const *data,
                                const size_t *sizes, void *last, size_t last_size);
/* Receives one whole message. timeout_ms < 0 waits for ever; GRAFT_ERR_TIMEOUT when none came. */
graft_err graft_sock_recv(graft_sock *sock, graft_parts *parts, int timeout_ms);
void graft_parts_close(graft_parts *parts);

/* Waits until one of socks is readable: returns its index, -1 on timeout. */
int graft_sock_poll(graft_sock **socks, int n, int timeout_ms);

/* The IPv4 address other hosts reach this one at: the first interface that is up and not
 * loopback; 127.0.0.1 when there is none. */
void graft_net_host_address(char *buf, size_t len);

#endif
