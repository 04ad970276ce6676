/*
 * rxperf-peer: an rxperf-protocol client and server on OpenAFS's Rx library
 * (Debian libopenafs-dev: libafsrpc.a), used by the rxrpc interop tests and
 * by bench/run.sh as the OpenAFS baseline.  Debian ships OpenAFS's Rx library
 * but not its rxperf tool, so this is a small independent program that speaks
 * the same protocol with the same defaults and prints the same report line.
 *
 * Protocol (all integers big-endian u32; service 147, UDP port 7009):
 *   request  = version(3) op rsize wsize, then per op
 *     SEND 0: nbytes, nbytes of data               reply: cookie 00 00 47 11
 *     RECV 1: nbytes                                reply: nbytes of data, cookie
 *     RPC  3: sendbytes readbytes, sendbytes data   reply: readbytes of data, cookie
 *     FILE 4: n, n entries (size in 4-byte words; 0 toggles the direction,
 *             starting client->server), then the data  reply: data, no cookie
 *   With -k the client appends the cookie 00 00 47 11 to SEND/RECV/RPC
 *   requests (the convention of Linux's rxperf.ko since 2025).  The server
 *   reads exactly what it needs and ignores anything after it, as OpenAFS's
 *   rxperf does, so it accepts both conventions.
 *
 * Usage:
 *   rxperf-peer server [-a addr] [-p port] [-W window] [-j] [-m mtu] [-u udpbuf_KiB]
 *                      [-s minprocs] [-S maxprocs] [-H] [-P minpeertimeout_ms] [-n] [-x calls]
 *     -n  no reachability check before a call is served (OpenAFS's rxperf server sets
 *         rx_SetCheckReach(service, 1): a new connection's first call waits for the
 *         client's answer to a PING; -n turns that off)
 *     -x  exit(0) once this many calls have been served (for profiling under valgrind,
 *         which writes its output at exit)
 *   rxperf-peer client -c send|recv|rpc|file [-s host] [-p port] [-a bindaddr]
 *                      [-b bytes] [-S sendbytes] [-R readbytes] [-T times] [-t threads]
 *                      [-r readsize] [-w writesize] [-W window] [-j] [-m mtu]
 *                      [-u udpbuf_KiB] [-H] [-P ms] [-k] [-f file] [-D]
 *
 * Client output: the OpenAFS rxperf report line
 *   "SEND: threads\t1, times\t1, bytes\t1048576:\t      12 msec\t[0.7 Gbit/s]"
 * and, for rpc, one more line with per-call latency percentiles:
 *   "RPC latency: calls N, R calls/s, min A us, p50 B us, p90 C us, p99 D us, p99.9 E us, max F us"
 * Errors: a message on stderr and exit status 1.
 *
 * Build: bench/openafs-peer/build.sh (gcc, static libafsrpc).
 */
#include <afs/param.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <rx/rx.h>
#include <rx/rx_globals.h>
#include <rx/rx_null.h>

#define PERF_SERVICE 147
#define PERF_PORT 7009
#define PERF_VERSION 3
#define PERF_COOKIE 0x4711
#define CHUNK_MAX (512 * 1024)
#define MAX_THREADS 128

enum { OP_SEND = 0, OP_RECV = 1, OP_RPC = 3, OP_FILE = 4 };

static const char *prog = "rxperf-peer";

static void
die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static long
number(const char *what, const char *s)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 0);
    if (errno || end == s || *end != '\0')
        die("can't parse %s: %s", what, s);
    return v;
}

static uint32_t
ipv4(const char *host)
{
    struct addrinfo hints, *res;
    uint32_t a;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        die("can't resolve %s", host);
    a = ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr;
    freeaddrinfo(res);
    return a;
}

/* Read and write buffers: zeros to send, a per-thread sink to read into. */
static char zeros[CHUNK_MAX];
static __thread char *sink;

static char *
sink_buf(void)
{
    if (sink == NULL && (sink = malloc(CHUNK_MAX)) == NULL)
        die("out of memory");
    return sink;
}

static int
get_u32(struct rx_call *call, uint32_t *v)
{
    uint32_t be;
    if (rx_Read(call, (char *)&be, 4) != 4)
        return -1;
    *v = ntohl(be);
    return 0;
}

static int
put_u32(struct rx_call *call, uint32_t v)
{
    uint32_t be = htonl(v);
    return rx_Write(call, (char *)&be, 4) == 4 ? 0 : -1;
}

