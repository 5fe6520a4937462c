package zroute_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"zroute.example/worker/zroute"
)

// vectorsDir is spec/vectors, relative to this package (workers/go/zroute).
const vectorsDir = "../../../spec/vectors"

type vectorFile struct {
	Format  string   `json:"format"`
	Section string   `json:"section"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	ID        string          `json:"id"`
	Hex       string          `json:"hex"`
	Result    string          `json:"result"`
	Frame     json.RawMessage `json:"frame"`
	Canonical *bool           `json:"canonical"`
	Error     string          `json:"error"`
	Reaction  string          `json:"reaction"`
	StreamID  *uint32         `json:"streamId"`
}

// latin1 maps a JSON string whose code points are bytes (VECTORS.md §3) to
// those bytes.
func latin1(t *testing.T, s string) string {
	t.Helper()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			t.Fatalf("code point %U above U+00FF in vector string", r)
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func block(t *testing.T, pairs [][2]string) zroute.Block {
	b := make(zroute.Block, 0, len(pairs))
	for _, p := range pairs {
		b = append(b, zroute.Field{Name: latin1(t, p[0]), Value: latin1(t, p[1])})
	}
	return b
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

// code decodes a status code or SETTINGS id written as a name or a number.
func code(t *testing.T, raw json.RawMessage, byName func(string) (uint32, bool)) uint32 {
	t.Helper()
	var n uint32
	if err := json.Unmarshal(raw, &n); err == nil {
		return n
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("bad code %s", raw)
	}
	v, ok := byName(s)
	if !ok {
		t.Fatalf("unknown code name %q", s)
	}
	return v
}

var settingNames = map[string]uint32{
	"UPLOAD_BANDWIDTH": 1, "DOWNLOAD_BANDWIDTH": 2, "ROUND_TRIP_TIME": 3,
	"MAX_CONCURRENT_STREAMS": 4, "CURRENT_CWND": 5, "DOWNLOAD_RETRANS_RATE": 6,
	"INITIAL_WINDOW_SIZE": 7, "CLIENT_CERTIFICATE_VECTOR_SIZE": 8,
}

func rstByName(s string) (uint32, bool) {
	c, ok := zroute.ParseRstStatus(s)
	return uint32(c), ok
}

func goAwayByName(s string) (uint32, bool) {
	c, ok := zroute.ParseGoAwayStatus(s)
	return uint32(c), ok
}

// frameFromJSON builds the expected frame of VECTORS.md §3.
func frameFromJSON(t *testing.T, raw json.RawMessage) zroute.Frame {
	t.Helper()
	var f struct {
		Type                 string            `json:"type"`
		Flags                uint8             `json:"flags"`
		StreamID             uint32            `json:"streamId"`
		AssociatedStreamID   uint32            `json:"associatedStreamId"`
		Priority             uint8             `json:"priority"`
		Slot                 uint8             `json:"slot"`
		Headers              [][2]string       `json:"headers"`
		StatusCode           json.RawMessage   `json:"statusCode"`
		Entries              []json.RawMessage `json:"entries"`
		ID                   uint32            `json:"id"`
		LastGoodStreamID     uint32            `json:"lastGoodStreamId"`
		DeltaWindowSize      uint32            `json:"deltaWindowSize"`
		PayloadHex           string            `json:"payloadHex"`
		Version              uint16            `json:"version"`
		MaxConcurrentStreams uint32            `json:"maxConcurrentStreams"`
		InitialWindowSize    uint32            `json:"initialWindowSize"`
		HeartbeatIntervalMs  uint32            `json:"heartbeatIntervalMs"`
		HeartbeatLiveness    uint32            `json:"heartbeatLiveness"`
		Attributes           [][2]string       `json:"attributes"`
		FrameType            uint16            `json:"frameType"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("bad frame object: %v", err)
	}
	switch f.Type {
	case "DATA":
		return &zroute.Data{Flags: f.Flags, StreamID: f.StreamID, Payload: unhex(t, f.PayloadHex)}
	case "SYN_STREAM":
		return &zroute.SynStream{Flags: f.Flags, StreamID: f.StreamID, AssociatedID: f.AssociatedStreamID,
			Priority: f.Priority, Slot: f.Slot, Header: block(t, f.Headers)}
	case "SYN_REPLY":
		return &zroute.SynReply{Flags: f.Flags, StreamID: f.StreamID, Header: block(t, f.Headers)}
	case "HEADERS":
		return &zroute.Headers{Flags: f.Flags, StreamID: f.StreamID, Header: block(t, f.Headers)}
	case "RST_STREAM":
		return &zroute.RstStream{Flags: f.Flags, StreamID: f.StreamID,
			Status: zroute.RstStatus(code(t, f.StatusCode, rstByName))}
	case "GOAWAY":
		return &zroute.GoAway{Flags: f.Flags, LastGoodStreamID: f.LastGoodStreamID,
			Status: zroute.GoAwayStatus(code(t, f.StatusCode, goAwayByName))}
	case "PING":
		return &zroute.Ping{Flags: f.Flags, ID: f.ID}
	case "WINDOW_UPDATE":
		return &zroute.WindowUpdate{Flags: f.Flags, StreamID: f.StreamID, Delta: f.DeltaWindowSize}
	case "SETTINGS":
		s := &zroute.Settings{Flags: f.Flags, Entries: []zroute.SettingsEntry{}}
		for _, raw := range f.Entries {
			var e struct {
				Flags uint8           `json:"flags"`
				ID    json.RawMessage `json:"id"`
				Value uint32          `json:"value"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			id := code(t, e.ID, func(s string) (uint32, bool) { v, ok := settingNames[s]; return v, ok })
			s.Entries = append(s.Entries, zroute.SettingsEntry{Flags: e.Flags, ID: id, Value: e.Value})
		}
		return s
	case "HELLO":
		return &zroute.Hello{Flags: f.Flags, Version: f.Version, MaxConcurrentStreams: f.MaxConcurrentStreams,
			InitialWindowSize: f.InitialWindowSize, Attributes: block(t, f.Attributes)}
	case "WELCOME":
		return &zroute.Welcome{Flags: f.Flags, Version: f.Version, HeartbeatIntervalMs: f.HeartbeatIntervalMs,
			HeartbeatLiveness: f.HeartbeatLiveness, InitialWindowSize: f.InitialWindowSize,
			Attributes: block(t, f.Attributes)}
	case "UNKNOWN":
		return &zroute.Unknown{Flags: f.Flags, FrameType: f.FrameType, Payload: unhex(t, f.PayloadHex)}
	}
	t.Fatalf("unknown frame type %q", f.Type)
	return nil
}

// normalize makes empty slices comparable with reflect.DeepEqual.
func normalize(f zroute.Frame) zroute.Frame {
	fix := func(b zroute.Block) zroute.Block {
		if len(b) == 0 {
			return zroute.Block{}
		}
		return b
	}
	fixBytes := func(b []byte) []byte {
		if len(b) == 0 {
			return []byte{}
		}
		return b
	}
	switch f := f.(type) {
	case *zroute.SynStream:
		f.Header = fix(f.Header)
	case *zroute.SynReply:
		f.Header = fix(f.Header)
	case *zroute.Headers:
		f.Header = fix(f.Header)
	case *zroute.Hello:
		f.Attributes = fix(f.Attributes)
	case *zroute.Welcome:
		f.Attributes = fix(f.Attributes)
	case *zroute.Data:
		f.Payload = fixBytes(f.Payload)
	case *zroute.Unknown:
		f.Payload = fixBytes(f.Payload)
	case *zroute.Settings:
		if len(f.Entries) == 0 {
			f.Entries = []zroute.SettingsEntry{}
		}
	}
	return f
}

// TestVectors replays every vector of every file in spec/vectors (VECTORS.md §5).
func TestVectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vectorsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files in %s: %v", vectorsDir, err)
	}
	var valid, invalid, encoded int
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var vf vectorFile
		if err := json.Unmarshal(raw, &vf); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if vf.Format != "zroute-vectors/1" {
			t.Fatalf("%s: format %q", file, vf.Format)
		}
		if len(vf.Vectors) == 0 {
			t.Fatalf("%s: no vectors", file)
		}
		for _, v := range vf.Vectors {
			t.Run(v.ID, func(t *testing.T) {
				part := unhex(t, v.Hex)
				got, err := zroute.Decode(part, zroute.DecodeOptions{MaxPairs: 128})
				switch v.Result {
				case "valid":
					valid++
					if err != nil {
						t.Fatalf("decode failed: %v", err)
					}
					want := frameFromJSON(t, v.Frame)
					if !reflect.DeepEqual(normalize(got), normalize(want)) {
						t.Fatalf("decoded\n %#v\nwant\n %#v", got, want)
					}
					if v.Canonical != nil && !*v.Canonical {
						// Not canonical: re-encoding must differ but decode back to the same frame.
						enc := zroute.MustEncode(want)
						if bytes.Equal(enc, part) {
							t.Fatalf("non-canonical vector re-encoded to the same bytes")
						}
						again, err := zroute.Decode(enc, zroute.DecodeOptions{})
						if err != nil || !reflect.DeepEqual(normalize(again), normalize(want)) {
							t.Fatalf("re-encoded frame does not round-trip: %v", err)
						}
						return
					}
					enc, err := zroute.Encode(want)
					if err != nil {
						t.Fatalf("encode: %v", err)
					}
					if !bytes.Equal(enc, part) {
						t.Fatalf("encode mismatch\n got %x\nwant %x", enc, part)
					}
					encoded++
				case "invalid":
					invalid++
					if err == nil {
						t.Fatalf("decoded %#v, want error %s", got, v.Error)
					}
					var de *zroute.DecodeError
					if !errors.As(err, &de) {
						t.Fatalf("error %T is not a *DecodeError", err)
					}
					if de.Name != v.Error {
						t.Errorf("error %q, want %q", de.Name, v.Error)
					}
					if de.Reaction.String() != v.Reaction {
						t.Errorf("reaction %s, want %s", de.Reaction, v.Reaction)
					}
					if strings.HasPrefix(v.Reaction, "stream:") {
						if v.StreamID == nil {
							t.Fatalf("stream reaction without streamId")
						}
						if de.Reaction.StreamID != *v.StreamID {
							t.Errorf("reaction stream %d, want %d", de.Reaction.StreamID, *v.StreamID)
						}
					}
				default:
					t.Fatalf("unknown result %q", v.Result)
				}
			})
		}
	}
	t.Logf("vectors: %d valid (%d canonical encodings checked), %d invalid, %d files", valid, encoded, invalid, len(files))
}

// TestBlockLimit checks the receiver's pair limit of §7.4 (not expressed as a vector).
func TestBlockLimit(t *testing.T) {
	b := zroute.Block{}
	for i := range 129 {
		b = append(b, zroute.Field{Name: "x-" + strings.Repeat("a", i+1), Value: "v"})
	}
	part := zroute.MustEncode(&zroute.Headers{Flags: zroute.FlagFin, StreamID: 1, Header: b})
	_, err := zroute.Decode(part, zroute.DecodeOptions{MaxPairs: 128})
	var de *zroute.DecodeError
	if !errors.As(err, &de) || de.Reaction.String() != "stream:PROTOCOL_ERROR" || de.Reaction.StreamID != 1 {
		t.Fatalf("129 pairs with limit 128: got %v", err)
	}
	if _, err := zroute.Decode(part, zroute.DecodeOptions{MaxPairs: 129}); err != nil {
		t.Fatalf("129 pairs with limit 129: %v", err)
	}
}
