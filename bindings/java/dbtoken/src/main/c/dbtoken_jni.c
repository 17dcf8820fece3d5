/* JNI shim: dev.dbtoken.DbToken's native methods over the dbtoken C ABI (dbtoken.h).
 * Linked with libdbtoken.a into one libdbtoken_jni.so, so a JVM loads a single library
 * (bindings/java/build-native.sh; jni.map keeps only the JNI entry points exported). */
#include <jni.h>
#include <stdlib.h>
#include <string.h>

#include "dbtoken.h"

static jclass token_class, cached_class, exception_class, stats_class;
static jmethodID token_ctor, cached_ctor, exception_ctor, stats_ctor;
static jstring bearer; /* the usual token type, made once */

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) {
        return JNI_ERR;
    }
    jclass t = (*env)->FindClass(env, "dev/dbtoken/Token");
    jclass e = (*env)->FindClass(env, "dev/dbtoken/DbTokenException");
    jclass s = (*env)->FindClass(env, "dev/dbtoken/Stats");
    jclass c = (*env)->FindClass(env, "dev/dbtoken/CachedToken");
    if (t == NULL || e == NULL || s == NULL || c == NULL) {
        return JNI_ERR;
    }
    token_class = (*env)->NewGlobalRef(env, t);
    exception_class = (*env)->NewGlobalRef(env, e);
    stats_class = (*env)->NewGlobalRef(env, s);
    cached_class = (*env)->NewGlobalRef(env, c);
    token_ctor = (*env)->GetMethodID(env, t, "<init>", "(Ljava/lang/String;Ljava/lang/String;J)V");
    exception_ctor = (*env)->GetMethodID(env, e, "<init>",
                                         "(ILjava/lang/String;ILjava/lang/String;Ljava/lang/String;)V");
    stats_ctor = (*env)->GetMethodID(env, s, "<init>", "(JJ)V");
    cached_ctor = (*env)->GetMethodID(env, c, "<init>", "(Ldev/dbtoken/Token;J)V");
    jstring b = (*env)->NewStringUTF(env, "Bearer");
    bearer = b != NULL ? (*env)->NewGlobalRef(env, b) : NULL;
    if (token_ctor == NULL || cached_ctor == NULL || exception_ctor == NULL || stats_ctor == NULL || bearer == NULL) {
        return JNI_ERR;
    }
    return JNI_VERSION_1_8;
}

static jstring utf(JNIEnv *env, const char *s) {
    return s == NULL ? NULL : (*env)->NewStringUTF(env, s);
}

/* Throw a DbTokenException built from (and freeing) err. */
static void throw_error(JNIEnv *env, dbtoken_status st, dbtoken_error *err) {
    const char *msg = err != NULL ? dbtoken_error_message(err) : dbtoken_status_name(st);
    jobject ex = (*env)->NewObject(env, exception_class, exception_ctor, (jint)st, utf(env, msg),
                                   (jint)dbtoken_error_http_status(err),
                                   utf(env, dbtoken_error_server_error(err)),
                                   utf(env, dbtoken_error_server_description(err)));
    dbtoken_error_free(err);
    if (ex != NULL) {
        (*env)->Throw(env, ex);
    }
}

JNIEXPORT jstring JNICALL Java_dev_dbtoken_DbToken_nativeVersion(JNIEnv *env, jclass cls) {
    (void)cls;
    return utf(env, dbtoken_version());
}

JNIEXPORT jlong JNICALL Java_dev_dbtoken_DbToken_nativeNew(JNIEnv *env, jclass cls, jobjectArray keys,
                                                            jobjectArray values) {
    (void)cls;
    dbtoken_config *cfg = NULL;
    dbtoken_error *err = NULL;
    dbtoken_status st = DBTOKEN_STATUS_OK;
    if (keys != NULL) {
        st = dbtoken_config_new(&cfg);
        jsize n = (*env)->GetArrayLength(env, keys);
        for (jsize i = 0; st == DBTOKEN_STATUS_OK && i < n; i++) {
            jstring k = (*env)->GetObjectArrayElement(env, keys, i);
            jstring v = (*env)->GetObjectArrayElement(env, values, i);
            const char *ck = (*env)->GetStringUTFChars(env, k, NULL);
            const char *cv = v != NULL ? (*env)->GetStringUTFChars(env, v, NULL) : NULL;
            if (ck == NULL) {
                dbtoken_config_free(cfg);
                return 0; /* OutOfMemoryError pending */
            }
            st = dbtoken_config_set(cfg, ck, cv, &err);
            (*env)->ReleaseStringUTFChars(env, k, ck);
            if (cv != NULL) {
                (*env)->ReleaseStringUTFChars(env, v, cv);
            }
            (*env)->DeleteLocalRef(env, k);
            (*env)->DeleteLocalRef(env, v);
        }
    }
    dbtoken_client *client = NULL;
    if (st == DBTOKEN_STATUS_OK) {
        st = dbtoken_client_new(cfg, &client, &err);
    }
    dbtoken_config_free(cfg);
    if (st != DBTOKEN_STATUS_OK) {
        throw_error(env, st, err);
        return 0;
    }
    return (jlong)(intptr_t)client;
}

JNIEXPORT jobject JNICALL Java_dev_dbtoken_DbToken_nativeToken(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    const dbtoken_client *client = (const dbtoken_client *)(intptr_t)handle;
    char stack[4096];
    char *buf = stack;
    size_t len = 0;
    dbtoken_token_info info;
    dbtoken_error *err = NULL;
    dbtoken_status st = dbtoken_client_token(client, buf, sizeof stack, &len, &info, &err);
    if (st == DBTOKEN_STATUS_BUFFER_TOO_SMALL) {
        buf = malloc(len + 1);
        if (buf == NULL) {
            throw_error(env, DBTOKEN_STATUS_IO, NULL);
            return NULL;
        }
        st = dbtoken_client_token(client, buf, len + 1, &len, &info, &err);
    }
    jobject cached = NULL;
    if (st == DBTOKEN_STATUS_OK) {
        /* Access tokens are ASCII, so modified UTF-8 is the same bytes. */
        jstring type = strcmp(info.token_type, "Bearer") == 0 ? bearer : utf(env, info.token_type);
        jstring value = utf(env, buf);
        memset(buf, 0, len);
        jobject token = value == NULL ? NULL
                                      : (*env)->NewObject(env, token_class, token_ctor, value, type,
                                                          (jlong)info.expires_on);
        /* The token with the library's refresh-ahead time: Java serves it from memory until then. */
        if (token != NULL) {
            cached = (*env)->NewObject(env, cached_class, cached_ctor, token, (jlong)info.refresh_at);
        }
    } else {
        throw_error(env, st, err);
    }
    if (buf != stack) {
        free(buf);
    }
    return cached;
}

JNIEXPORT jobject JNICALL Java_dev_dbtoken_DbToken_nativeStats(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    dbtoken_stats s;
    if (dbtoken_client_stats((const dbtoken_client *)(intptr_t)handle, &s) != DBTOKEN_STATUS_OK) {
        s.refreshes = 0;
        s.failures = 0;
    }
    return (*env)->NewObject(env, stats_class, stats_ctor, (jlong)s.refreshes, (jlong)s.failures);
}

JNIEXPORT void JNICALL Java_dev_dbtoken_DbToken_nativeFree(JNIEnv *env, jclass cls, jlong handle) {
    (void)env;
    (void)cls;
    dbtoken_client_free((dbtoken_client *)(intptr_t)handle);
}
