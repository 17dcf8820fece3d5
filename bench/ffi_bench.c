/* ns per cached dbtoken_client_token call from C, on 1 thread and on every core, against a
 * peer measured in the same run: pthread_mutex_lock + memcpy of the same token (the least a
 * token cache can do). Needs the mock environment (bench/bindings.sh sets it up). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbtoken.h"

#define ITERS 2000000L

static dbtoken_client *client;
static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;
static char peer_token[4096];
static size_t peer_len;
static volatile char sink;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *run_dbtoken(void *arg) {
    (void)arg;
    char buf[4096];
    size_t len;
    dbtoken_token_info info;
    for (long i = 0; i < ITERS; i++) {
        if (dbtoken_client_token(client, buf, sizeof buf, &len, &info, NULL) != DBTOKEN_STATUS_OK) {
            abort();
        }
        sink = buf[0];
    }
    return NULL;
}

static void *run_peer(void *arg) {
    (void)arg;
    char buf[4096];
    for (long i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&peer_lock);
        memcpy(buf, peer_token, peer_len + 1);
        pthread_mutex_unlock(&peer_lock);
        sink = buf[0];
    }
    return NULL;
}

static double measure(void *(*fn)(void *), int threads) {
    pthread_t t[64];
    double start = now_ns();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, fn, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return (now_ns() - start) / (double)ITERS;
}

int main(void) {
    dbtoken_error *err = NULL;
    if (dbtoken_client_new(NULL, &client, &err) != DBTOKEN_STATUS_OK ||
        dbtoken_client_token(client, peer_token, sizeof peer_token, &peer_len, NULL, &err) != DBTOKEN_STATUS_OK) {
        fprintf(stderr, "setup: %s\n", dbtoken_error_message(err));
        return 1;
    }
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 64) cores = 64;
    measure(run_dbtoken, 1); /* warm-up */
    double d1 = measure(run_dbtoken, 1), dn = measure(run_dbtoken, cores);
    double p1 = measure(run_peer, 1), pn = measure(run_peer, cores);
    printf("C  dbtoken_client_token  1 thread: %6.1f ns/call   %d threads: %6.1f ns/call\n", d1, cores, dn);
    printf("C  peer mutex+memcpy     1 thread: %6.1f ns/call   %d threads: %6.1f ns/call\n", p1, cores, pn);
    printf("C  ratio dbtoken/peer    1 thread: %6.2fx          %d threads: %6.2fx\n", d1 / p1, cores, dn / pn);
    dbtoken_stats s;
    dbtoken_client_stats(client, &s);
    dbtoken_client_free(client);
    return s.refreshes == 1 ? 0 : 1; /* every measured call was a cache hit */
}
