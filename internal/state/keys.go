package state

// All Redis key names partflow uses are built in this file.
//
// Every key of one migration (a single put is a migration of one upload) carries the
// migration ID as its hash tag, so each Lua script touches one Redis Cluster slot and an
// upload's transition and its migration's counters change atomically:
//
//	partflow:{<mid>}:migration              hash: migration record and counters
//	partflow:{<mid>}:uploads                zset: upload IDs of the migration, by creation time
//	partflow:{<mid>}:failed                 zset: upload IDs of its failed uploads, by failure time
//	partflow:{<mid>}:live                   zset: upload IDs of its live uploads, by last change
//	partflow:{<mid>}:upload:<uid>           hash: upload record
//	partflow:{<mid>}:upload:<uid>:parts     hash: part number -> ETag
//
// Two keys are global and therefore only ever written outside the scripts:
//
//	partflow:migrations                     zset: migration IDs by last change (for list and the janitor)
//	partflow:events                         Pub/Sub channel of progress events (JSON)

const (
	keyPrefix = "partflow:"

	// MigrationsIndexKey is the sorted set of migration IDs scored by their last change (unix ms).
	MigrationsIndexKey = keyPrefix + "migrations"

	// EventsChannel is the Pub/Sub channel where every upload transition and recorded part is published.
	EventsChannel = keyPrefix + "events"
)

func tag(migrationID string) string { return keyPrefix + "{" + migrationID + "}:" }

func migrationKey(migrationID string) string { return tag(migrationID) + "migration" }

func migrationUploadsKey(migrationID string) string { return tag(migrationID) + "uploads" }

func migrationFailedKey(migrationID string) string { return tag(migrationID) + "failed" }

func migrationLiveKey(migrationID string) string { return tag(migrationID) + "live" }

// uploadKeys returns the keys every upload script takes, in the order the scripts expect:
// KEYS[1] upload hash, KEYS[2] parts hash, KEYS[3] migration hash.
func uploadKeys(id UploadID) []string {
	base := tag(id.Migration) + "upload:" + id.String()
	return []string{base, base + ":parts", migrationKey(id.Migration)}
}
