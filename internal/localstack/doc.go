// Package localstack starts and stops the real servers partflow needs on a
// developer machine: redis-server and the versitygw S3 gateway; and, for the
// `make demo` and `make bench` programs, partflow's own processes: workers
// (StartWorkers) and any other child that logs to a file (StartProcess).
//
// It is used by tests (through internal/testenv) and by those programs, so it
// does not import "testing".
//
// # Implementation
//
// Every server runs as a child process listening on a loopback port. With
// port 0 a free port is picked and the start is retried a few times when
// another process wins the race for that port. A server counts as ready when
// it answers its protocol on the port and the listening socket belongs to the
// child itself (so a foreign server that grabbed the port is never mistaken
// for ours).
//
// # Considerations
//
// On Linux children get SIGKILL when the parent dies (Pdeathsig), so a
// crashed test binary leaves no servers behind. Each child runs in its own
// process group; Stop and Kill signal the whole group.
package localstack
