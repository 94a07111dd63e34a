package s3source

import (
	"errors"
	"fmt"

	"github.com/partflow/partflow/storage"
)

// The source store's credentials come from these variables only, never from the
// destination's AWS_* ones (the commands read them; this package only interprets them).
const (
	EnvAccessKey    = "PARTFLOW_SOURCE_AWS_ACCESS_KEY_ID"
	EnvSecretKey    = "PARTFLOW_SOURCE_AWS_SECRET_ACCESS_KEY"
	EnvSessionToken = "PARTFLOW_SOURCE_AWS_SESSION_TOKEN"
	EnvProfile      = "PARTFLOW_SOURCE_AWS_PROFILE"
)

// ErrNoCredentials: none of the source store's credential variables is set.
var ErrNoCredentials = errors.New("no source store credentials: set " + EnvAccessKey + " and " + EnvSecretKey +
	", or " + EnvProfile)

// Credentials sets cfg's credentials from the source store's variables, read with getenv:
// keys (with an optional session token) or a shared-files profile, not both. Errors name the
// variables; ErrNoCredentials when none is set.
func Credentials(getenv func(string) string, cfg *storage.Config) error {
	ak, sk, token, profile := getenv(EnvAccessKey), getenv(EnvSecretKey), getenv(EnvSessionToken), getenv(EnvProfile)
	switch {
	case (ak == "") != (sk == ""):
		return fmt.Errorf("%s and %s go together", EnvAccessKey, EnvSecretKey)
	case ak != "" && profile != "":
		return fmt.Errorf("give %s/%s or %s, not both", EnvAccessKey, EnvSecretKey, EnvProfile)
	case ak != "":
		cfg.AccessKey, cfg.SecretKey, cfg.SessionToken = ak, sk, token
	case token != "":
		return fmt.Errorf("%s needs %s and %s", EnvSessionToken, EnvAccessKey, EnvSecretKey)
	case profile != "":
		cfg.Profile, cfg.ProfileOnly = profile, true
	default:
		return ErrNoCredentials
	}
	return nil
}

// AnyCredentials reports whether any of the source store's credential variables is set.
func AnyCredentials(getenv func(string) string) bool {
	return getenv(EnvAccessKey) != "" || getenv(EnvSecretKey) != "" || getenv(EnvSessionToken) != "" || getenv(EnvProfile) != ""
}
