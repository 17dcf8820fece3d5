/* Tests of the dbtoken C ABI against the loopback mock (started by tests/bindings.sh, which
 * exports DATABRICKS_HOST, SSL_CERT_FILE, DATABRICKS_OIDC_TOKEN_FILEPATH and
 * DBTOKEN_MOCK_M2M_CLIENT_ID). Built with -std=c11 -Wall -Wextra -Werror -pedantic; run under
 * ASan+UBSan and under valgrind. Ends with "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbtoken.h"

static int passed, failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (cond) {                                                             \
            passed++;                                                           \
        } else {                                                                \
            failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                       \
    } while (0)

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "test setup: %s is not set (run tests/bindings.sh c)\n", name);
        exit(2);
    }
    return v;
}

static dbtoken_client *env_client(void) {
    dbtoken_client *c = NULL;
    dbtoken_error *err = NULL;
    dbtoken_status st = dbtoken_client_new(NULL, &c, &err);
    if (st != DBTOKEN_STATUS_OK) {
        fprintf(stderr, "env client: %s\n", dbtoken_error_message(err));
    }
    dbtoken_error_free(err);
    return c;
}

static void test_version(void) {
    const char *v = dbtoken_version();
    CHECK(v != NULL && strchr(v, '.') != NULL);
    CHECK(strcmp(dbtoken_status_name(DBTOKEN_STATUS_REJECTED), "DBTOKEN_STATUS_REJECTED") == 0);
    CHECK(strcmp(dbtoken_status_name(DBTOKEN_STATUS_OK), "DBTOKEN_STATUS_OK") == 0);
    CHECK(strcmp(dbtoken_status_name(DBTOKEN_STATUS_PANIC), "DBTOKEN_STATUS_PANIC") == 0);
}

/* Any int is a valid argument: numbers that are no status answer "unknown" (these crashed or
 * returned pointers into code while the parameter was the Rust enum). */
static void test_status_name_out_of_range(void) {
    const int bad[] = {9, 99, 1000, -1, -2147483647 - 1, 2147483647};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *name = dbtoken_status_name(bad[i]);
        CHECK(name != NULL && strcmp(name, "unknown") == 0);
    }
    CHECK(DBTOKEN_STATUS_OK == 0 && DBTOKEN_STATUS_CONFIG == 3 && DBTOKEN_STATUS_TRANSIENT == 6);
}

static void test_happy_path_from_env(void) {
    dbtoken_client *c = env_client();
    CHECK(c != NULL);
    char buf[4096];
    size_t len = 0;
    dbtoken_token_info info;
    memset(&info, 0, sizeof info);
    dbtoken_error *err = NULL;
    CHECK(dbtoken_client_token(c, buf, sizeof buf, &len, &info, &err) == DBTOKEN_STATUS_OK);
    CHECK(err == NULL);
    CHECK(len > 0 && strlen(buf) == len);
    CHECK(strcmp(info.token_type, "Bearer") == 0);
    time_t now = time(NULL);
    CHECK(info.expires_on > (int64_t)now + 3000 && info.expires_on <= (int64_t)now + 3601);
    /* Refresh-ahead is drawn per token in the last fifth of the fresh phase: for an hour,
       between 1680 and 1200 s before expiry. */
    CHECK(info.refresh_at >= info.expires_on - 1200 - 480 - 1 && info.refresh_at <= info.expires_on - 1200 + 1);
    /* Second call: the same token from the cache, no new exchange. */
    char again[4096];
    size_t len2 = 0;
    CHECK(dbtoken_client_token(c, again, sizeof again, &len2, NULL, NULL) == DBTOKEN_STATUS_OK);
    CHECK(len2 == len && memcmp(buf, again, len) == 0);
    dbtoken_stats stats;
    CHECK(dbtoken_client_stats(c, &stats) == DBTOKEN_STATUS_OK);
    CHECK(stats.refreshes == 1 && stats.failures == 0);
    dbtoken_client_free(c);
}