static int
drain(struct rx_call *call, uint64_t n, uint32_t chunk)
{
    char *buf = sink_buf();
    while (n > 0) {
        uint32_t k = n < chunk ? (uint32_t)n : chunk;
        if (rx_Read(call, buf, k) != (int)k)
            return -1;
        n -= k;
    }
    return 0;
}

static int
fill(struct rx_call *call, uint64_t n, uint32_t chunk)
{
    while (n > 0) {
        uint32_t k = n < chunk ? (uint32_t)n : chunk;
        if (rx_Write(call, zeros, k) != (int)k)
            return -1;
        n -= k;
    }
    return 0;
}

static uint32_t
clamp_chunk(uint32_t v)
{
    if (v == 0 || v > CHUNK_MAX)
        return CHUNK_MAX;
    return v;
}

/* ---- common Rx settings ---------------------------------------------------- */

struct rxopts {
    uint32_t bind;      /* network order */
    int port;
    int window;
    int nojumbo;
    int maxmtu;
    int udpbuf;
    int hot;
    int minpeertimeout;
};

static void
rx_setup(const struct rxopts *o)
{
    if (o->hot)
        rx_EnableHotThread();
    if (o->udpbuf)
        rx_SetUdpBufSize(o->udpbuf);
    if (rx_InitHost(o->bind, htons((unsigned short)o->port)) != 0)
        die("rx_InitHost failed (port %d in use?)", o->port);
    if (o->nojumbo)
        rx_SetNoJumbo();
    if (o->maxmtu)
        rx_SetMaxMTU(o->maxmtu);
    if (o->window) {
        rx_SetMaxReceiveWindow(o->window);
        rx_SetMaxSendWindow(o->window);
    }
    if (o->minpeertimeout)
        rx_SetMinPeerTimeout(o->minpeertimeout);
}

/* ---- server ------------------------------------------------------------------- */

static long exit_after;         /* -x */
static long served;
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
exit_watch(void *arg)
{
    (void)arg;
    for (;;) {
        long n;
        usleep(50000);
        pthread_mutex_lock(&served_lock);
        n = served;
        pthread_mutex_unlock(&served_lock);
        if (n >= exit_after) {
            usleep(300000); /* let the last reply be acknowledged */
            exit(0);
        }
    }
    return NULL;
}

static afs_int32 serve_op(struct rx_call *call);

static afs_int32
serve_call(struct rx_call *call)
{
    afs_int32 code = serve_op(call);
    pthread_mutex_lock(&served_lock);
    served++;
    pthread_mutex_unlock(&served_lock);
    return code;
}

static afs_int32
serve_op(struct rx_call *call)
{
    uint32_t version, op, rsize, wsize, a, b, n, i;
    uint32_t *list;
    int reading = 1;

    if (get_u32(call, &version) || get_u32(call, &op) || get_u32(call, &rsize) ||
        get_u32(call, &wsize))
        return -1;
    if (version != PERF_VERSION)
        return -1;
    /* The client's read size is our write chunk and vice versa. */
    rsize = clamp_chunk(rsize);
    wsize = clamp_chunk(wsize);

    switch (op) {
    case OP_SEND:
        if (get_u32(call, &a) || drain(call, a, wsize))
            return -1;
        return put_u32(call, PERF_COOKIE);
    case OP_RECV:
        if (get_u32(call, &a) || fill(call, a, rsize))
            return -1;
        return put_u32(call, PERF_COOKIE);
    case OP_RPC:
        if (get_u32(call, &a) || get_u32(call, &b) || drain(call, a, wsize) ||
            fill(call, b, rsize))
            return -1;
        return put_u32(call, PERF_COOKIE);
    case OP_FILE:
        if (get_u32(call, &n) || n > (1u << 20))
            return -1;
        list = calloc(n ? n : 1, sizeof(uint32_t));
        if (list == NULL)
            return -1;
        if (rx_Read(call, (char *)list, n * 4) != (int)(n * 4)) {
            free(list);
            return -1;
        }
        for (i = 0; i < n; i++) {
            uint64_t bytes = (uint64_t)ntohl(list[i]) * 4;
            if (list[i] == 0)
                reading = !reading;
            /* Like OpenAFS rxperf: transfer failures here are not fatal. */
            if (reading)
                (void)drain(call, bytes, wsize);
            else
                (void)fill(call, bytes, rsize);
        }
        free(list);
        return 0;
    default:
        return -1;
    }
}

