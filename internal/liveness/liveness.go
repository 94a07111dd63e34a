// Package liveness reruns, within seconds, the tasks of a worker that died.
//
// asynq finds the task of a killed worker only after the task's lease has expired (30 s after
// the worker's last heartbeat), and its recoverer looks for such tasks once a minute and only
// at leases expired for another 30 s: a part held by a SIGKILLed pod sits for 60–120 s. This
// package closes that gap without touching asynq's own bookkeeping.
//
// # Implementation
//
// Every worker process runs a Tracker. Its Middleware keeps the IDs of the tasks the process
// is running in memory, and its heartbeat writes them to Redis every Interval under a key that
// expires after TTL (four intervals by default, so a process stalled for a few seconds is not
// taken for dead); whether a worker lives is that key's existence, so the workers' clocks
// never matter. Once per ScanInterval one worker of the fleet (whoever takes a short lock)
// compares asynq's active tasks in every queue with the union of the live heartbeats: a task
// that is active but that no live worker runs is a suspect; a suspect still orphaned on a
// scan at least a TTL later by Redis's clock (a task that started just after a heartbeat was
// written shows up in the next one, unless its worker stalls for a TTL) is rescued: a copy with the same type,
// payload, headers, queue, retry budget and timeout is enqueued under a new task ID, once (a
// marker per orphaned task ID, set with NX). The death counts as one attempt: the copy gets
// the retries the orphan had left, less one, and an orphan with none left is not rescued
// (asynq archives it when it recovers it). The orphan itself is left to asynq, which retries
// it after its lease expires; by then the work is usually done and the handler finds nothing
// left to do.
//
// # Considerations
//
// A rescue can run a task twice at once, for example when a worker is cut off from Redis but
// still uploading. partflow's handlers are idempotent under at-least-once delivery anyway (a
// part is recorded once, fenced by its S3 upload ID; the finalizer is a version CAS), so a
// duplicate costs bandwidth, never correctness. Workers of a version without this package do
// not heartbeat: during a rolling upgrade from one, their tasks may be rescued (run twice,
// harmlessly).
//
// Keys (one hash tag, so the heartbeat and scan commands stay in one Redis Cluster slot; each
// expires on its own):
//
//	partflow:{liveness}:workers            set: the instances that heartbeat (pruned by scans)
//	partflow:{liveness}:worker:<instance>  string: JSON list of the task IDs it runs (TTL)
//	partflow:{liveness}:scan               string: the scan lock (one ScanInterval)
//	partflow:{liveness}:suspects           hash: task ID -> first seen orphaned (unix ms)
//	partflow:{liveness}:rescued:<task ID>  string: set once the task was rescued
package liveness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const (
	keyTag      = "partflow:{liveness}:"
	workersKey  = keyTag + "workers"
	scanKey     = keyTag + "scan"
	suspectsKey = keyTag + "suspects"
)

func workerKey(instance string) string { return keyTag + "worker:" + instance }
func rescuedKey(taskID string) string  { return keyTag + "rescued:" + taskID }

// RescueSuffix separates an orphaned task's ID from the suffix of its rescued copy.
const RescueSuffix = ":rescue:"

// Enqueuer enqueues tasks; *asynq.Client is one.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// ActiveLister lists a queue's active tasks; *asynq.Inspector is one.
type ActiveLister interface {
	ListActiveTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
}

var (
	_ Enqueuer     = (*asynq.Client)(nil)
	_ ActiveLister = (*asynq.Inspector)(nil)
)

// Config configures a Tracker.
type Config struct {
	Redis    redis.UniversalClient
	Queue    Enqueuer
	Active   ActiveLister
	Queues   []string // the queues to scan
	Types    []string // the task types that may be rescued (others are left to asynq)
	Instance string   // unique per process, e.g. host:pid:random
	Logger   *slog.Logger

	// Interval between heartbeats; default 1s. TTL is how long a heartbeat counts; default
	// four intervals. ScanInterval is how often the fleet looks for orphans; default 2s. A
	// dead worker's tasks run again between TTL and 2 × (TTL + ScanInterval) after its last
	// heartbeat (4 to 12 s with the defaults).
	Interval, TTL, ScanInterval time.Duration

	// Passive heartbeats without ever scanning: this process's tasks are rescued when it
	// dies, but it rescues none (the others do).
	Passive bool

	// OnRescue, if set, is called for every task rescued (metrics).
	OnRescue func(taskType string)
}

