package storage

import (
	"net/http"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// credentialsFor returns the credentials of cfg: its static keys when it has them, else
// (with cfg.ProfileOnly) the shared files' profile cfg.Profile alone, else minio-go's
// credential chain, tried in this order:
//
//  1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN;
//  2. the shared files (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, AWS_CONFIG_FILE or
//     ~/.aws/config), profile cfg.Profile, else AWS_PROFILE, else "default";
//  3. IAM: a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, as EKS IRSA
//     sets them) exchanged at STS (cfg.STSEndpoint, else the region's); ECS or EKS Pod
//     Identity container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI);
//     else the EC2 instance metadata service.
//
// Temporary credentials are fetched again once 80% of their lifetime has passed, so a long
// migration never signs with expired ones. httpClient carries the requests to STS, the
// container endpoint and instance metadata.
func credentialsFor(cfg Config, httpClient *http.Client) *credentials.Credentials {
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		return credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	}
	if cfg.ProfileOnly {
		return credentials.New(&credentials.FileAWSCredentials{Profile: cfg.Profile})
	}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{Profile: cfg.Profile},
		&credentials.IAM{Client: httpClient, Endpoint: cfg.STSEndpoint, Region: cfg.Region},
	})
}

// credentialsClient is the HTTP client for credential requests: short timeouts, so a host
// without instance metadata (169.254.169.254 unreachable) fails fast instead of hanging.
func credentialsClient(tr http.RoundTripper) *http.Client {
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