static int
server_main(int argc, char **argv)
{
    struct rxopts o = { htonl(INADDR_LOOPBACK), PERF_PORT, 0, 0, 0, 0, 0, 0 };
    int minprocs = 2, maxprocs = 20, checkreach = 1, ch;
    pthread_t watcher;
    struct rx_securityClass *sec;
    struct rx_service *svc;

    while ((ch = getopt(argc, argv, "a:p:W:jm:u:s:S:HP:nx:")) != -1) {
        switch (ch) {
        case 'a': o.bind = ipv4(optarg); break;
        case 'p': o.port = (int)number("port", optarg); break;
        case 'W': o.window = (int)number("window", optarg); break;
        case 'j': o.nojumbo = 1; break;
        case 'm': o.maxmtu = (int)number("mtu", optarg); break;
        case 'u': o.udpbuf = (int)number("udp buffer", optarg) * 1024; break;
        case 's': minprocs = (int)number("minprocs", optarg); break;
        case 'S': maxprocs = (int)number("maxprocs", optarg); break;
        case 'H': o.hot = 1; break;
        case 'P': o.minpeertimeout = (int)number("min peer timeout", optarg); break;
        case 'n': checkreach = 0; break;
        case 'x': exit_after = number("calls", optarg); break;
        default: die("usage: %s server [-a addr] [-p port] [-W window] [-j] [-m mtu] "
                     "[-u KiB] [-s minprocs] [-S maxprocs] [-H] [-P ms] [-n] [-x calls]", prog);
        }
    }
    if (optind != argc)
        die("unexpected argument %s", argv[optind]);
    rx_setup(&o);
    sec = rxnull_NewServerSecurityObject();
    svc = rx_NewService(0, PERF_SERVICE, "rxperf", &sec, 1, serve_call);
    if (svc == NULL)
        die("rx_NewService failed");
    rx_SetMinProcs(svc, minprocs);
    rx_SetMaxProcs(svc, maxprocs);
    rx_SetCheckReach(svc, checkreach);
    if (exit_after > 0 && pthread_create(&watcher, NULL, exit_watch, NULL) != 0)
        die("pthread_create failed");
    fprintf(stderr, "%s: serving rxperf on %s:%d\n", prog,
            inet_ntoa(*(struct in_addr *)&o.bind), o.port);
    rx_StartServer(1); /* donates this thread; never returns */
    return 0;
}

/* ---- client ------------------------------------------------------------------- */

struct job {
    struct rx_connection *conn;
    int op;
    int times;
    uint32_t bytes, sendbytes, readbytes, rsize, wsize;
    int cookie;
    uint32_t *list;     /* FILE: host order entries */
    uint32_t nlist;
    double *lat;        /* times latencies in microseconds */
};

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
check_cookie(struct rx_call *call)
{
    uint32_t v;
    if (get_u32(call, &v))
        die("failed to read the result from the server (err %d)", rx_Error(call));
    if (v != PERF_COOKIE)
        fprintf(stderr, "%s: server sent a wrong magic cookie: %#x\n", prog, v);
}

static void
one_call(struct job *j)
{
    struct rx_call *call = rx_NewCall(j->conn);
    uint32_t i;
    int code, sending = 1;

    if (call == NULL)
        die("rx_NewCall failed");
    if (put_u32(call, PERF_VERSION) || put_u32(call, (uint32_t)j->op) ||
        put_u32(call, j->rsize) || put_u32(call, j->wsize))
        die("rx_Write of the request header failed (err %d)", rx_Error(call));
    switch (j->op) {
    case OP_SEND:
        if (put_u32(call, j->bytes) || fill(call, j->bytes, j->wsize) ||
            (j->cookie && put_u32(call, PERF_COOKIE)))
            die("send failed (err %d)", rx_Error(call));
        check_cookie(call);
        break;
    case OP_RECV:
        if (put_u32(call, j->bytes) || (j->cookie && put_u32(call, PERF_COOKIE)))
            die("send failed (err %d)", rx_Error(call));
        if (drain(call, j->bytes, j->rsize))
            die("receive failed (err %d)", rx_Error(call));
        check_cookie(call);
        break;
    case OP_RPC:
        if (put_u32(call, j->sendbytes) || put_u32(call, j->readbytes) ||
            fill(call, j->sendbytes, j->wsize) || (j->cookie && put_u32(call, PERF_COOKIE)))
            die("send failed (err %d)", rx_Error(call));
        if (drain(call, j->readbytes, j->rsize))
            die("receive failed (err %d)", rx_Error(call));
        check_cookie(call);
        break;
    case OP_FILE:
        if (put_u32(call, j->nlist))
            die("send failed (err %d)", rx_Error(call));
        for (i = 0; i < j->nlist; i++)
            if (put_u32(call, j->list[i]))
                die("send failed (err %d)", rx_Error(call));
        sending = 1;
        for (i = 0; i < j->nlist; i++) {
            uint64_t bytes = (uint64_t)j->list[i] * 4;
            if (j->list[i] == 0)
                sending = !sending;
            if (sending ? fill(call, bytes, j->wsize) : drain(call, bytes, j->rsize))
                die("transfer of FILE entry %u failed (err %d)", i, rx_Error(call));
        }
        break;
    }
    code = rx_EndCall(call, 0);
    if (code != 0)
        die("call failed with code %d", code);
}

