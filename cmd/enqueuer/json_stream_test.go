package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONStreamWritesOneDocument(t *testing.T) {
	var b strings.Builder
	js := newJSONStream(&b)
	js.begin("", '{')
	js.begin("empty", '[')
	js.end()
	js.begin("invalid", '[')
	js.value("", map[string]string{"where": "line 1", "error": "bad"})
	js.value("", map[string]string{"where": "line 2", "error": "worse"})
	js.end()
	js.value("id", "m-1")
	js.beginWith("report", struct {
		Total int `json:"total"`
	}{3})
	js.begin("failures", '[')
	for i := range 3 {
		js.value("", map[string]int{"n": i})
	}
	js.end()
	js.beginWith("nested", struct{}{})
	js.end()
	js.closeAll()
	require.NoError(t, js.err)

	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &got), b.String())
	want := `{"empty":[],"invalid":[{"where":"line 1","error":"bad"},{"where":"line 2","error":"worse"}],"id":"m-1",
		"report":{"total":3,"failures":[{"n":0},{"n":1},{"n":2}],"nested":{}}}`
	require.JSONEq(t, want, b.String())
	require.True(t, strings.HasSuffix(b.String(), "}\n"))
	require.Contains(t, b.String(), "\n  \"report\": {\n    \"total\": 3,\n    \"failures\": [\n      {\n", "indented")
}