static void test_explicit_config(void) {
    dbtoken_config *cfg = NULL;
    CHECK(dbtoken_config_new(&cfg) == DBTOKEN_STATUS_OK && cfg != NULL);
    dbtoken_error *err = NULL;
    /* Explicit values override the environment. */
    CHECK(dbtoken_config_set(cfg, "auth_type", "file-oidc", &err) == DBTOKEN_STATUS_OK);
    CHECK(dbtoken_config_set(cfg, "host", env("DATABRICKS_HOST"), &err) == DBTOKEN_STATUS_OK);
    CHECK(dbtoken_config_set(cfg, "ca_bundle", env("SSL_CERT_FILE"), &err) == DBTOKEN_STATUS_OK);
    CHECK(dbtoken_config_set(cfg, "scopes", "all-apis", NULL) == DBTOKEN_STATUS_OK);
    CHECK(dbtoken_config_set(cfg, "scopes", NULL, NULL) == DBTOKEN_STATUS_OK); /* unset */
    CHECK(err == NULL);
    dbtoken_client *c = NULL;
    CHECK(dbtoken_client_new(cfg, &c, &err) == DBTOKEN_STATUS_OK);
    dbtoken_config_free(cfg); /* the client does not need it any more */
    char buf[4096];
    size_t len = 0;
    CHECK(dbtoken_client_token(c, buf, sizeof buf, &len, NULL, &err) == DBTOKEN_STATUS_OK);
    CHECK(len > 0);
    dbtoken_client_free(c);
}

