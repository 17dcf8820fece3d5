/* Print the expiry and type of a Databricks token obtained with the environment's
 * configuration (DATABRICKS_HOST, DATABRICKS_OIDC_TOKEN_FILEPATH, ...), never the token.
 * Exit status: 0 ok, else the dbtoken_status number. */
#include <stdio.h>
#include <time.h>

#include "dbtoken.h"

int main(void) {
    dbtoken_client *client = NULL;
    dbtoken_error *err = NULL;
    dbtoken_status st = dbtoken_client_new(NULL, &client, &err);
    if (st == DBTOKEN_STATUS_OK) {
        char token[8192];
        size_t len = 0;
        dbtoken_token_info info;
        st = dbtoken_client_token(client, token, sizeof token, &len, &info, &err);
        if (st == DBTOKEN_STATUS_OK) {
            time_t expires = (time_t)info.expires_on;
            char when[64] = "unknown";
            if (info.expires_on > 0) {
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&expires));
            }
            printf("dbtoken %s: %s token of %zu bytes, expires %s\n", dbtoken_version(),
                   info.token_type, len, when);
        }
    }
    if (st != DBTOKEN_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", dbtoken_status_name(st), dbtoken_error_message(err));
    }
    dbtoken_error_free(err);
    dbtoken_client_free(client);
    return (int)st;
}