func (c *Config) validate() error {
	switch {
	case c.Redis == nil || c.Queue == nil || c.Active == nil:
		return errors.New("liveness: Config.Redis, Config.Queue and Config.Active are required")
	case c.Instance == "":
		return errors.New("liveness: Config.Instance is required")
	case len(c.Queues) == 0 || len(c.Types) == 0:
		return errors.New("liveness: Config.Queues and Config.Types must not be empty")
	case c.Interval < 0 || c.TTL < 0 || c.ScanInterval < 0:
		return errors.New("liveness: intervals must not be negative")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.TTL == 0 {
		c.TTL = 4 * c.Interval
	}
	if c.TTL < 2*c.Interval {
		return fmt.Errorf("liveness: TTL %v must be at least two intervals (%v)", c.TTL, 2*c.Interval)
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = 2 * time.Second
	}
	return nil
}

// Tracker heartbeats the tasks its process runs and rescues those of dead processes.
type Tracker struct {
	cfg   Config
	types map[string]bool

	mu      sync.Mutex
	running map[string]int // task ID -> handlers running it in this process
}

// New returns a Tracker; wrap the handler with Middleware and start Run.
func New(cfg Config) (*Tracker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	types := make(map[string]bool, len(cfg.Types))
	for _, t := range cfg.Types {
		types[t] = true
	}
	return &Tracker{cfg: cfg, types: types, running: map[string]int{}}, nil
}

// Middleware records the tasks h runs, for the heartbeat.
func (t *Tracker) Middleware(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, ok := asynq.GetTaskID(ctx)
		if !ok {
			return h.ProcessTask(ctx, task)
		}
		t.mu.Lock()
		t.running[id]++
		t.mu.Unlock()
		defer func() {
			t.mu.Lock()
			if t.running[id]--; t.running[id] <= 0 {
				delete(t.running, id)
			}
			t.mu.Unlock()
		}()
		return h.ProcessTask(ctx, task)
	})
}

// Run heartbeats every Interval and, unless Passive, scans every ScanInterval until ctx ends;
// then it removes this process's heartbeat (its tasks have been handed back to asynq by then,
// or are about to be). The heartbeat has its own goroutine, so a slow scan never delays it.
func (t *Tracker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		beat := time.NewTicker(t.cfg.Interval)
		defer beat.Stop()
		for {
			t.heartbeat(ctx)
			select {
			case <-ctx.Done():
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				t.cfg.Redis.SRem(cctx, workersKey, t.cfg.Instance)
				t.cfg.Redis.Del(cctx, workerKey(t.cfg.Instance))
				return
			case <-beat.C:
			}
		}
	})
	if t.cfg.Passive {
		return
	}
	scan := time.NewTicker(t.cfg.ScanInterval)
	defer scan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-scan.C:
			if n, err := t.scan(ctx); err != nil && ctx.Err() == nil {
				t.cfg.Logger.Warn("LivenessScanFailed", "error", err)
			} else if n > 0 {
				t.cfg.Logger.Info("TasksRescued", "tasks", n)
			}
		}
	}
}

// heartbeat writes the IDs of the running tasks under this process's key.
func (t *Tracker) heartbeat(ctx context.Context) {
	t.mu.Lock()
	ids := make([]string, 0, len(t.running))
	for id := range t.running {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	b, _ := json.Marshal(ids) // a []string cannot fail
	_, err := t.cfg.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, workerKey(t.cfg.Instance), b, t.cfg.TTL)
		p.SAdd(ctx, workersKey, t.cfg.Instance)
		p.PExpire(ctx, workersKey, 10*t.cfg.TTL)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		t.cfg.Logger.Warn("LivenessHeartbeatFailed", "error", err)
	}
}

// scan looks for orphaned tasks once, if no other worker did within the scan interval, and
// returns how many it rescued.
func (t *Tracker) scan(ctx context.Context) (int, error) {
	ok, err := t.cfg.Redis.SetNX(ctx, scanKey, t.cfg.Instance, t.cfg.ScanInterval*9/10).Result()
	if err != nil || !ok {
		return 0, err
	}
	live, err := t.liveTasks(ctx)
	if err != nil {
		return 0, err
	}
	var orphans []*asynq.TaskInfo
	for _, q := range t.cfg.Queues {
		active, err := t.listActive(q)
		if err != nil {
			return 0, err
		}
		for _, ti := range active {
			if t.types[ti.Type] && !live[ti.ID] {
				orphans = append(orphans, ti)
			}
		}
	}
	return t.judge(ctx, orphans)
}

// liveTasks returns the IDs of the tasks every live worker reports running, and forgets the
// instances whose heartbeat expired.
func (t *Tracker) liveTasks(ctx context.Context) (map[string]bool, error) {
	running, dead, err := readHeartbeats(ctx, t.cfg.Redis)
	if err != nil {
		return nil, err
	}
	if len(dead) > 0 {
		t.cfg.Redis.SRem(ctx, workersKey, dead) // best effort: the next scan prunes them too
	}
	live := map[string]bool{}
	for _, ids := range running {
		for _, id := range ids {
			live[id] = true
		}
	}
	return live, nil
}

// Running returns the task IDs each live worker instance ("host:pid:random") reported in its
// last heartbeat.
func Running(ctx context.Context, rdb redis.UniversalClient) (map[string][]string, error) {
	running, _, err := readHeartbeats(ctx, rdb)
	return running, err
}

