package zroute

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Error names of the decoding steps of §4.6 (VECTORS.md §4).
const (
	ErrTruncated          = "truncated"
	ErrUnsupportedVersion = "unsupported-version"
	ErrLengthMismatch     = "length-mismatch"
	ErrFrameTooLarge      = "frame-too-large"
	ErrBadPayloadSize     = "bad-payload-size"
	ErrZeroStreamID       = "zero-stream-id"
	ErrZeroWindowDelta    = "zero-window-delta"
)

// Reaction is what §4.6 requires of a receiver for a part that fails to
// decode: a stream error (RST_STREAM with Rst on StreamID) or a session error
// (GOAWAY with GoAway). The rules that depend on session state (closed and
// never-opened streams, session flow control, SYN_STREAM id checks) are
// applied by the session on top of it.
type Reaction struct {
	Stream   bool
	StreamID uint32
	Rst      RstStatus
	GoAway   GoAwayStatus
}

func (r Reaction) String() string {
	if r.Stream {
		return "stream:" + r.Rst.String()
	}
	return "session:" + r.GoAway.String()
}

// DecodeError describes a message part that is not a well-formed frame.
type DecodeError struct {
	// Name is the error name of VECTORS.md §4 (for example "length-mismatch").
	Name string
	// Reaction is the required reaction in an established session.
	Reaction Reaction
	// Control and Type identify the frame kind when the header was readable
	// (Type is meaningless for DATA, Control false).
	Control bool
	Type    FrameType
	// HeaderOK is true when the part passed steps 1 to 3 of §4.6 (its
	// header is consistent), so that a DATA payload counts against the
	// session window and the type is trustworthy.
	HeaderOK bool
	// PayloadLen is the payload size when HeaderOK.
	PayloadLen int
	// StreamID is the stream id the frame names, when readable.
	StreamID uint32
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("zroute: %s (%s)", e.Name, e.Reaction)
}

// DecodeOptions tune the decoder.
type DecodeOptions struct {
	// MaxPairs is the receiver's limit on pairs per name/value block
	// (§7.4); 0 means no limit beyond rule 1 of §7.2.
	MaxPairs int
}

func sessionErr(name string, status GoAwayStatus) *DecodeError {
	return &DecodeError{Name: name, Reaction: Reaction{GoAway: status}}
}

