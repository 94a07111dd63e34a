package storage

import (
	"path"
	"strings"
)

// contentTypes maps lowercase file extensions to media types: common data, archive, media
// and web formats, built in so that guessing does not depend on the host's mime.types (a
// container image from scratch has none).
var contentTypes = map[string]string{
	// data
	".csv": "text/csv", ".tsv": "text/tab-separated-values", ".txt": "text/plain; charset=utf-8",
	".json": "application/json", ".ndjson": "application/x-ndjson", ".jsonl": "application/jsonl",
	".geojson": "application/geo+json", ".xml": "application/xml", ".yaml": "application/yaml",
	".yml": "application/yaml", ".parquet": "application/vnd.apache.parquet", ".avro": "application/avro",
	".orc": "application/x-orc", ".arrow": "application/vnd.apache.arrow.file",
	".feather": "application/vnd.apache.arrow.file", ".h5": "application/x-hdf5", ".hdf5": "application/x-hdf5",
	".nc": "application/x-netcdf", ".npy": "application/octet-stream", ".sql": "application/sql",
	".log": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8",
	// archives and compression
	".gz": "application/gzip", ".tgz": "application/gzip", ".zst": "application/zstd",
	".bz2": "application/x-bzip2", ".xz": "application/x-xz", ".zip": "application/zip",
	".tar": "application/x-tar", ".7z": "application/x-7z-compressed", ".lz4": "application/x-lz4",
	// documents
	".pdf": "application/pdf", ".doc": "application/msword",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xls":  "application/vnd.ms-excel", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	// images
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp",
	".avif": "image/avif", ".heic": "image/heic", ".svg": "image/svg+xml", ".tif": "image/tiff", ".tiff": "image/tiff",
	".bmp": "image/bmp", ".ico": "image/vnd.microsoft.icon",
	// audio and video
	".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
	".webm": "video/webm", ".avi": "video/x-msvideo", ".ts": "video/mp2t", ".m3u8": "application/vnd.apple.mpegurl",
	".mpd": "application/dash+xml", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav",
	".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/opus",
	// web
	".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
	".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".wasm": "application/wasm",
	".woff2": "font/woff2", ".woff": "font/woff",
}

// DefaultContentType is the content type of keys whose extension is not in the table.
const DefaultContentType = "application/octet-stream"

// ContentTypeFor guesses a key's content type from its extension, from a built-in table of
// common formats (csv, parquet, json, ndjson, mp4, …); DefaultContentType otherwise.
func ContentTypeFor(key string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return t
	}
	return DefaultContentType
}
