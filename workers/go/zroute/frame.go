// Package zroute implements the worker side of the zroute protocol, version 1
// (spec/PROTOCOL.md): the frame codec, worker sessions over ZeroMQ DEALER
// sockets, streams with SPDY/3.1 flow control, and the mapping of streams onto
// net/http so that any http.Handler can be served behind a zroute router.
package zroute

import "fmt"

// Protocol constants (§15).
const (
	// FrameVersion is the version field of every control frame header (§4.1).
	FrameVersion = 3
	// ProtocolVersion is the zroute protocol version this package speaks (§2.1).
	ProtocolVersion = 1
	// HeaderSize is the size of every frame header (§4.1).
	HeaderSize = 8
	// MaxPayload is the largest payload of any frame (§4.4).
	MaxPayload = 65536
	// MaxWindow is the largest flow-control window and WINDOW_UPDATE delta (§11.1).
	MaxWindow = 1<<31 - 1
	// DefaultWindow is the default initial window size and the initial
	// session window of each direction (§11.1).
	DefaultWindow = 65536
	// MaxStreamID is the largest stream id (§10.1).
	MaxStreamID = 1<<31 - 1
)

// FrameType is the 16-bit type of a control frame (§4.2). DATA frames have no
// type field; TypeData is a pseudo value used by this package for them.
type FrameType uint16

// Frame types (§4.2).
const (
	TypeData         FrameType = 0 // pseudo type for DATA (C = 0); 0 is also an unknown control type
	TypeSynStream    FrameType = 1
	TypeSynReply     FrameType = 2
	TypeRstStream    FrameType = 3
	TypeSettings     FrameType = 4
	TypePing         FrameType = 6
	TypeGoAway       FrameType = 7
	TypeHeaders      FrameType = 8
	TypeWindowUpdate FrameType = 9
	TypeHello        FrameType = 0x5A01
	TypeWelcome      FrameType = 0x5A02
)

// knownControl reports whether t is a control frame type defined by §4.2.
func knownControl(t FrameType) bool {
	switch t {
	case TypeSynStream, TypeSynReply, TypeRstStream, TypeSettings, TypePing,
		TypeGoAway, TypeHeaders, TypeWindowUpdate, TypeHello, TypeWelcome:
		return true
	}
	return false
}

var typeNames = map[FrameType]string{
	TypeSynStream: "SYN_STREAM", TypeSynReply: "SYN_REPLY", TypeRstStream: "RST_STREAM",
	TypeSettings: "SETTINGS", TypePing: "PING", TypeGoAway: "GOAWAY", TypeHeaders: "HEADERS",
	TypeWindowUpdate: "WINDOW_UPDATE", TypeHello: "HELLO", TypeWelcome: "WELCOME",
}

func (t FrameType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("UNKNOWN(0x%04x)", uint16(t))
}

// Flags (§4.3).
const (
	FlagFin            uint8 = 0x01
	FlagUnidirectional uint8 = 0x02
)

// SETTINGS ids used by zroute (§5.4).
const (
	SettingMaxConcurrentStreams uint32 = 4
	SettingInitialWindowSize    uint32 = 7
)

// Field is one name/value pair of a name/value block (§7). Name and Value are
// byte strings; a Value may hold several values separated by NUL (§8.1).
type Field struct {
	Name, Value string
}

// Block is a name/value block: the pairs in wire order.
type Block []Field

