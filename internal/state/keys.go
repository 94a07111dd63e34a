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
//	partflow:{<mid>}:bandwidth              hash: the migration's bandwidth token bucket (migrate --bwlimit)
//	partflow:{<mid>}:done                   list: a compact record per completed upload of a fed migration (done.go)
//	partflow:{<mid>}:feed                   list: upload IDs the feeder created and has not enqueued yet
//
// The global keys live in other Cluster slots than a migration's, so the upload scripts never
// write them (they only PUBLISH to the events channel, which is not a key):
//
//	partflow:migrations                     zset: migration IDs by when CreateMigration last ran (for list and the janitor)
//	partflow:events                         Pub/Sub channel of progress events (JSON)
//	partflow:s3uploads                      hash: S3 multipart upload ID -> JSON {upload, bucket, key} (janitor)
//	partflow:lock:<name>                    string: a lock's holder token (the janitor's)
//	partflow:bandwidth                      hash: the fleet's bandwidth token bucket (worker --fleet-bwlimit)

const (
	keyPrefix = "partflow:"

	// MigrationsIndexKey is the sorted set of migration IDs scored by when CreateMigration last ran for them (unix ms).
	MigrationsIndexKey = keyPrefix + "migrations"

	// EventsChannel is the Pub/Sub channel where every upload transition and recorded part is published.
	EventsChannel = keyPrefix + "events"

	// s3UploadsKey maps S3 multipart upload IDs to partflow upload IDs, so the janitor can
	// tell an orphaned multipart upload from one partflow owns.
	s3UploadsKey = keyPrefix + "s3uploads"
)

func lockKey(name string) string { return keyPrefix + "lock:" + name }

// fleetBandwidthKey is the fleet-wide bandwidth bucket; migrationBandwidthKey a migration's.
const fleetBandwidthKey = keyPrefix + "bandwidth"

func migrationBandwidthKey(migrationID string) string { return tag(migrationID) + "bandwidth" }

func tag(migrationID string) string { return keyPrefix + "{" + migrationID + "}:" }

func migrationKey(migrationID string) string { return tag(migrationID) + "migration" }

func migrationUploadsKey(migrationID string) string { return tag(migrationID) + "uploads" }

func migrationFailedKey(migrationID string) string { return tag(migrationID) + "failed" }

func migrationLiveKey(migrationID string) string { return tag(migrationID) + "live" }

func migrationDoneKey(migrationID string) string { return tag(migrationID) + "done" }

func migrationFeedKey(migrationID string) string { return tag(migrationID) + "feed" }

// uploadKeys returns every key the upload scripts may touch, in the order they expect (see
// scripts/lib.lua): KEYS[1] upload hash, KEYS[2] parts hash, KEYS[3] migration hash,
// KEYS[4] its uploads index, KEYS[5] its failed index, KEYS[6] its live index, KEYS[7] its
// list of compact records of completed uploads, KEYS[8] its feeder's list of uploads to enqueue. For a
// migration-only script (create, seal) id.Name is empty and the first two go unused.
func uploadKeys(id UploadID) []string {
	base := tag(id.Migration) + "upload:" + id.String()
	return []string{base, base + ":parts", migrationKey(id.Migration),
		migrationUploadsKey(id.Migration), migrationFailedKey(id.Migration), migrationLiveKey(id.Migration),
		migrationDoneKey(id.Migration), migrationFeedKey(id.Migration)}
}
