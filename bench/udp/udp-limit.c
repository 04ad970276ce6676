/*
 * udp-limit: the physical limit of this machine's loopback for the rxperf benchmark.
 *
 *   udp-limit blast SIZE BYTES      one sender thread sends BYTES in SIZE-byte datagrams to
 *                                   one receiver thread (its own socket) as fast as it can;
 *                                   prints "blast SIZE: N bytes received in T s: R Gbit/s (L lost)"
 *   udp-limit pingpong SIZE CALLS PAIRS
 *                                   PAIRS client threads, each with a server thread, do CALLS
 *                                   SIZE-byte request/response round trips each; prints
 *                                   "pingpong SIZE x PAIRS: C calls in T s: R calls/s, p50 A us, p99 B us"
 *
 * Plain blocking sockets, one datagram per system call (no GSO/GRO, no sendmmsg): the same
 * primitive rxrpc and OpenAFS rx use. The blast receiver stops after BYTES or after 300 ms of
 * silence (datagrams dropped by a full socket buffer are counted as lost). 127.0.0.1 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
udp_socket(struct sockaddr_in *bound, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = sizeof(*bound);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    memset(bound, 0, sizeof(*bound));
    bound->sin_family = AF_INET;
    bound->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)bound, sizeof(*bound)) < 0 ||
        getsockname(fd, (struct sockaddr *)bound, &len) < 0) {
        perror("bind");
        exit(1);
    }
    return fd;
}

/* ---- blast -------------------------------------------------------------------------------- */

struct blast {
    int fd;
    size_t size;
    uint64_t want, got;
    double first, last;
};

static void *
blast_rx(void *arg)
{
    struct blast *b = arg;
    char *buf = malloc(65536);
    struct timeval tv = { 0, 300000 };
    setsockopt(b->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (b->got < b->want) {
        ssize_t n = recv(b->fd, buf, 65536, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            continue;
        }
        if (b->got == 0)
            b->first = now();
        b->got += (uint64_t)n;
        b->last = now();
    }
    free(buf);
    return NULL;
}

static int
do_blast(size_t size, uint64_t bytes)
{
    struct sockaddr_in rxa, txa;
    struct blast b;
    pthread_t t;
    char *buf = calloc(1, size);
    uint64_t sent = 0, n = 0;
    double t0, secs;
    int tx;

    memset(&b, 0, sizeof(b));
    b.fd = udp_socket(&rxa, 4 << 20);
    b.size = size;
    b.want = bytes;
    tx = udp_socket(&txa, 0);
    pthread_create(&t, NULL, blast_rx, &b);
    usleep(10000);
    t0 = now();
    while (sent < bytes) {
        if (sendto(tx, buf, size, 0, (struct sockaddr *)&rxa, sizeof(rxa)) == (ssize_t)size) {
            sent += size;
            n++;
        }
    }
    pthread_join(t, NULL);
    /* From the first byte sent to the last byte received. */
    secs = (b.got ? b.last : now()) - t0;
    printf("blast %zu: %llu bytes received in %.3f s: %.3f Gbit/s (%llu of %llu datagrams lost)\n",
           size, (unsigned long long)b.got, secs, b.got * 8.0 / secs / 1e9,
           (unsigned long long)(n - b.got / size), (unsigned long long)n);
    return 0;
}

/* ---- ping-pong ---------------------------------------------------------------------------- */

struct pair {
    int cfd, sfd;
    struct sockaddr_in ca, sa;
    size_t size;
    long calls;
    double *lat;
};

static void *
pp_server(void *arg)
{
    struct pair *p = arg;
    char buf[65536];
    struct sockaddr_in from;
    long i;
    for (i = 0; i < p->calls; i++) {
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(p->sfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n > 0)
            sendto(p->sfd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

static void *
pp_client(void *arg)
{
    struct pair *p = arg;
    char *buf = calloc(1, p->size > 65536 ? p->size : 65536);
    long i;
    for (i = 0; i < p->calls; i++) {
        double t = now();
        sendto(p->cfd, buf, p->size, 0, (struct sockaddr *)&p->sa, sizeof(p->sa));
        recv(p->cfd, buf, 65536, 0);
        p->lat[i] = (now() - t) * 1e6;
    }
    free(buf);
    return NULL;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int
do_pingpong(size_t size, long calls, int pairs)
{
    struct pair *p = calloc((size_t)pairs, sizeof(*p));
    pthread_t *st = calloc((size_t)pairs, sizeof(pthread_t)), *ct = calloc((size_t)pairs, sizeof(pthread_t));
    double *all = calloc((size_t)(calls * pairs), sizeof(double));
    double t0, secs;
    long n = calls * pairs;
    int i;

    for (i = 0; i < pairs; i++) {
        p[i].sfd = udp_socket(&p[i].sa, 0);
        p[i].cfd = udp_socket(&p[i].ca, 0);
        p[i].size = size;
        p[i].calls = calls;
        p[i].lat = all + (size_t)i * calls;
        pthread_create(&st[i], NULL, pp_server, &p[i]);
    }
    usleep(10000);
    t0 = now();
    for (i = 0; i < pairs; i++)
        pthread_create(&ct[i], NULL, pp_client, &p[i]);
    for (i = 0; i < pairs; i++)
        pthread_join(ct[i], NULL);
    secs = now() - t0;
    for (i = 0; i < pairs; i++)
        pthread_join(st[i], NULL);
    qsort(all, (size_t)n, sizeof(double), cmp);
    printf("pingpong %zu x %d: %ld calls in %.3f s: %.0f calls/s, p50 %.1f us, p99 %.1f us\n",
           size, pairs, n, secs, n / secs, all[n / 2], all[(size_t)(n * 0.99)]);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "blast") == 0)
        return do_blast((size_t)atol(argv[2]), (uint64_t)atoll(argv[3]));
    if (argc == 5 && strcmp(argv[1], "pingpong") == 0)
        return do_pingpong((size_t)atol(argv[2]), atol(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: %s blast SIZE BYTES | pingpong SIZE CALLS PAIRS\n", argv[0]);
    return 1;
}