// Get returns the value of the first pair named name.
func (b Block) Get(name string) (string, bool) {
	for _, f := range b {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Frame is one decoded zroute frame: one of *Data, *SynStream, *SynReply,
// *RstStream, *Settings, *Ping, *GoAway, *Headers, *WindowUpdate, *Hello,
// *Welcome or *Unknown.
type Frame interface {
	// Type returns the frame type (TypeData for DATA frames).
	Type() FrameType
	// FrameFlags returns the raw flags byte, unknown bits included.
	FrameFlags() uint8
}

// Data is a DATA frame (§5.9). Payload may alias the decoded part.
type Data struct {
	Flags    uint8
	StreamID uint32
	Payload  []byte
}

// SynStream is a SYN_STREAM frame (§5.1).
type SynStream struct {
	Flags        uint8
	StreamID     uint32
	AssociatedID uint32
	Priority     uint8
	Slot         uint8
	Header       Block
}

// SynReply is a SYN_REPLY frame (§5.2).
type SynReply struct {
	Flags    uint8
	StreamID uint32
	Header   Block
}

// RstStream is an RST_STREAM frame (§5.3).
type RstStream struct {
	Flags    uint8
	StreamID uint32
	Status   RstStatus
}

// SettingsEntry is one entry of a SETTINGS frame.
type SettingsEntry struct {
	Flags uint8
	ID    uint32 // 24 bits
	Value uint32
}

// Settings is a SETTINGS frame (§5.4).
type Settings struct {
	Flags   uint8
	Entries []SettingsEntry
}

// Ping is a PING frame (§5.5).
type Ping struct {
	Flags uint8
	ID    uint32
}

// GoAway is a GOAWAY frame (§5.6).
type GoAway struct {
	Flags            uint8
	LastGoodStreamID uint32
	Status           GoAwayStatus
}

// Headers is a HEADERS frame (§5.7), carrying trailers.
type Headers struct {
	Flags    uint8
	StreamID uint32
	Header   Block
}

// WindowUpdate is a WINDOW_UPDATE frame (§5.8).
type WindowUpdate struct {
	Flags    uint8
	StreamID uint32
	Delta    uint32
}

// Hello is a HELLO frame (§5.10).
type Hello struct {
	Flags                uint8
	Version              uint16
	MaxConcurrentStreams uint32
	InitialWindowSize    uint32
	Attributes           Block
}

// Welcome is a WELCOME frame (§5.11).
type Welcome struct {
	Flags               uint8
	Version             uint16
	HeartbeatIntervalMs uint32
	HeartbeatLiveness   uint32
	InitialWindowSize   uint32
	Attributes          Block
}

// Unknown is a control frame of a type §4.2 does not define (§5.12).
type Unknown struct {
	Flags     uint8
	FrameType uint16
	Payload   []byte
}

func (*Data) Type() FrameType         { return TypeData }
func (*SynStream) Type() FrameType    { return TypeSynStream }
func (*SynReply) Type() FrameType     { return TypeSynReply }
func (*RstStream) Type() FrameType    { return TypeRstStream }
func (*Settings) Type() FrameType     { return TypeSettings }
func (*Ping) Type() FrameType         { return TypePing }
func (*GoAway) Type() FrameType       { return TypeGoAway }
func (*Headers) Type() FrameType      { return TypeHeaders }
func (*WindowUpdate) Type() FrameType { return TypeWindowUpdate }
func (*Hello) Type() FrameType        { return TypeHello }
func (*Welcome) Type() FrameType      { return TypeWelcome }
func (f *Unknown) Type() FrameType    { return FrameType(f.FrameType) }

func (f *Data) FrameFlags() uint8         { return f.Flags }
func (f *SynStream) FrameFlags() uint8    { return f.Flags }
func (f *SynReply) FrameFlags() uint8     { return f.Flags }
func (f *RstStream) FrameFlags() uint8    { return f.Flags }
func (f *Settings) FrameFlags() uint8     { return f.Flags }
func (f *Ping) FrameFlags() uint8         { return f.Flags }
func (f *GoAway) FrameFlags() uint8       { return f.Flags }
func (f *Headers) FrameFlags() uint8      { return f.Flags }
func (f *WindowUpdate) FrameFlags() uint8 { return f.Flags }
func (f *Hello) FrameFlags() uint8        { return f.Flags }
func (f *Welcome) FrameFlags() uint8      { return f.Flags }
func (f *Unknown) FrameFlags() uint8      { return f.Flags }

// String renders a frame in the notation of §1.3, for logs.
func frameString(f Frame) string {
	switch f := f.(type) {
	case *Data:
		return fmt.Sprintf("DATA(%d) len=%d flags=0x%02x", f.StreamID, len(f.Payload), f.Flags)
	case *SynStream:
		return fmt.Sprintf("SYN_STREAM(%d) flags=0x%02x", f.StreamID, f.Flags)
	case *SynReply:
		return fmt.Sprintf("SYN_REPLY(%d) flags=0x%02x", f.StreamID, f.Flags)
	case *RstStream:
		return fmt.Sprintf("RST_STREAM(%d, %s)", f.StreamID, f.Status)
	case *Settings:
		return fmt.Sprintf("SETTINGS(%d entries)", len(f.Entries))
	case *Ping:
		return fmt.Sprintf("PING(%d)", f.ID)
	case *GoAway:
		return fmt.Sprintf("GOAWAY(%d, %s)", f.LastGoodStreamID, f.Status)
	case *Headers:
		return fmt.Sprintf("HEADERS(%d) flags=0x%02x", f.StreamID, f.Flags)
	case *WindowUpdate:
		return fmt.Sprintf("WINDOW_UPDATE(%d, %d)", f.StreamID, f.Delta)
	case *Hello:
		return fmt.Sprintf("HELLO(v%d, capacity %d, window %d)", f.Version, f.MaxConcurrentStreams, f.InitialWindowSize)
	case *Welcome:
		return fmt.Sprintf("WELCOME(v%d, I=%d, L=%d, window %d)", f.Version, f.HeartbeatIntervalMs, f.HeartbeatLiveness, f.InitialWindowSize)
	case *Unknown:
		return fmt.Sprintf("UNKNOWN(0x%04x) len=%d", f.FrameType, len(f.Payload))
	}
	return fmt.Sprintf("%T", f)
}
