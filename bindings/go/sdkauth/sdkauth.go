// Package sdkauth plugs a dbtoken.Client into databricks-sdk-go: every request of a workspace
// or account client carries the dbtoken client's token (served from Go memory while fresh).
//
//	c, err := dbtoken.FromEnv()
//	w, err := databricks.NewWorkspaceClient(&databricks.Config{
//		Host:        host,
//		Credentials: sdkauth.Credentials(c),
//	})
//
// It is a module of its own, so that users of the dbtoken package who do not use the SDK
// never download it. The dbtoken client and the SDK config must name the same workspace (or
// account): the token is for the dbtoken client's host.
package sdkauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/databricks/databricks-sdk-go/config"
	"github.com/databricks/databricks-sdk-go/config/credentials"
	dbtoken "github.com/dbtoken/dbtoken/bindings/go"
	"golang.org/x/oauth2"
)

// Name is the auth type the SDK reports (Config.AuthType) for these credentials.
const Name = "dbtoken"

// Credentials returns the SDK credentials strategy for client; set it as Config.Credentials.
// The SDK does not take ownership: close client when done with the SDK clients.
func Credentials(client *dbtoken.Client) config.CredentialsStrategy {
	return strategy{client}
}

type strategy struct{ client *dbtoken.Client }

func (s strategy) Name() string { return Name }

func (s strategy) Configure(context.Context, *config.Config) (credentials.CredentialsProvider, error) {
	if s.client == nil {
		return nil, errors.New("sdkauth.Credentials: the *dbtoken.Client is nil")
	}
	return provider(s), nil
}

// provider is a credentials.OAuthCredentialsProvider: the SDK may set headers on a request or
// ask for an oauth2.Token (for its data-plane clients).
type provider struct{ client *dbtoken.Client }

var _ credentials.OAuthCredentialsProvider = provider{}

func (p provider) SetHeaders(r *http.Request) error {
	tok, err := p.client.Token()
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", tok.Type+" "+tok.AccessToken)
	return nil
}

func (p provider) Token(context.Context) (*oauth2.Token, error) {
	tok, err := p.client.Token()
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.Type, Expiry: tok.Expiry}, nil
}
