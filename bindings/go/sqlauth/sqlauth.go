// Package sqlauth plugs a dbtoken.Client into databricks-sql-go: every request of the
// connector carries the dbtoken client's token (served from Go memory while fresh).
//
//	c, err := dbtoken.FromEnv()
//	connector, err := dbsql.NewConnector(
//		dbsql.WithServerHostname(host),
//		dbsql.WithHTTPPath("/sql/1.0/warehouses/abc"),
//		dbsql.WithAuthenticator(sqlauth.Authenticator(c)),
//	)
//	db := sql.OpenDB(connector)
//
// A module of its own, so that users of the dbtoken package who do not use databricks-sql-go
// never download it. The dbtoken client must be configured for the warehouse's workspace.
package sqlauth

import (
	"errors"
	"net/http"

	"github.com/databricks/databricks-sql-go/auth"
	dbtoken "github.com/dbtoken/dbtoken/bindings/go"
)

// Authenticator returns the databricks-sql-go authenticator for client; pass it to
// dbsql.WithAuthenticator. The connector does not take ownership: close client when done.
func Authenticator(client *dbtoken.Client) auth.Authenticator {
	return authenticator{client}
}

type authenticator struct{ client *dbtoken.Client }

func (a authenticator) Authenticate(r *http.Request) error {
	if a.client == nil {
		return errors.New("sqlauth.Authenticator: the *dbtoken.Client is nil")
	}
	tok, err := a.client.Token()
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", tok.Type+" "+tok.AccessToken)
	return nil
}
