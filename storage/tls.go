package storage

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrTLS: the TLS handshake with the endpoint failed, most often because its certificate is
// not signed by a trusted CA (set Config.CABundle) or names another host.
var ErrTLS = errors.New("TLS handshake failed")

// loadCABundle returns the system's CA pool plus the PEM certificates in file.
func loadCABundle(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("storage: config: CABundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("storage: config: CABundle %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// tlsError wraps err with ErrTLS and a hint when it is a failed TLS handshake, or returns nil.
func tlsError(err error) error {
	var (
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		errDetail string
	)
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify) && errors.As(verify.Err, &unknown):
		errDetail = "the server's certificate is signed by an unknown authority: give its CA with --s3-ca-bundle"
	case errors.As(err, &hostname):
		errDetail = "the server's certificate does not name the endpoint's host"
	case errors.As(err, &invalid):
		errDetail = "the server's certificate is invalid (expired or not yet valid?)"
	case errors.As(err, &verify):
		errDetail = "the server's certificate could not be verified"
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		errDetail = "the server did not answer TLS: is the endpoint http:// rather than https://?"
	case errors.As(err, &alert):
		errDetail = "the server refused the TLS handshake"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrTLS, errDetail, err)
}
