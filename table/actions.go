package table

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Action is one line of a Delta commit file. Exactly one field is set.
type Action struct {
	Protocol   *Protocol       `json:"protocol,omitempty"`
	MetaData   *Metadata       `json:"metaData,omitempty"`
	Add        *Add            `json:"add,omitempty"`
	Remove     *Remove         `json:"remove,omitempty"`
	Txn        *Txn            `json:"txn,omitempty"`
	CommitInfo *CommitInfo     `json:"commitInfo,omitempty"`
	CDC        *CDC            `json:"cdc,omitempty"`
	Domain     json.RawMessage `json:"domainMetadata,omitempty"`
	// Checkpoint-only (v2 checkpoints); their presence is refused by the
	// protocol check because we do not implement v2 checkpoints.
	CheckpointMetadata json.RawMessage `json:"checkpointMetadata,omitempty"`
	Sidecar            json.RawMessage `json:"sidecar,omitempty"`
}

// Protocol is the protocol action: the versions and features a client must
// implement to read or write the table.
type Protocol struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// Format names the data files' format.
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata is the metaData action: the table's identity, schema, partitioning
// and properties.
type Metadata struct {
	ID               string            `json:"id"`
	Name             *string           `json:"name,omitempty"`
	Description      *string           `json:"description,omitempty"`
	Format           Format            `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
}

// Add is the add action: a data file that becomes part of the table.
type Add struct {
	Path             string             `json:"path"`
	PartitionValues  map[string]*string `json:"partitionValues"`
	Size             int64              `json:"size"`
	ModificationTime int64              `json:"modificationTime"`
	DataChange       bool               `json:"dataChange"`
	Stats            string             `json:"stats,omitempty"`
	Tags             map[string]string  `json:"tags,omitempty"`
	DeletionVector   json.RawMessage    `json:"deletionVector,omitempty"`
	BaseRowID        *int64             `json:"baseRowId,omitempty"`
	DefaultRowCommit *int64             `json:"defaultRowCommitVersion,omitempty"`
	ClusteringProv   *string            `json:"clusteringProvider,omitempty"`
}

// Remove is the remove action: a data file that is no longer part of the
// table (a tombstone kept until VACUUM's retention passes).
type Remove struct {
	Path                 string             `json:"path"`
	DeletionTimestamp    *int64             `json:"deletionTimestamp,omitempty"`
	DataChange           bool               `json:"dataChange"`
	ExtendedFileMetadata *bool              `json:"extendedFileMetadata,omitempty"`
	PartitionValues      map[string]*string `json:"partitionValues,omitempty"`
	Size                 *int64             `json:"size,omitempty"`
	Stats                string             `json:"stats,omitempty"`
	Tags                 map[string]string  `json:"tags,omitempty"`
	DeletionVector       json.RawMessage    `json:"deletionVector,omitempty"`
}

// Txn is the transaction-identifier action: the latest version of an
// application's stream that the table contains. It is how every loglake
// writer is exactly once.
type Txn struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// CDC is the change-data file action (read and ignored: loglake does not
// write change data files, and the change feed uses add/remove).
type CDC struct {
	Path            string             `json:"path"`
	PartitionValues map[string]*string `json:"partitionValues"`
	Size            int64              `json:"size"`
	DataChange      bool               `json:"dataChange"`
}

// CommitInfo is the provenance of a commit. Unknown fields are kept in Extra
// so a clone can replay a foreign commit's information.
type CommitInfo struct {
	Timestamp           int64             `json:"timestamp,omitempty"`
	InCommitTimestamp   *int64            `json:"inCommitTimestamp,omitempty"`
	Operation           string            `json:"operation,omitempty"`
	OperationParameters map[string]any    `json:"operationParameters,omitempty"`
	OperationMetrics    map[string]any    `json:"operationMetrics,omitempty"`
	ReadVersion         *int64            `json:"readVersion,omitempty"`
	IsBlindAppend       *bool             `json:"isBlindAppend,omitempty"`
	EngineInfo          string            `json:"engineInfo,omitempty"`
	TxnID               string            `json:"txnId,omitempty"`
	UserMetadata        string            `json:"userMetadata,omitempty"`
	Tags                map[string]string `json:"tags,omitempty"`
}

// decodeCommit parses a commit file: one JSON action per line. Blank lines
// are skipped; anything else that is not an action is ErrCorrupt.
func decodeCommit(data []byte) ([]Action, error) {
	// The commit is already in memory: splitting it in place costs nothing,
	// where a bufio.Scanner allocated a 64 KiB buffer per commit, and every
	// table handle decodes every commit (50 regions: 50 buffers per commit,
	// a tenth of the fleet benchmark's CPU with the GC they caused).
	actions := make([]Action, 0, bytes.Count(data, []byte{'\n'})+1)
	line := 0
	for l := range bytes.Lines(data) {
		line++
		raw := bytes.TrimSpace(l)
		if len(raw) == 0 {
			continue
		}
		var a Action
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrCorrupt, line, err)
		}
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrCorrupt, line, err)
		}
		if err := a.checkPaths(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		actions = append(actions, a)
	}
	return actions, nil
}

// validate rejects actions missing the fields the log replay relies on.
func (a *Action) validate() error {
	switch {
	case a.Add != nil && a.Add.Path == "":
		return fmt.Errorf("add without path")
	case a.Remove != nil && a.Remove.Path == "":
		return fmt.Errorf("remove without path")
	case a.Txn != nil && a.Txn.AppID == "":
		return fmt.Errorf("txn without appId")
	case a.MetaData != nil && a.MetaData.SchemaString == "":
		return fmt.Errorf("metaData without schemaString")
	case a.Protocol != nil && a.Protocol.MinReaderVersion < 1:
		return fmt.Errorf("protocol without minReaderVersion")
	}
	return nil
}

// encodeCommit renders actions as a commit file, one JSON object per line.
func encodeCommit(actions []Action) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range actions {
		if err := enc.Encode(&actions[i]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