// Decode decodes one non-empty message part into a frame, applying the
// checks of §4.6 in order. On failure the error is a *DecodeError. The
// returned frame may alias part.
func Decode(part []byte, opts DecodeOptions) (Frame, error) {
	// Step 1.
	if len(part) < HeaderSize {
		return nil, sessionErr(ErrTruncated, GoAwayProtocolError)
	}
	control := part[0]&0x80 != 0
	var typ FrameType
	if control {
		version := binary.BigEndian.Uint16(part[0:2]) & 0x7fff
		typ = FrameType(binary.BigEndian.Uint16(part[2:4]))
		// Step 2.
		if version != FrameVersion {
			e := sessionErr(ErrUnsupportedVersion, GoAwayUnsupportedVersion)
			e.Control, e.Type = true, typ
			return nil, e
		}
	}
	flags := part[4]
	length := int(part[5])<<16 | int(part[6])<<8 | int(part[7])
	payload := part[HeaderSize:]
	// Step 3.
	if length != len(payload) {
		e := sessionErr(ErrLengthMismatch, GoAwayProtocolError)
		e.Control, e.Type = control, typ
		return nil, e
	}
	fail := func(name string, r Reaction, sid uint32) error {
		return &DecodeError{Name: name, Reaction: r, Control: control, Type: typ,
			HeaderOK: true, PayloadLen: len(payload), StreamID: sid}
	}
	sessionProto := Reaction{GoAway: GoAwayProtocolError}

	if !control {
		sid := binary.BigEndian.Uint32(part[0:4]) & 0x7fffffff
		// Step 4.
		if len(payload) > MaxPayload {
			if sid == 0 {
				return nil, fail(ErrFrameTooLarge, sessionProto, 0)
			}
			return nil, fail(ErrFrameTooLarge, Reaction{Stream: true, StreamID: sid, Rst: RstFrameTooLarge}, sid)
		}
		// Step 7 (steps 5, 6 do not apply to DATA).
		if sid == 0 {
			return nil, fail(ErrZeroStreamID, sessionProto, 0)
		}
		return &Data{Flags: flags, StreamID: sid, Payload: payload}, nil
	}

	// Step 4.
	if len(payload) > MaxPayload {
		switch typ {
		case TypeSynStream, TypeSynReply, TypeHeaders:
			sid := binary.BigEndian.Uint32(payload) & 0x7fffffff
			if sid != 0 {
				return nil, fail(ErrFrameTooLarge, Reaction{Stream: true, StreamID: sid, Rst: RstFrameTooLarge}, sid)
			}
		}
		return nil, fail(ErrFrameTooLarge, sessionProto, 0)
	}
	// Step 5.
	if !knownControl(typ) {
		return &Unknown{Flags: flags, FrameType: uint16(typ), Payload: payload}, nil
	}
	// Step 6.
	n := len(payload)
	sizeOK := false
	switch typ {
	case TypeRstStream, TypeGoAway, TypeWindowUpdate:
		sizeOK = n == 8
	case TypePing:
		sizeOK = n == 4
	case TypeSettings:
		sizeOK = n >= 4 && uint64(n) == 4+8*uint64(binary.BigEndian.Uint32(payload))
	case TypeSynStream:
		sizeOK = n >= 10
	case TypeSynReply, TypeHeaders:
		sizeOK = n >= 4
	case TypeHello:
		sizeOK = n >= 12
	case TypeWelcome:
		sizeOK = n >= 16
	}
	if !sizeOK {
		return nil, fail(ErrBadPayloadSize, sessionProto, 0)
	}
	u32 := func(off int) uint32 { return binary.BigEndian.Uint32(payload[off:]) }
	// Step 7.
	var sid uint32
	switch typ {
	case TypeSynStream, TypeSynReply, TypeHeaders, TypeRstStream, TypeWindowUpdate:
		sid = u32(0) & 0x7fffffff
		if sid == 0 && typ != TypeWindowUpdate {
			return nil, fail(ErrZeroStreamID, sessionProto, 0)
		}
	}
	// Steps 8 and 9, and construction.
	blockErr := func(name string) error {
		switch typ {
		case TypeHello, TypeWelcome:
			return fail(name, sessionProto, 0)
		}
		return fail(name, Reaction{Stream: true, StreamID: sid, Rst: RstProtocolError}, sid)
	}
	switch typ {
	case TypeWindowUpdate:
		delta := u32(4) & 0x7fffffff
		if delta == 0 {
			if sid == 0 {
				return nil, fail(ErrZeroWindowDelta, sessionProto, 0)
			}
			return nil, fail(ErrZeroWindowDelta, Reaction{Stream: true, StreamID: sid, Rst: RstProtocolError}, sid)
		}
		return &WindowUpdate{Flags: flags, StreamID: sid, Delta: delta}, nil
	case TypeRstStream:
		return &RstStream{Flags: flags, StreamID: sid, Status: RstStatus(u32(4))}, nil
	case TypeGoAway:
		return &GoAway{Flags: flags, LastGoodStreamID: u32(0) & 0x7fffffff, Status: GoAwayStatus(u32(4))}, nil
	case TypePing:
		return &Ping{Flags: flags, ID: u32(0)}, nil
	case TypeSettings:
		count := int(u32(0))
		f := &Settings{Flags: flags, Entries: make([]SettingsEntry, 0, count)}
		for i := range count {
			off := 4 + 8*i
			f.Entries = append(f.Entries, SettingsEntry{
				Flags: payload[off], ID: u32(off) & 0xffffff, Value: u32(off + 4)})
		}
		return f, nil
	case TypeSynStream:
		block, e := decodeBlock(payload[10:], opts.MaxPairs)
		if e != "" {
			return nil, blockErr(e)
		}
		return &SynStream{Flags: flags, StreamID: sid, AssociatedID: u32(4) & 0x7fffffff,
			Priority: payload[8] >> 5, Slot: payload[9], Header: block}, nil
	case TypeSynReply, TypeHeaders:
		block, e := decodeBlock(payload[4:], opts.MaxPairs)
		if e != "" {
			return nil, blockErr(e)
		}
		if typ == TypeSynReply {
			return &SynReply{Flags: flags, StreamID: sid, Header: block}, nil
		}
		return &Headers{Flags: flags, StreamID: sid, Header: block}, nil
	case TypeHello:
		block, e := decodeBlock(payload[12:], opts.MaxPairs)
		if e != "" {
			return nil, blockErr(e)
		}
		return &Hello{Flags: flags, Version: uint16(u32(0) >> 16), MaxConcurrentStreams: u32(4),
			InitialWindowSize: u32(8) & 0x7fffffff, Attributes: block}, nil
	case TypeWelcome:
		block, e := decodeBlock(payload[16:], opts.MaxPairs)
		if e != "" {
			return nil, blockErr(e)
		}
		return &Welcome{Flags: flags, Version: uint16(u32(0) >> 16), HeartbeatIntervalMs: u32(4),
			HeartbeatLiveness: u32(8), InitialWindowSize: u32(12) & 0x7fffffff, Attributes: block}, nil
	}
	panic("unreachable")
}

// ErrPayloadTooLarge is returned by Encode for a frame whose payload would
// exceed MaxPayload (§4.4).
var ErrPayloadTooLarge = errors.New("zroute: frame payload larger than 65536 bytes")

