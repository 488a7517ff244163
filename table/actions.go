package table

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
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
	// Unknown is the whole line of an action of a type this package does
	// not know (none of the above), written back as it was read: a clone
	// replays a foreign commit without turning it into "{}". The protocol
	// check refuses the features that need such actions understood. (A
	// line is one action: other keys beside a known one are ignored, as
	// Spark's reader does.)
	Unknown json.RawMessage `json:"-"`
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

// CommitInfo is the provenance of a commit. Fields this type does not name
// (Spark's clusterId, userName, isolationLevel, …) are kept in Extra and
// written back, so a clone replays a foreign commit's information whole.
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
	// Extra holds the fields not named above, by key, as read.
	Extra map[string]json.RawMessage `json:"-"`
}

// commitInfoFields is CommitInfo without its JSON methods.
type commitInfoFields CommitInfo

// commitInfoKeys are the JSON keys of CommitInfo's named fields, lower
// case: encoding/json matches keys to fields regardless of case, so
// "Timestamp" sets Timestamp and is not an extra field.
var commitInfoKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeFor[commitInfoFields]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			keys[strings.ToLower(name)] = true
		}
	}
	return keys
}()

// UnmarshalJSON reads the named fields and keeps the others in Extra.
func (ci *CommitInfo) UnmarshalJSON(data []byte) error {
	// Most commitInfos (all of loglake's) name no other field: one strict
	// decode reads them; only one that fails it is decoded again for its
	// extra fields.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	*ci = CommitInfo{}
	if dec.Decode((*commitInfoFields)(ci)) == nil {
		return nil
	}
	*ci = CommitInfo{}
	if err := json.Unmarshal(data, (*commitInfoFields)(ci)); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	maps.DeleteFunc(all, func(k string, _ json.RawMessage) bool { return commitInfoKeys[strings.ToLower(k)] })
	if len(all) > 0 {
		ci.Extra = all
	}
	return nil
}

// MarshalJSON writes the named fields, then Extra's in key order.
func (ci CommitInfo) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*commitInfoFields)(&ci)); err != nil {
		return nil, err
	}
	out := bytes.TrimRight(buf.Bytes(), "\n")
	if len(ci.Extra) == 0 {
		return out, nil
	}
	out = out[:len(out)-1] // the closing brace
	for _, k := range slices.Sorted(maps.Keys(ci.Extra)) {
		if commitInfoKeys[strings.ToLower(k)] {
			continue // a named field's value is the field's
		}
		key, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		if out[len(out)-1] != '{' {
			out = append(out, ',')
		}
		out = append(append(append(out, key...), ':'), ci.Extra[k]...)
	}
	return append(out, '}'), nil
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
		a, err := decodeAction(raw)
		if err != nil {
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

// decodeAction parses one line of a commit. A JSON null where an object may
// stand is the same as its absence (delta-rs writes "deletionVector":null
// on every add), so no later check has to tell the two apart; a line naming
// no known action keeps its text (Unknown).
func decodeAction(raw []byte) (Action, error) {
	var a Action
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, err
	}
	dropNull := func(m *json.RawMessage) {
		if string(*m) == "null" {
			*m = nil
		}
	}
	if a.Add != nil {
		dropNull(&a.Add.DeletionVector)
	}
	if a.Remove != nil {
		dropNull(&a.Remove.DeletionVector)
	}
	dropNull(&a.Domain)
	dropNull(&a.CheckpointMetadata)
	dropNull(&a.Sidecar)
	if a.isEmpty() {
		a.Unknown = bytes.Clone(raw)
	}
	return a, nil
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

// isEmpty reports whether a names no action this package knows.
func (a *Action) isEmpty() bool {
	return a.Protocol == nil && a.MetaData == nil && a.Add == nil && a.Remove == nil && a.Txn == nil &&
		a.CommitInfo == nil && a.CDC == nil && a.Domain == nil && a.CheckpointMetadata == nil && a.Sidecar == nil
}

// encodeCommit renders actions as a commit file, one JSON object per line;
// an action of an unknown type is its line as read.
func encodeCommit(actions []Action) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range actions {
		if a := &actions[i]; a.Unknown != nil && a.isEmpty() {
			buf.Write(a.Unknown)
			buf.WriteByte('\n')
			continue
		}
		if err := enc.Encode(&actions[i]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
