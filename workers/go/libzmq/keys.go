package libzmq

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Curve holds the CURVE keys of a worker socket (spec §14.1), each 40 Z85
// characters.
type Curve struct {
	// ServerKey is the router's public key.
	ServerKey string
	// PublicKey is this worker's public key, the one in the router's
	// allowlist.
	PublicKey string
	// SecretKey is this worker's secret key.
	SecretKey string
}

// The Z85 alphabet of ZeroMQ RFC 32.
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// isZ85Key reports whether s is a 32-byte key in Z85: 40 characters of the
// alphabet.
func isZ85Key(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(z85Alphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

func checkKey(s, what string) (string, error) {
	if !isZ85Key(s) {
		return "", fmt.Errorf("%s is not a 40-character Z85 key", what)
	}
	return s, nil
}

// field returns the value of the first `name = "value"` line of a key file
// (the layout `zroute-router keygen` and czmq's certificates use).
func field(text, name string) (string, bool) {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == name {
			v = strings.TrimSpace(v)
			v = strings.TrimPrefix(v, `"`)
			v = strings.TrimSuffix(v, `"`)
			return v, true
		}
	}
	return "", false
}

// ReadServerKey returns the router's public key given as its 40 Z85
// characters, as a .pub file (one key; blank lines, comments and a label
// after the key are ignored) or as a .key file (its public-key line).
func ReadServerKey(arg string) (string, error) {
	// An existing file wins: a 40-character path can be valid Z85 too.
	if isZ85Key(arg) {
		if _, err := os.Stat(arg); errors.Is(err, fs.ErrNotExist) {
			return arg, nil
		}
	}
	raw, err := os.ReadFile(arg)
	if err != nil {
		return "", err
	}
	text := string(raw)
	if v, ok := field(text, "public-key"); ok {
		return checkKey(v, arg+": public-key")
	}
	var words []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (strings.HasPrefix(f[0], "#") && !isZ85Key(f[0])) {
			continue
		}
		words = append(words, f[0])
	}
	if len(words) != 1 {
		return "", fmt.Errorf("%s: expected one public key, found %d", arg, len(words))
	}
	return checkKey(words[0], arg)
}

// LoadCurve returns the CURVE keys from the router's public key (see
// ReadServerKey) and this worker's key file (`public-key = "…"` and
// `secret-key = "…"` lines, as `zroute-router keygen --out NAME` writes to
// NAME.key).
func LoadCurve(serverKey, keyFile string) (*Curve, error) {
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	pub, okPub := field(string(raw), "public-key")
	sec, okSec := field(string(raw), "secret-key")
	if !okPub || !okSec {
		return nil, fmt.Errorf("%s: needs public-key and secret-key lines", keyFile)
	}
	c := &Curve{}
	if c.PublicKey, err = checkKey(pub, keyFile+": public-key"); err != nil {
		return nil, err
	}
	if c.SecretKey, err = checkKey(sec, keyFile+": secret-key"); err != nil {
		return nil, err
	}
	if c.ServerKey, err = ReadServerKey(serverKey); err != nil {
		return nil, err
	}
	return c, nil
}

// Environment variables shared with the Rust and Node workers.
const (
	ServerKeyEnv = "ZROUTE_CURVE_SERVER_KEY"
	KeyEnv       = "ZROUTE_CURVE_KEY"
)

// CurveFromEnv returns the keys named by ZROUTE_CURVE_SERVER_KEY and
// ZROUTE_CURVE_KEY (both or neither), or nil when neither is set.
func CurveFromEnv() (*Curve, error) {
	server, key := os.Getenv(ServerKeyEnv), os.Getenv(KeyEnv)
	if server == "" && key == "" {
		return nil, nil
	}
	if server == "" || key == "" {
		return nil, fmt.Errorf("%s and %s go together", ServerKeyEnv, KeyEnv)
	}
	return LoadCurve(server, key)
}
