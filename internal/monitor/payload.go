package monitor

import (
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynqmon"

	"github.com/partflow/partflow/tasks"
)

// FormatPayload is the monitor's asynqmon PayloadFormatter: it shows partflow's task payloads
// as text instead of raw JSON ("part 3 of upload ID", "start upload ID", "finalize upload ID";
// the part number first, as asynqmon's payload column is narrow), and other payloads as
// asynqmon does.
func FormatPayload(taskType string, payload []byte) string {
	switch taskType {
	case tasks.TypePart:
		var p tasks.PartPayload
		if json.Unmarshal(payload, &p) == nil && p.UploadID != "" {
			return fmt.Sprintf("part %d of upload %s", p.Part, p.UploadID)
		}
	case tasks.TypeStart, tasks.TypeFinalize:
		var p tasks.UploadPayload
		if json.Unmarshal(payload, &p) == nil && p.UploadID != "" {
			verb := "start"
			if taskType == tasks.TypeFinalize {
				verb = "finalize"
			}
			return verb + " upload " + p.UploadID
		}
	}
	return asynqmon.DefaultPayloadFormatter.FormatPayload(taskType, payload)
}
