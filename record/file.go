package record

import "github.com/shadowctl/shadowctl/internal/parquetfile"

// FileWriter writes one recording file. It appears under its final name
// only when Close succeeds; until then it carries parquetfile.PartialSuffix.
type FileWriter = parquetfile.Writer[Exchange]

// CreateFile starts a recording file at path (mode 0600).
func CreateFile(path string) (*FileWriter, error) {
	return parquetfile.Create[Exchange](path, Schema, "request_body", "response_body")
}
