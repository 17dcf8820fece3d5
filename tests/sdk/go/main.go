// sdkcheck: databricks-sdk-go against `dbtoken serve`, configured only from the environment
// (DATABRICKS_AUTH_TYPE=metadata-service, DATABRICKS_HOST, DATABRICKS_METADATA_SERVICE_URL,
// SSL_CERT_FILE). Run by tests/sdk/run.sh. Never prints the token.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/databricks/databricks-sdk-go"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go sdk: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if os.Getenv("DATABRICKS_AUTH_TYPE") != "metadata-service" {
		fail("DATABRICKS_AUTH_TYPE is %q, want metadata-service", os.Getenv("DATABRICKS_AUTH_TYPE"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := databricks.NewWorkspaceClient()
	if err != nil {
		fail("NewWorkspaceClient: %v", err)
	}
	me, err := w.CurrentUser.Me(ctx)
	if err != nil {
		fail("CurrentUser.Me: %v", err)
	}
	if me.UserName != "dbtoken-mock-sp" {
		fail("userName is %q, want dbtoken-mock-sp", me.UserName)
	}
	if w.Config.AuthType != "metadata-service" {
		fail("auth type used is %q, want metadata-service", w.Config.AuthType)
	}
	fmt.Println("go sdk: ok")
}
