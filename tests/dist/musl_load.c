/* Loads a musl artifact with dlopen(), as Python's ctypes and the JVM's System.load do, in a
 * program that runs on musl's own dynamic loader (tests/dist/musl.sh builds it against the
 * system's musl: musl-gcc, or zig cc with Debian's arm64 musl under qemu), and gets a token:
 *
 *   musl_load lib libdbtoken.so       the musllinux wheel's library, through its C ABI
 *   musl_load jni libdbtoken_jni.so   the jar's linux-ARCH-musl JNI library, through its JNI
 *                                     entry points: JNI_OnLoad, nativeVersion, nativeNew,
 *                                     nativeToken, nativeStats, nativeFree, called with a
 *                                     stand-in JavaVM/JNIEnv (no JVM for musl here) that
 *                                     implements the dozen JNI functions the shim uses
 *
 * Configuration from the environment (the mock's DATABRICKS_HOST, ...). Prints the token on
 * stdout (the test checks that the mock accepts it) and what was loaded on stderr.
 * Exit status: 0 ok, 1 a failure (said on stderr). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jni.h>

#include "dbtoken.h"

static void *handle;

/* dlsym(NAME) into the function pointer FP (through memcpy: ISO C has no object-to-function
 * pointer conversion). */
#define LOAD(fp, name)                                                                  \
    do {                                                                                \
        void *p_ = dlsym(handle, name);                                                 \
        if (p_ == NULL) {                                                               \
            fprintf(stderr, "musl_load: %s: %s\n", name, dlerror());                    \
            exit(1);                                                                    \
        }                                                                               \
        memcpy(&(fp), &p_, sizeof p_);                                                  \
    } while (0)

/* No glibc in this process: it runs on musl's loader, which has no gnu_get_libc_version. */
static void on_musl(void) {
    if (dlsym(RTLD_DEFAULT, "gnu_get_libc_version") != NULL) {
        fprintf(stderr, "musl_load: glibc is in this process\n");
        exit(1);
    }
}

static int lib(void) {
    const char *(*version)(void);
    dbtoken_status (*client_new)(const dbtoken_config *, dbtoken_client **, dbtoken_error **);
    dbtoken_status (*client_token)(const dbtoken_client *, char *, size_t, size_t *, dbtoken_token_info *,
                                   dbtoken_error **);
    void (*client_free)(dbtoken_client *);
    const char *(*error_message)(const dbtoken_error *);
    LOAD(version, "dbtoken_version");
    LOAD(client_new, "dbtoken_client_new");
    LOAD(client_token, "dbtoken_client_token");
    LOAD(client_free, "dbtoken_client_free");
    LOAD(error_message, "dbtoken_error_message");
    dbtoken_client *client = NULL;
    dbtoken_error *err = NULL;
    static char token[16384];
    size_t len = 0;
    dbtoken_token_info info;
    dbtoken_status st = client_new(NULL, &client, &err);
    if (st == DBTOKEN_STATUS_OK) {
        st = client_token(client, token, sizeof token, &len, &info, &err);
    }
    if (st != DBTOKEN_STATUS_OK) {
        fprintf(stderr, "musl_load: status %d: %s\n", (int)st, err != NULL ? error_message(err) : "");
        return 1;
    }
    client_free(client);
    fprintf(stderr, "libdbtoken %s: %s token of %zu bytes\n", version(), info.token_type, len);
    printf("%s\n", token);
    return 0;
}

/* The stand-in JVM: every object is one of these; classes and method IDs are names. */
struct obj {
    const char *what; /* "class NAME", "string", "Token", "CachedToken", "Stats", "DbTokenException" */
    char text[16384];
    struct obj *ref;
    long long n[2];
};
static struct obj objs[64];
static int nobjs;
static struct obj *thrown;

static struct obj *new_obj(const char *what) {
    if (nobjs == (int)(sizeof objs / sizeof objs[0])) {
        fprintf(stderr, "musl_load: out of stand-in objects\n");
        exit(1);
    }
    objs[nobjs].what = what;
    return &objs[nobjs++];
}

