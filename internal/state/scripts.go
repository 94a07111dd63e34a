package state

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFiles embed.FS

// Each script is lib.lua followed by the script's own body, loaded once per process.
var (
	createMigrationScript = loadScript("create_migration.lua")
	sealMigrationScript   = loadScript("seal_migration.lua")
	createUploadScript    = loadScript("create_upload.lua")
	transitionScript      = loadScript("transition.lua")
	claimCompleteScript   = loadScript("claim_complete.lua")
	recordPartScript      = loadScript("record_part.lua")
	resetUploadScript     = loadScript("reset_upload.lua")
	feedBatchScript       = loadScript("feed_batch.lua")
	feedClaimScript       = loadScript("feed_claim.lua")
)

func loadScript(name string) *redis.Script {
	lib, err := scriptFiles.ReadFile("scripts/lib.lua")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	body, err := scriptFiles.ReadFile("scripts/" + name)
	if err != nil {
		panic(err)
	}
	return redis.NewScript(string(lib) + "\n" + string(body))
}
