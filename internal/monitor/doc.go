// Package monitor is partflow's web monitor: one http.Handler that serves partflow's own
// migration and upload view at /, its JSON API under /api/, live progress as Server-Sent
// Events at /events, and the asynqmon dashboard at /monitoring/ — all behind one token.
//
// # Configuration
//
// A Config names the Redis deployment (as an asynq.RedisConnOpt, because asynqmon opens its
// own connections from it), the token, and the switches ReadOnly and NoAuth. Actions (resume
// and cancel of uploads and migrations) come from the caller; with none the buttons are
// hidden. Running an archived or retrying task again uses asynq's Inspector and needs nothing
// more.
//
// # Implementation
//
// Every request except /healthz and /readyz goes through, in order:
//
//  1. authentication: "Authorization: Bearer TOKEN" or HTTP basic auth with TOKEN as the
//     password (any user name), compared in constant time; otherwise 401 with a
//     WWW-Authenticate challenge for both schemes, so a browser asks for it;
//  2. read-only mode: any method but GET and HEAD is answered 405, asynqmon's API included
//     (asynqmon runs with its own ReadOnly option too, which hides its buttons);
//  3. cross-origin protection (net/http's CrossOriginProtection): a state-changing request a
//     browser sends from another site (Sec-Fetch-Site or Origin) is refused with 403, so a
//     browser that remembers the basic-auth password cannot be made to act by another page.
//
// Pages are html/template files embedded with go:embed; a little vanilla JavaScript listens to
// /events and refreshes the numbers on the page from the JSON API, and polls the API instead
// when the event stream is unavailable. One Redis Pub/Sub subscription (state.EventsChannel)
// feeds every open event stream; each stream coalesces events and sends at most two batches
// per second.
//
// # Considerations
//
// Every list is a page: the API caps limit at MaxPageSize, an upload's parts are read by
// number range, and a migration of 10,000 uploads costs the same per page as one of ten.
// Task states shown on an upload's page come from asynq (one lookup per task shown). asynqmon
// loads its web fonts from Google; without internet access it falls back to local fonts.
// Serve the monitor over TLS (a reverse proxy) anywhere but loopback: basic auth and bearer
// tokens are sent in the clear otherwise.
package monitor
