package state

import (
	"embed"
	"maps"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFiles embed.FS

// Each script is lib.lua followed by the script's own body, loaded once per process.
var (
	createMigrationScript = loadScript("create_migration.lua")
	sealMigrationScript   = loadScript("seal_migration.lua")
	createUploadsScript   = loadScript("create_uploads.lua")
	transitionScript      = loadScript("transition.lua")
	claimCompleteScript   = loadScript("claim_complete.lua")
	recordPartScript      = loadScript("record_part.lua")
	resetUploadScript     = loadScript("reset_upload.lua")
	pauseMigrationScript  = loadScript("pause_migration.lua")
	configureMigration    = loadScript("configure_migration.lua")
	countAttemptScript    = loadScript("count_attempt.lua")
	takeBandwidthScript   = redis.NewScript(mustRead("take_bandwidth.lua")) // one key of its own: no lib.lua
	assignBatchScript     = loadScript("assign_batch.lua")
	completeBatchScript   = loadScript("complete_batch.lua")
	feedBatchScript       = loadScript("feed_batch.lua")
	feedClaimScript       = loadScript("feed_claim.lua")
)

// scriptNames maps each script's SHA-1 to its file name without ".lua".
var scriptNames = map[string]string{}

// ScriptNames maps the SHA-1 of each of the package's scripts (what EVALSHA names) to the
// script's name, for tracing spans. The map is a copy.
func ScriptNames() map[string]string { return maps.Clone(scriptNames) }
func mustRead(name string) string {
	b, err := scriptFiles.ReadFile("scripts/" + name)
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return string(b)
}

func loadScript(name string) *redis.Script {
	lib, err := scriptFiles.ReadFile("scripts/lib.lua")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	body, err := scriptFiles.ReadFile("scripts/" + name)
	if err != nil {
		panic(err)
	}
	script := redis.NewScript(string(lib) + "\n" + string(body))
	scriptNames[script.Hash()] = strings.TrimSuffix(name, ".lua")
	return script
}
