package liveness_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/liveness"
	"github.com/partflow/partflow/internal/testenv"
)

const (
	taskType = "test:slow"
	queue    = "default"
)

// node is one simulated worker process: an asynq server running handler, and a Tracker.
type node struct {
	srv     *asynq.Server
	tracker *liveness.Tracker
	stop    context.CancelFunc // stops the tracker (its heartbeat and scans)
	done    chan struct{}
}

func startNode(t *testing.T, rdb *redis.Client, name string, handler asynq.HandlerFunc, rescued *atomic.Int64) *node {
	t.Helper()
	tr, err := liveness.New(liveness.Config{
		Redis: rdb, Queue: asynq.NewClientFromRedisClient(rdb), Active: asynq.NewInspectorFromRedisClient(rdb),
		Queues: []string{queue}, Types: []string{taskType}, Instance: name + fmt.Sprint(time.Now().UnixNano()),
		Logger:   slog.New(slog.DiscardHandler),
		Interval: 100 * time.Millisecond, TTL: 500 * time.Millisecond, ScanInterval: 200 * time.Millisecond,
		OnRescue: func(string) { rescued.Add(1) },
	})
	require.NoError(t, err)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 1, Queues: map[string]int{queue: 1},
		TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: time.Second, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.Use(tr.Middleware)
	mux.Handle(taskType, handler)
	require.NoError(t, srv.Start(mux))
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	n := &node{srv: srv, tracker: tr, stop: cancel, done: make(chan struct{})}
	go func() { defer close(n.done); tr.Run(ctx) }()
	t.Cleanup(func() { n.stop(); <-n.done; srv.Shutdown() })
	return n
}

// TestOrphanOfDeadWorkerIsRescuedBeforeAsynqRecoversIt: a worker that stops heartbeating while
// its task is active (as a SIGKILLed pod does) has that task run again on another worker
// within a few scan intervals, while asynq still holds the original as active (its own
// recovery takes 60–120 s); the rescue happens once.
func TestOrphanOfDeadWorkerIsRescuedBeforeAsynqRecoversIt(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisClient(t, testenv.Redis(t))
	var rescued atomic.Int64

	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	startedOnA := make(chan string, 1)
	a := startNode(t, rdb, "a", func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		startedOnA <- id
		select { // the "dead" worker never finishes on its own
		case <-release:
		case <-ctx.Done():
		}
		return ctx.Err()
	}, &rescued)

	// A holds the task; only then does B join (so the task cannot start on B).
	_, err := asynq.NewClientFromRedisClient(rdb).EnqueueContext(t.Context(),
		asynq.NewTask(taskType, []byte("payload-1")), asynq.TaskID("u1:part:1"), asynq.Queue(queue), asynq.MaxRetry(5))
	require.NoError(t, err)
	select {
	case id := <-startedOnA:
		require.Equal(t, "u1:part:1", id)
	case <-time.After(30 * time.Second):
		t.Fatal("waited 30s for worker A to start the task")
	}

	ranOnB := make(chan string, 4)
	startNode(t, rdb, "b", func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		ranOnB <- id + " " + string(task.Payload())
		return nil
	}, &rescued)

	// Let A's heartbeat run a while: a live worker's long task is never rescued.
	time.Sleep(time.Second)
	require.Zero(t, rescued.Load(), "a task of a live worker was rescued")

	// A "dies": its heartbeat stops; its asynq server still holds the task as active.
	a.stop()
	<-a.done

	var got string
	select {
	case got = <-ranOnB:
	case <-time.After(30 * time.Second):
		t.Fatal("waited 30s for the orphaned task to run again on worker B")
	}
	require.Regexp(t, `^u1:part:1`+liveness.RescueSuffix+`\S+ payload-1$`, got)

	active, err := asynq.NewInspectorFromRedisClient(rdb).ListActiveTasks(queue)
	require.NoError(t, err)
	ids := make([]string, len(active))
	for i, a := range active {
		ids[i] = a.ID
	}
	require.True(t, slices.Contains(ids, "u1:part:1"),
		"the original should still be active in asynq (rescued before asynq's recovery); active: %v", ids)

	// More scans: the orphan is rescued once only.
	time.Sleep(time.Second)
	require.EqualValues(t, 1, rescued.Load(), "rescues")
	select {
	case extra := <-ranOnB:
		t.Fatalf("the orphan ran again: %s", extra)
	default:
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := liveness.New(liveness.Config{})
	require.ErrorContains(t, err, "required")
}
