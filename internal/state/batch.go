package state

import (
	"context"
	"fmt"
)

// batchKeys returns the keys of a batch script over uploads of one migration: the first
// upload's keys in lib.lua's order, then the others' upload hashes.
func batchKeys(ids []UploadID) ([]string, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("state: empty batch")
	}
	keys := uploadKeys(ids[0])
	for _, id := range ids[1:] {
		if id.Migration != ids[0].Migration {
			return nil, fmt.Errorf("state: batch mixes migrations %s and %s", ids[0].Migration, id.Migration)
		}
		keys = append(keys, uploadKeys(id)[0])
	}
	return keys, nil
}

// AssignBatch names taskID (an upload:batch task) on each of the uploads ids, all of one
// migration, that exist and are planned; Upload.Batch reads it back. It returns how many it
// named.
func (s *Store) AssignBatch(ctx context.Context, taskID string, ids []UploadID) (int, error) {
	keys, err := batchKeys(ids)
	if err != nil {
		return 0, err
	}
	n, err := s.run(ctx, assignBatchScript, keys, taskID).Int()
	if err != nil {
		return 0, fmt.Errorf("state: assign batch %s: %w", taskID, err)
	}
	return n, nil
}

// SingleCompletion is one upload of a batch that went as one PutObject: the version its
// record had when the batch read it, its plan and the object's ETag.
type SingleCompletion struct {
	ID      UploadID
	Version int64
	Plan    UploadPlan
	ETag    string
}

// CompleteBatch moves planned uploads of one migration, each read at its Version, to completed
// with their plans and ETags, in one script; the migration's counters change once for the
// batch. Each gets its own Outcome (in order): an upload whose version or state moved on is
// left alone, as CompleteSingle would.
func (s *Store) CompleteBatch(ctx context.Context, done []SingleCompletion) ([]Outcome, error) {
	ids := make([]UploadID, len(done))
	args := make([]any, 0, 5*len(done))
	for i, d := range done {
		ids[i] = d.ID
		args = append(args, d.Version, d.Plan.Size, d.Plan.Fingerprint, d.Plan.PartSize, d.ETag)
	}
	keys, err := batchKeys(ids)
	if err != nil {
		return nil, err
	}
	res, err := s.run(ctx, completeBatchScript, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("state: complete batch of %d: %w", len(done), err)
	}
	if len(res) != len(done) {
		return nil, fmt.Errorf("state: complete batch: %d answers for %d uploads", len(res), len(done))
	}
	out := make([]Outcome, len(res))
	for i, r := range res {
		v, _ := r.([]any)
		if len(v) != 3 {
			return nil, fmt.Errorf("state: complete batch: unexpected answer %v for %s", r, ids[i])
		}
		out[i] = Outcome{Result: Result(asString(v[0])), State: State(asString(v[1])), Version: asInt(v[2])}
	}
	return out, nil
}