static void test_null_arguments(void) {
    dbtoken_error *err = NULL;
    CHECK(dbtoken_config_new(NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(dbtoken_config_set(NULL, "host", "x", &err) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && dbtoken_error_status(err) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(dbtoken_error_message(err), "'cfg'") != NULL);
    dbtoken_error_free(err);
    err = NULL;
    dbtoken_config *cfg = NULL;
    dbtoken_config_new(&cfg);
    CHECK(dbtoken_config_set(cfg, NULL, "x", NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(dbtoken_client_new(NULL, NULL, NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    dbtoken_config_free(cfg);

    dbtoken_client *c = env_client();
    char buf[16];
    size_t len = 12345;
    dbtoken_token_info info;
    CHECK(dbtoken_client_token(NULL, buf, sizeof buf, &len, &info, NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(dbtoken_client_token(c, buf, sizeof buf, NULL, &info, NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(dbtoken_client_token(c, NULL, 10, &len, &info, NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(len == 12345); /* out-params untouched on failure */
    dbtoken_stats stats;
    CHECK(dbtoken_client_stats(NULL, &stats) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(dbtoken_client_stats(c, NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(dbtoken_error_status(NULL) == DBTOKEN_STATUS_INVALID_ARGUMENT);
    CHECK(dbtoken_error_message(NULL) == NULL);
    CHECK(dbtoken_error_server_error(NULL) == NULL);
    CHECK(dbtoken_error_server_description(NULL) == NULL);
    CHECK(dbtoken_error_http_status(NULL) == 0);
    dbtoken_error_free(NULL);
    dbtoken_config_free(NULL);
    dbtoken_client_free(NULL);
    dbtoken_client_free(c);
}

static void test_buffer_too_small(void) {
    dbtoken_client *c = env_client();
    size_t needed = 0;
    /* Size query. */
    CHECK(dbtoken_client_token(c, NULL, 0, &needed, NULL, NULL) == DBTOKEN_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed > 0);
    /* Exactly the length is one byte short (the NUL). */
    char *buf = malloc(needed + 1);
    memset(buf, 'x', needed + 1);
    size_t got = 0;
    dbtoken_token_info info;
    info.expires_on = -7;
    CHECK(dbtoken_client_token(c, buf, needed, &got, &info, NULL) == DBTOKEN_STATUS_BUFFER_TOO_SMALL);
    CHECK(got == needed && buf[0] == 'x' && info.expires_on == -7);
    CHECK(dbtoken_client_token(c, buf, needed + 1, &got, &info, NULL) == DBTOKEN_STATUS_OK);
    CHECK(got == needed && buf[needed] == '\0' && strlen(buf) == needed && info.expires_on > 0);
    free(buf);
    dbtoken_client_free(c);
}

static void test_unknown_key(void) {
    dbtoken_config *cfg = NULL;
    dbtoken_config_new(&cfg);
    dbtoken_error *err = NULL;
    CHECK(dbtoken_config_set(cfg, "hots", "https://x", &err) == DBTOKEN_STATUS_CONFIG);
    CHECK(err != NULL && dbtoken_error_status(err) == DBTOKEN_STATUS_CONFIG);
    CHECK(err != NULL && strstr(dbtoken_error_message(err), "'hots'") != NULL);
    CHECK(err != NULL && strstr(dbtoken_error_message(err), "oidc_token_filepath") != NULL);
    CHECK(dbtoken_error_http_status(err) == 0 && dbtoken_error_server_error(err) == NULL);
    dbtoken_error_free(err);
    dbtoken_config_free(cfg);
}

static void test_server_rejection(void) {
    dbtoken_config *cfg = NULL;
    dbtoken_config_new(&cfg);
    const char *secret = "wrong-secret-for-the-c-test";
    dbtoken_config_set(cfg, "auth_type", "oauth-m2m", NULL);
    dbtoken_config_set(cfg, "client_id", env("DBTOKEN_MOCK_M2M_CLIENT_ID"), NULL);
    dbtoken_config_set(cfg, "client_secret", secret, NULL);
    dbtoken_client *c = NULL;
    CHECK(dbtoken_client_new(cfg, &c, NULL) == DBTOKEN_STATUS_OK);
    dbtoken_config_free(cfg);
    char buf[256];
    size_t len = 99;
    dbtoken_error *err = NULL;
    CHECK(dbtoken_client_token(c, buf, sizeof buf, &len, NULL, &err) == DBTOKEN_STATUS_REJECTED);
    CHECK(len == 99);
    CHECK(err != NULL && dbtoken_error_status(err) == DBTOKEN_STATUS_REJECTED);
    CHECK(dbtoken_error_http_status(err) == 401);
    CHECK(dbtoken_error_server_error(err) != NULL &&
          strcmp(dbtoken_error_server_error(err), "invalid_client") == 0);
    CHECK(dbtoken_error_server_description(err) != NULL &&
          strstr(dbtoken_error_server_description(err), "Client authentication failed") != NULL);
    CHECK(err != NULL && strstr(dbtoken_error_message(err), "Client authentication failed") != NULL);
    CHECK(err != NULL && strstr(dbtoken_error_message(err), secret) == NULL);
    dbtoken_error_free(err);
    dbtoken_client_free(c);
}

static void test_federated_token_error(void) {
    dbtoken_config *cfg = NULL;
    dbtoken_config_new(&cfg);
    dbtoken_config_set(cfg, "oidc_token_filepath", "/nonexistent/dbtoken/c-test/token", NULL);
    dbtoken_client *c = NULL;
    CHECK(dbtoken_client_new(cfg, &c, NULL) == DBTOKEN_STATUS_OK);
    dbtoken_config_free(cfg);
    dbtoken_error *err = NULL;
    char buf[64];
    size_t len = 0;
    CHECK(dbtoken_client_token(c, buf, sizeof buf, &len, NULL, &err) == DBTOKEN_STATUS_FEDERATED_TOKEN);
    CHECK(err != NULL && strstr(dbtoken_error_message(err), "/nonexistent/dbtoken/c-test/token") != NULL);
    dbtoken_error_free(err);
    dbtoken_client_free(c);
}

#define THREADS 8
struct shared {
    dbtoken_client *client;
    pthread_barrier_t start;
    int ok[THREADS];
    char token[THREADS][4096];
};
struct arg {
    struct shared *s;
    int i;
};

static void *worker(void *p) {
    struct arg *a = p;
    pthread_barrier_wait(&a->s->start);
    size_t len = 0;
    a->s->ok[a->i] = dbtoken_client_token(a->s->client, a->s->token[a->i], sizeof a->s->token[0],
                                          &len, NULL, NULL) == DBTOKEN_STATUS_OK;
    return NULL;
}

static void test_threads_share_one_client(void) {
    static struct shared s;
    memset(&s, 0, sizeof s);
    s.client = env_client();
    pthread_barrier_init(&s.start, NULL, THREADS);
    pthread_t t[THREADS];
    struct arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i].s = &s;
        args[i].i = i;
        pthread_create(&t[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    int all_ok = 1, same = 1;
    for (int i = 0; i < THREADS; i++) {
        all_ok &= s.ok[i];
        same &= strcmp(s.token[i], s.token[0]) == 0;
    }
    CHECK(all_ok);
    CHECK(same);
    dbtoken_stats stats;
    dbtoken_client_stats(s.client, &stats);
    CHECK(stats.refreshes == 1); /* one exchange for eight threads */
    pthread_barrier_destroy(&s.start);
    dbtoken_client_free(s.client);
}

int main(void) {
    test_version();
    test_status_name_out_of_range();
    test_happy_path_from_env();
    test_explicit_config();
    test_null_arguments();
    test_buffer_too_small();
    test_unknown_key();
    test_server_rejection();
    test_federated_token_error();
    test_threads_share_one_client();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
