package monitor

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// realm names the protection space in the WWW-Authenticate challenges.
const realm = "partflow monitor"

// authenticate lets a request through when it carries the token as a bearer token or as the
// password of basic auth, and answers 401 with a challenge for both schemes otherwise.
func (m *Monitor) authenticate(next http.Handler) http.Handler {
	if m.cfg.NoAuth {
		return next
	}
	want := sha256.Sum256([]byte(m.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := credential(r); ok {
			// Comparing fixed-length digests keeps the token's length out of the timing too.
			got := sha256.Sum256([]byte(tok))
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Add("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="`+realm+`"`)
		writeText(w, http.StatusUnauthorized, "unauthorized: send the monitor token as a bearer token or as the basic-auth password")
	})
}

// credential returns the secret a request carries: a bearer token or a basic-auth password.
func credential(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		tok := strings.TrimSpace(rest)
		return tok, tok != ""
	case strings.EqualFold(scheme, "Basic"):
		_, pw, ok := r.BasicAuth()
		return pw, ok && pw != ""
	}
	return "", false
}

// readOnly refuses every method but GET and HEAD when the monitor is read-only.
func (m *Monitor) readOnly(next http.Handler) http.Handler {
	if !m.cfg.ReadOnly {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeText(w, http.StatusMethodNotAllowed, "the monitor is read-only: "+r.Method+" is not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}