func appendControlHeader(dst []byte, typ FrameType, flags uint8, length int) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0x8000|FrameVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(typ))
	return append(dst, flags, byte(length>>16), byte(length>>8), byte(length))
}

// Encode encodes f as one message part. Reserved bits are sent as 0; flags
// are sent as given. It does not validate name/value blocks (see
// ValidateBlock).
func Encode(f Frame) ([]byte, error) {
	var plen int
	switch f := f.(type) {
	case *Data:
		plen = len(f.Payload)
	case *SynStream:
		plen = 10 + blockSize(f.Header)
	case *SynReply:
		plen = 4 + blockSize(f.Header)
	case *Headers:
		plen = 4 + blockSize(f.Header)
	case *RstStream, *GoAway, *WindowUpdate:
		plen = 8
	case *Ping:
		plen = 4
	case *Settings:
		plen = 4 + 8*len(f.Entries)
	case *Hello:
		plen = 12 + blockSize(f.Attributes)
	case *Welcome:
		plen = 16 + blockSize(f.Attributes)
	case *Unknown:
		plen = len(f.Payload)
	default:
		return nil, fmt.Errorf("zroute: cannot encode %T", f)
	}
	if plen > MaxPayload {
		return nil, ErrPayloadTooLarge
	}
	b := make([]byte, 0, HeaderSize+plen)
	be := binary.BigEndian
	switch f := f.(type) {
	case *Data:
		b = be.AppendUint32(b, f.StreamID&0x7fffffff)
		b = append(b, f.Flags, byte(plen>>16), byte(plen>>8), byte(plen))
		b = append(b, f.Payload...)
	case *SynStream:
		b = appendControlHeader(b, TypeSynStream, f.Flags, plen)
		b = be.AppendUint32(b, f.StreamID&0x7fffffff)
		b = be.AppendUint32(b, f.AssociatedID&0x7fffffff)
		b = append(b, (f.Priority&7)<<5, f.Slot)
		b = appendBlock(b, f.Header)
	case *SynReply:
		b = appendControlHeader(b, TypeSynReply, f.Flags, plen)
		b = be.AppendUint32(b, f.StreamID&0x7fffffff)
		b = appendBlock(b, f.Header)
	case *Headers:
		b = appendControlHeader(b, TypeHeaders, f.Flags, plen)
		b = be.AppendUint32(b, f.StreamID&0x7fffffff)
		b = appendBlock(b, f.Header)
	case *RstStream:
		b = appendControlHeader(b, TypeRstStream, f.Flags, plen)
		b = be.AppendUint32(b, f.StreamID&0x7fffffff)
		b = be.AppendUint32(b, uint32(f.Status))
	case *GoAway:
		b = appendControlHeader(b, TypeGoAway, f.Flags, plen)
		b = be.AppendUint32(b, f.LastGoodStreamID&0x7fffffff)
		b = be.AppendUint32(b, uint32(f.Status))
	case *WindowUpdate:
		b = appendControlHeader(b, TypeWindowUpdate, f.Flags, plen)
		b = be.AppendUint32(b, f.StreamID&0x7fffffff)
		b = be.AppendUint32(b, f.Delta&0x7fffffff)
	case *Ping:
		b = appendControlHeader(b, TypePing, f.Flags, plen)
		b = be.AppendUint32(b, f.ID)
	case *Settings:
		b = appendControlHeader(b, TypeSettings, f.Flags, plen)
		b = be.AppendUint32(b, uint32(len(f.Entries)))
		for _, e := range f.Entries {
			b = be.AppendUint32(b, uint32(e.Flags)<<24|e.ID&0xffffff)
			b = be.AppendUint32(b, e.Value)
		}
	case *Hello:
		b = appendControlHeader(b, TypeHello, f.Flags, plen)
		b = be.AppendUint16(b, f.Version)
		b = be.AppendUint16(b, 0)
		b = be.AppendUint32(b, f.MaxConcurrentStreams)
		b = be.AppendUint32(b, f.InitialWindowSize&0x7fffffff)
		b = appendBlock(b, f.Attributes)
	case *Welcome:
		b = appendControlHeader(b, TypeWelcome, f.Flags, plen)
		b = be.AppendUint16(b, f.Version)
		b = be.AppendUint16(b, 0)
		b = be.AppendUint32(b, f.HeartbeatIntervalMs)
		b = be.AppendUint32(b, f.HeartbeatLiveness)
		b = be.AppendUint32(b, f.InitialWindowSize&0x7fffffff)
		b = appendBlock(b, f.Attributes)
	case *Unknown:
		b = appendControlHeader(b, FrameType(f.FrameType), f.Flags, plen)
		b = append(b, f.Payload...)
	}
	return b, nil
}

// MustEncode is Encode for frames known to fit; it panics on error.
func MustEncode(f Frame) []byte {
	b, err := Encode(f)
	if err != nil {
		panic(err)
	}
	return b
}
