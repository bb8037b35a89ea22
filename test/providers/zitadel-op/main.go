// A second, independent OpenID Provider for the provider tests: the OP of
// github.com/zitadel/oidc (an OpenID-certified Go implementation) with its
// example in-memory storage and login page, on loopback. Its one change to the
// example: the client's access tokens are JWTs (the example's web client issues
// opaque ones, which Envoy's jwt_authn cannot check) and its post-logout
// redirect URIs come from the environment.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

type jwtClient struct {
	op.Client
	postLogout []string
}

func (c jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c jwtClient) PostLogoutRedirectURIs() []string   { return c.postLogout }

type jwtStorage struct {
	*storage.Storage
	clientID   string
	postLogout []string
}

func (s jwtStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil || id != s.clientID {
		return c, err
	}
	return jwtClient{Client: c, postLogout: s.postLogout}, nil
}

func env(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Fprintf(os.Stderr, "zitadel-op: %s is required\n", name)
		os.Exit(2)
	}
	return v
}

func main() {
	// Listen first on an OS-chosen loopback port so the issuer names the real port.
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "zitadel-op:", err)
		os.Exit(1)
	}
	issuer := fmt.Sprintf("http://%s", ln.Addr().String())
	clientID := env("CLIENT_ID")
	storage.RegisterClients(storage.WebClient(clientID, env("CLIENT_SECRET"), strings.Split(env("REDIRECT_URIS"), ",")...))
	users := storage.NewUserStore(issuer + "/")
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	store := jwtStorage{
		Storage:    storage.NewStorage(users),
		clientID:   clientID,
		postLogout: strings.Split(os.Getenv("POST_LOGOUT_REDIRECT_URIS"), ","),
	}
	router := exampleop.SetupServer(issuer, store, logger, false)
	// The harness reads this line to learn the issuer.
	fmt.Printf("{\"issuer\":%q}\n", issuer)
	if err := http.Serve(ln, router); err != nil {
		logger.Error("server terminated", "error", err)
		os.Exit(1)
	}
}
