package zroute

import "encoding/binary"

// Error names for malformed name/value blocks (§7.3, VECTORS.md §4).
const (
	ErrHeaderBlockTruncated     = "header-block-truncated"
	ErrHeaderCountTooLarge      = "header-count-too-large"
	ErrEmptyHeaderName          = "empty-header-name"
	ErrUppercaseHeaderName      = "uppercase-header-name"
	ErrInvalidHeaderName        = "invalid-header-name"
	ErrInvalidHeaderValue       = "invalid-header-value"
	ErrHeaderBlockTrailingBytes = "header-block-trailing-bytes"
	ErrDuplicateHeaderName      = "duplicate-header-name"
	// ErrHeaderCountOverLimit is this package's name for a block with more
	// pairs than the receiver's limit (§7.4); §7.3 names no error for it.
	ErrHeaderCountOverLimit = "header-count-over-limit"
)

// isNameChar reports whether c is a lowercase RFC 9110 tchar (§7.2 name-char).
func isNameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// checkName returns the §7.3 error name for an invalid name, or "".
func checkName(name string) string {
	if len(name) == 0 {
		return ErrEmptyHeaderName
	}
	rest := name
	if rest[0] == ':' {
		rest = rest[1:]
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c >= 'A' && c <= 'Z' {
			return ErrUppercaseHeaderName
		}
	}
	if len(rest) == 0 {
		return ErrInvalidHeaderName
	}
	for i := 0; i < len(rest); i++ {
		if !isNameChar(rest[i]) {
			return ErrInvalidHeaderName
		}
	}
	return ""
}

// ValidName reports whether name follows the name grammar of §7.2.
func ValidName(name string) bool { return checkName(name) == "" }

// checkValue returns ErrInvalidHeaderValue if v breaks rule 6 or 7 of §7.2.
func checkValue(v string) string {
	if len(v) == 0 {
		return ""
	}
	if v[0] == 0 || v[len(v)-1] == 0 {
		return ErrInvalidHeaderValue
	}
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\r', '\n':
			return ErrInvalidHeaderValue
		case 0:
			if v[i+1] == 0 { // i < len-1 since the last byte is not NUL
				return ErrInvalidHeaderValue
			}
		}
	}
	return ""
}

// decodeBlock decodes a name/value block that fills b exactly, checking the
// rules of §7.2 in the order of §7.3. maxPairs <= 0 means no limit beyond
// rule 1. It returns the error name of the first failure, or "".
func decodeBlock(b []byte, maxPairs int) (Block, string) {
	if len(b) < 4 {
		return nil, ErrHeaderBlockTruncated
	}
	count := binary.BigEndian.Uint32(b)
	// Rule 1, checked before allocating (§7.2).
	if uint64(count) > uint64(len(b)-4)/8 {
		return nil, ErrHeaderCountTooLarge
	}
	if maxPairs > 0 && uint64(count) > uint64(maxPairs) {
		return nil, ErrHeaderCountOverLimit
	}
	block := make(Block, 0, count)
	p := b[4:]
	readString := func() (string, bool) {
		if len(p) < 4 {
			return "", false
		}
		n := binary.BigEndian.Uint32(p)
		if uint64(n) > uint64(len(p)-4) {
			return "", false
		}
		s := string(p[4 : 4+n])
		p = p[4+n:]
		return s, true
	}
	for range count {
		name, ok := readString()
		if !ok {
			return nil, ErrHeaderBlockTruncated
		}
		if e := checkName(name); e != "" {
			return nil, e
		}
		value, ok := readString()
		if !ok {
			return nil, ErrHeaderBlockTruncated
		}
		if e := checkValue(value); e != "" {
			return nil, e
		}
		block = append(block, Field{Name: name, Value: value})
	}
	if len(p) != 0 {
		return nil, ErrHeaderBlockTrailingBytes
	}
	seen := make(map[string]struct{}, len(block))
	for _, f := range block {
		if _, dup := seen[f.Name]; dup {
			return nil, ErrDuplicateHeaderName
		}
		seen[f.Name] = struct{}{}
	}
	return block, ""
}

// blockSize returns the encoded size of b.
func blockSize(b Block) int {
	n := 4
	for _, f := range b {
		n += 8 + len(f.Name) + len(f.Value)
	}
	return n
}

// appendBlock appends the encoding of b. It does not validate the pairs.
func appendBlock(dst []byte, b Block) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	for _, f := range b {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Name)))
		dst = append(dst, f.Name...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Value)))
		dst = append(dst, f.Value...)
	}
	return dst
}

// ValidateBlock checks that b follows every rule of §7.2, returning the §7.3
// error name of the first failure or "". Senders use it before encoding.
func ValidateBlock(b Block) string {
	seen := make(map[string]struct{}, len(b))
	for _, f := range b {
		if e := checkName(f.Name); e != "" {
			return e
		}
		if e := checkValue(f.Value); e != "" {
			return e
		}
		if _, dup := seen[f.Name]; dup {
			return ErrDuplicateHeaderName
		}
		seen[f.Name] = struct{}{}
	}
	return ""
}