static jclass JNICALL find_class(JNIEnv *env, const char *name) {
    (void)env;
    struct obj *o = new_obj("class");
    snprintf(o->text, sizeof o->text, "%s", name);
    return (jclass)o;
}
static jobject JNICALL new_global_ref(JNIEnv *env, jobject o) {
    (void)env;
    return o;
}
static void JNICALL delete_local_ref(JNIEnv *env, jobject o) {
    (void)env;
    (void)o;
}
static jmethodID JNICALL get_method_id(JNIEnv *env, jclass cls, const char *name, const char *sig) {
    (void)env;
    (void)name;
    (void)sig;
    return (jmethodID)cls; /* one constructor per class */
}
static jstring JNICALL new_string_utf(JNIEnv *env, const char *s) {
    (void)env;
    struct obj *o = new_obj("string");
    snprintf(o->text, sizeof o->text, "%s", s);
    return (jstring)o;
}
static jobject JNICALL new_object(JNIEnv *env, jclass cls, jmethodID ctor, ...) {
    (void)env;
    (void)ctor;
    const char *name = ((struct obj *)cls)->text;
    va_list ap;
    va_start(ap, ctor);
    struct obj *o = NULL;
    if (strcmp(name, "dev/dbtoken/Token") == 0) { /* (String token, String type, long expiresOn) */
        o = new_obj("Token");
        struct obj *value = va_arg(ap, struct obj *);
        o->ref = va_arg(ap, struct obj *);
        o->n[0] = va_arg(ap, jlong);
        snprintf(o->text, sizeof o->text, "%s", value->text);
    } else if (strcmp(name, "dev/dbtoken/CachedToken") == 0) { /* (Token, long refreshAt) */
        o = new_obj("CachedToken");
        o->ref = va_arg(ap, struct obj *);
        o->n[0] = va_arg(ap, jlong);
    } else if (strcmp(name, "dev/dbtoken/Stats") == 0) { /* (long refreshes, long failures) */
        o = new_obj("Stats");
        o->n[0] = va_arg(ap, jlong);
        o->n[1] = va_arg(ap, jlong);
    } else if (strcmp(name, "dev/dbtoken/DbTokenException") == 0) { /* (int status, String message, ...) */
        o = new_obj("DbTokenException");
        o->n[0] = va_arg(ap, jint);
        struct obj *msg = va_arg(ap, struct obj *);
        snprintf(o->text, sizeof o->text, "%s", msg != NULL ? msg->text : "");
    } else {
        fprintf(stderr, "musl_load: NewObject of an unexpected class %s\n", name);
        exit(1);
    }
    va_end(ap);
    return (jobject)o;
}
static jint JNICALL throw_(JNIEnv *env, jthrowable t) {
    (void)env;
    thrown = (struct obj *)t;
    return 0;
}

static struct JNINativeInterface_ jni;
static JNIEnv jenv = &jni;

static jint JNICALL get_env(JavaVM *vm, void **out, jint version) {
    (void)vm;
    (void)version;
    *out = &jenv;
    return JNI_OK;
}

static int jni_lib(void) {
    jni.FindClass = find_class;
    jni.NewGlobalRef = new_global_ref;
    jni.DeleteLocalRef = delete_local_ref;
    jni.GetMethodID = get_method_id;
    jni.NewStringUTF = new_string_utf;
    jni.NewObject = new_object;
    jni.Throw = throw_;
    struct JNIInvokeInterface_ invoke;
    memset(&invoke, 0, sizeof invoke);
    invoke.GetEnv = get_env;
    JavaVM vm = &invoke;

    jint (*on_load)(JavaVM *, void *);
    jstring (*native_version)(JNIEnv *, jclass);
    jlong (*native_new)(JNIEnv *, jclass, jobjectArray, jobjectArray);
    jobject (*native_token)(JNIEnv *, jclass, jlong);
    jobject (*native_stats)(JNIEnv *, jclass, jlong);
    void (*native_free)(JNIEnv *, jclass, jlong);
    LOAD(on_load, "JNI_OnLoad");
    LOAD(native_version, "Java_dev_dbtoken_DbToken_nativeVersion");
    LOAD(native_new, "Java_dev_dbtoken_DbToken_nativeNew");
    LOAD(native_token, "Java_dev_dbtoken_DbToken_nativeToken");
    LOAD(native_stats, "Java_dev_dbtoken_DbToken_nativeStats");
    LOAD(native_free, "Java_dev_dbtoken_DbToken_nativeFree");

    jint v = on_load(&vm, NULL);
    if (v != JNI_VERSION_1_8) {
        fprintf(stderr, "musl_load: JNI_OnLoad returned %d\n", (int)v);
        return 1;
    }
    jclass cls = find_class(&jenv, "dev/dbtoken/DbToken");
    const char *version = ((struct obj *)native_version(&jenv, cls))->text;
    jlong client = native_new(&jenv, cls, NULL, NULL); /* NULL keys: the environment's configuration */
    if (client == 0 || thrown != NULL) {
        fprintf(stderr, "musl_load: nativeNew threw: %s\n", thrown != NULL ? thrown->text : "(nothing)");
        return 1;
    }
    struct obj *cached = (struct obj *)native_token(&jenv, cls, client);
    if (cached == NULL || thrown != NULL) {
        fprintf(stderr, "musl_load: nativeToken threw: %s\n", thrown != NULL ? thrown->text : "(nothing)");
        return 1;
    }
    struct obj *token = cached->ref;
    struct obj *stats = (struct obj *)native_stats(&jenv, cls, client);
    native_free(&jenv, cls, client);
    fprintf(stderr, "libdbtoken_jni (dbtoken %s): JNI_OnLoad -> JNI 1.8; nativeToken: %s token of %zu bytes, "
                    "expires %lld, refresh at %lld; nativeStats: %lld refresh(es)\n",
            version, token->ref->text, strlen(token->text), token->n[0], cached->n[0], stats->n[0]);
    if (token->n[0] <= 0 || cached->n[0] <= 0 || stats->n[0] != 1) {
        fprintf(stderr, "musl_load: unexpected expiry, refresh time or refresh count\n");
        return 1;
    }
    printf("%s\n", token->text);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "lib") != 0 && strcmp(argv[1], "jni") != 0)) {
        fprintf(stderr, "usage: musl_load lib|jni PATH\n");
        return 2;
    }
    on_musl();
    handle = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "musl_load: dlopen %s: %s\n", argv[2], dlerror());
        return 1;
    }
    return strcmp(argv[1], "lib") == 0 ? lib() : jni_lib();
}
