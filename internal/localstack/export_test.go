package localstack

// RedisExited reports whether r's redis-server process has exited, for tests.
func RedisExited(r *Redis) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc.Exited()
}