static void *
client_thread(void *arg)
{
    struct job *j = arg;
    int i;
    for (i = 0; i < j->times; i++) {
        double t0 = now_us();
        one_call(j);
        j->lat[i] = now_us() - t0;
    }
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static uint32_t *
read_list(const char *path, uint32_t *n)
{
    FILE *f = fopen(path, "r");
    char line[256];
    uint32_t cap = 16, *v;
    if (f == NULL)
        die("can't open %s: %s", path, strerror(errno));
    v = malloc(cap * sizeof(*v));
    *n = 0;
    while (v && fgets(line, sizeof(line), f) != NULL) {
        char *end, *p = line;
        long x;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\0') {
            x = 0;
        } else {
            x = strtol(p, &end, 0);
            if (end == p || x < 0)
                die("%s: bad entry: %s", path, line);
        }
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        if (v)
            v[(*n)++] = (uint32_t)x;
    }
    if (v == NULL)
        die("out of memory");
    fclose(f);
    return v;
}

static int
client_main(int argc, char **argv)
{
    struct rxopts o = { htonl(INADDR_LOOPBACK), 0, 0, 0, 0, 0, 0, 0 };
    const char *host = "127.0.0.1", *file = NULL;
    int op = -1, times = 100, threads = 1, cookie = 0, dump = 0, port = PERF_PORT, ch, i;
    long bytes = 1024 * 1024, sendbytes = 3, readbytes = 30;
    uint32_t rsize = CHUNK_MAX, wsize = CHUNK_MAX, nlist = 0, *list = NULL;
    struct rx_securityClass *sec;
    struct rx_connection *conn = NULL;
    uint32_t server;
    pthread_t tid[MAX_THREADS];
    struct job jobs[MAX_THREADS];
    char stamp[1024];
    double t0, t1, usec, kbps, *all;
    long long total;

    while ((ch = getopt(argc, argv, "c:s:p:a:b:S:R:T:t:r:w:W:jm:u:HP:kf:D")) != -1) {
        switch (ch) {
        case 'c':
            if (!strcasecmp(optarg, "send")) op = OP_SEND;
            else if (!strcasecmp(optarg, "recv")) op = OP_RECV;
            else if (!strcasecmp(optarg, "rpc")) op = OP_RPC;
            else if (!strcasecmp(optarg, "file")) op = OP_FILE;
            else die("unknown command %s", optarg);
            break;
        case 's': host = optarg; break;
        case 'p': port = (int)number("port", optarg); break;
        case 'a': o.bind = ipv4(optarg); break;
        case 'b': bytes = number("bytes", optarg); break;
        case 'S': sendbytes = number("sendbytes", optarg); break;
        case 'R': readbytes = number("readbytes", optarg); break;
        case 'T': times = (int)number("times", optarg); break;
        case 't': threads = (int)number("threads", optarg); break;
        case 'r': rsize = (uint32_t)number("read size", optarg); break;
        case 'w': wsize = (uint32_t)number("write size", optarg); break;
        case 'W': o.window = (int)number("window", optarg); break;
        case 'j': o.nojumbo = 1; break;
        case 'm': o.maxmtu = (int)number("mtu", optarg); break;
        case 'u': o.udpbuf = (int)number("udp buffer", optarg) * 1024; break;
        case 'H': o.hot = 1; break;
        case 'P': o.minpeertimeout = (int)number("min peer timeout", optarg); break;
        case 'k': cookie = 1; break;
        case 'f': file = optarg; break;
        case 'D': dump = 1; break;
        default:
            die("usage: %s client -c send|recv|rpc|file [-s host] [-p port] [-a bindaddr] "
                "[-b bytes] [-S sendbytes] [-R readbytes] [-T times] [-t threads] [-r rsize] "
                "[-w wsize] [-W window] [-j] [-m mtu] [-u KiB] [-H] [-P ms] [-k] [-f file] [-D]",
                prog);
        }
    }
    if (optind != argc)
        die("unexpected argument %s", argv[optind]);
    if (op < 0)
        die("no command given to the client");
    if (threads < 1 || threads > MAX_THREADS)
        die("threads must be 1..%d", MAX_THREADS);
    if (times < 1 || bytes < 0 || sendbytes < 0 || readbytes < 0)
        die("times must be positive and sizes not negative");
    if (rsize == 0 || rsize > CHUNK_MAX || wsize == 0 || wsize > CHUNK_MAX)
        die("read/write sizes must be 1..%d", CHUNK_MAX);
    if (op == OP_FILE) {
        if (file == NULL)
            die("file command needs -f file");
        if (threads > 1)
            die("cannot use multiple threads with file command");
        list = read_list(file, &nlist);
    }
    server = ipv4(host);

    rx_setup(&o);
    sec = rxnull_NewClientSecurityObject();

    switch (op) {
    case OP_RPC:
        snprintf(stamp, sizeof(stamp),
                 "RPC: threads\t%d, times\t%d, write bytes\t%ld, read bytes\t%ld", threads,
                 times, sendbytes, readbytes);
        total = (long long)threads * times * (sendbytes + readbytes);
        break;
    case OP_RECV:
        snprintf(stamp, sizeof(stamp), "RECV: threads\t%d, times\t%d, bytes\t%ld", threads,
                 times, bytes);
        total = (long long)threads * times * bytes;
        break;
    case OP_SEND:
        snprintf(stamp, sizeof(stamp), "SEND: threads\t%d, times\t%d, bytes\t%ld", threads,
                 times, bytes);
        total = (long long)threads * times * bytes;
        break;
    default: {
        long long per = 0;
        for (i = 0; i < (int)nlist; i++)
            per += (long long)list[i] * 4;
        snprintf(stamp, sizeof(stamp), "FILE %s: threads\t%d, times\t%d, bytes\t%lld", file,
                 threads, times, per);
        total = (long long)times * per;
        break;
    }
    }

    all = calloc((size_t)threads * times, sizeof(double));
    if (all == NULL)
        die("out of memory");
    for (i = 0; i < threads; i++) {
        /* Like OpenAFS rxperf: threads share a connection, a new one every 4 threads. */
        if (i % RX_MAXCALLS == 0) {
            conn = rx_NewConnection(server, htons((unsigned short)port), PERF_SERVICE, sec, 0);
            if (conn == NULL)
                die("rx_NewConnection failed");
        }
        jobs[i].conn = conn;
        jobs[i].op = op;
        jobs[i].times = times;
        jobs[i].bytes = (uint32_t)bytes;
        jobs[i].sendbytes = (uint32_t)sendbytes;
        jobs[i].readbytes = (uint32_t)readbytes;
        jobs[i].rsize = rsize;
        jobs[i].wsize = wsize;
        jobs[i].cookie = cookie;
        jobs[i].list = list;
        jobs[i].nlist = nlist;
        jobs[i].lat = all + (size_t)i * times;
    }
    t0 = now_us();
    for (i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, client_thread, &jobs[i]) != 0)
            die("pthread_create failed");
    for (i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    t1 = now_us();

    usec = t1 - t0;
    printf("%s:\t%8llu msec", stamp, (unsigned long long)(usec / 1000));
    kbps = usec > 0 ? (double)total * 8000.0 / usec : 0.0;
    if (kbps > 1000000.0)
        printf("\t[%.4g Gbit/s]\n", kbps / 1000000.0);
    else if (kbps > 1000.0)
        printf("\t[%.4g Mbit/s]\n", kbps / 1000.0);
    else
        printf("\t[%.4g kbit/s]\n", kbps);
    if (op == OP_RPC) {
        size_t n = (size_t)threads * times;
        qsort(all, n, sizeof(double), cmp_double);
        printf("RPC latency: calls %zu, %.0f calls/s, min %.1f us, p50 %.1f us, p90 %.1f us, "
               "p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
               n, usec > 0 ? n * 1e6 / usec : 0.0, all[0], pct(all, n, 50), pct(all, n, 90),
               pct(all, n, 99), pct(all, n, 99.9), all[n - 1]);
    }
    if (dump)
        rx_PrintStats(stdout);
    fflush(stdout);
    rx_Finalize();
    return 0;
}

int
main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    memset(zeros, 0, sizeof(zeros));
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return server_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "client") == 0)
        return client_main(argc - 1, argv + 1);
    die("usage: %s server|client [options]  (see the comment at the top of rxperf-peer.c)",
        prog);
    return 1;
}