// readHeartbeats returns what every live instance runs, and the instances listed whose
// heartbeat has expired (dead).
func readHeartbeats(ctx context.Context, rdb redis.UniversalClient) (map[string][]string, []string, error) {
	instances, err := rdb.SMembers(ctx, workersKey).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("liveness: list workers: %w", err)
	}
	running := make(map[string][]string, len(instances))
	if len(instances) == 0 {
		return running, nil, nil
	}
	keys := make([]string, len(instances))
	for i, in := range instances {
		keys[i] = workerKey(in)
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("liveness: read heartbeats: %w", err)
	}
	var dead []string
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			dead = append(dead, instances[i]) // its heartbeat expired
			continue
		}
		var ids []string
		if json.Unmarshal([]byte(s), &ids) == nil {
			running[instances[i]] = ids
		}
	}
	return running, dead, nil
}

func (t *Tracker) listActive(queue string) ([]*asynq.TaskInfo, error) {
	const page = 500
	var all []*asynq.TaskInfo
	for p := 1; ; p++ {
		ts, err := t.cfg.Active.ListActiveTasks(queue, asynq.PageSize(page), asynq.Page(p))
		if err != nil {
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return all, nil // a queue nobody has used yet
			}
			return nil, fmt.Errorf("liveness: list active tasks of %s: %w", queue, err)
		}
		all = append(all, ts...)
		if len(ts) < page {
			return all, nil
		}
	}
}

// judge records first sightings of orphans, forgets suspects that are no longer orphaned and
// rescues those seen orphaned for at least a TTL, by Redis's clock (scans run on different
// workers, whose clocks may differ).
func (t *Tracker) judge(ctx context.Context, orphans []*asynq.TaskInfo) (int, error) {
	seen, err := t.cfg.Redis.HGetAll(ctx, suspectsKey).Result()
	if err != nil {
		return 0, fmt.Errorf("liveness: read suspects: %w", err)
	}
	clock, err := t.cfg.Redis.Time(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("liveness: read Redis's clock: %w", err)
	}
	now := clock.UnixMilli()
	var fresh []any
	rescued := 0
	current := make(map[string]bool, len(orphans))
	for _, ti := range orphans {
		current[ti.ID] = true
		first, ok := seen[ti.ID]
		if !ok {
			fresh = append(fresh, ti.ID, now)
			continue
		}
		if since, _ := strconv.ParseInt(first, 10, 64); now-since < t.cfg.TTL.Milliseconds() {
			continue
		}
		ok, err := t.rescue(ctx, ti)
		if err != nil {
			t.cfg.Logger.Warn("RescueFailed", "task_id", ti.ID, "error", err) // the next scan tries again
			continue
		}
		if ok {
			rescued++
		}
	}
	var gone []string
	for id := range seen {
		if !current[id] {
			gone = append(gone, id)
		}
	}
	_, err = t.cfg.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(fresh) > 0 {
			p.HSet(ctx, suspectsKey, fresh...)
		}
		if len(gone) > 0 {
			p.HDel(ctx, suspectsKey, gone...)
		}
		p.PExpire(ctx, suspectsKey, 10*t.cfg.TTL+10*t.cfg.ScanInterval)
		return nil
	})
	if err != nil {
		return rescued, fmt.Errorf("liveness: write suspects: %w", err)
	}
	return rescued, nil
}

// rescue enqueues a copy of an orphaned task, once per orphan.
func (t *Tracker) rescue(ctx context.Context, ti *asynq.TaskInfo) (bool, error) {
	// The marker outlives the orphan: asynq recovers it within two minutes of its lease.
	// The death counts as an attempt, as asynq counts it when it recovers the task: a task
	// that keeps killing its workers runs out of attempts (the copy's budget is what is
	// left), and then it is left to asynq, which archives it.
	left := ti.MaxRetry - ti.Retried - 1
	if left < 0 {
		t.cfg.Logger.Warn("TaskNotRescued", "task_id", ti.ID, "type", ti.Type, "reason", "no retries left")
		return false, nil
	}
	won, err := t.cfg.Redis.SetNX(ctx, rescuedKey(ti.ID), t.cfg.Instance, max(ti.Timeout, 10*time.Minute)).Result()
	if err != nil || !won {
		return false, err
	}
	base, _, _ := strings.Cut(ti.ID, RescueSuffix)
	id := base + RescueSuffix + strconv.FormatInt(time.Now().UnixMilli(), 36)
	opts := []asynq.Option{asynq.TaskID(id), asynq.Queue(ti.Queue), asynq.MaxRetry(left)}
	if ti.Timeout > 0 {
		opts = append(opts, asynq.Timeout(ti.Timeout))
	}
	task := asynq.NewTaskWithHeaders(ti.Type, ti.Payload, maps.Clone(ti.Headers))
	if _, err := t.cfg.Queue.EnqueueContext(ctx, task, opts...); err != nil {
		t.cfg.Redis.Del(context.WithoutCancel(ctx), rescuedKey(ti.ID)) // let the next scan try again
		return false, fmt.Errorf("liveness: rescue %s: %w", ti.ID, err)
	}
	t.cfg.Logger.Warn("TaskRescued", "task_id", ti.ID, "type", ti.Type, "queue", ti.Queue, "copy", id)
	if t.cfg.OnRescue != nil {
		t.cfg.OnRescue(ti.Type)
	}
	return true, nil
}
