package tasks_test

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(finalizeChild()) // this process is a racing finalizer of TestFinalizeRace
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hibiken/asynq/internal/rdb.(*RDB).ListLeaseExpired"))
}

func bytesReader(s string) *strings.Reader { return strings.NewReader(s) }
