package libzmq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Keys in the layouts `zroute-router keygen --out NAME` writes (the keys
// are the well-known examples of libzmq's CURVE tests; files written by a
// real keygen are read by the CURVE test in cmd/testapp).
const (
	serverPub = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	clientPub = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
	clientSec = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadServerKey(t *testing.T) {
	keyFile := writeFile(t, "router.key", "public-key = \""+serverPub+"\"\nsecret-key = \""+clientSec+"\"\n")
	czmqCert := writeFile(t, "router_secret", "#   ZeroMQ CURVE **Secret** Certificate\n\nmetadata\ncurve\n    public-key = \""+serverPub+"\"\n    secret-key = \""+clientSec+"\"\n")
	for name, arg := range map[string]string{
		"literal":          serverPub,
		".pub":             writeFile(t, "router.pub", serverPub+"\n"),
		".pub, label":      writeFile(t, "label.pub", "# the router\n\n"+serverPub+"  router-1\n"),
		".key":             keyFile,
		"czmq certificate": czmqCert,
	} {
		got, err := ReadServerKey(arg)
		if err != nil || got != serverPub {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	for name, c := range map[string]struct{ arg, err string }{
		"missing file":  {filepath.Join(t.TempDir(), "missing.pub"), "no such file"},
		"two keys":      {writeFile(t, "two.pub", serverPub+"\n"+clientPub+"\n"), "expected one public key, found 2"},
		"empty":         {writeFile(t, "empty.pub", "\n# nothing\n"), "found 0"},
		"short key":     {writeFile(t, "short.pub", "abc\n"), "not a 40-character Z85 key"},
		"bad character": {writeFile(t, "bad.pub", strings.Repeat("~", 40)+"\n"), "not a 40-character Z85 key"},
		"bad key line":  {writeFile(t, "bad.key", "public-key = \"short\"\n"), "public-key is not a 40-character Z85 key"},
	} {
		_, err := ReadServerKey(c.arg)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.err)
		}
	}
}

func TestLoadCurve(t *testing.T) {
	pair := writeFile(t, "w.key", "# keygen\npublic-key = \""+clientPub+"\"\nsecret-key = \""+clientSec+"\"\n")
	c, err := LoadCurve(serverPub, pair)
	if err != nil {
		t.Fatal(err)
	}
	if *c != (Curve{ServerKey: serverPub, PublicKey: clientPub, SecretKey: clientSec}) {
		t.Fatalf("%+v", c)
	}
	for name, c := range map[string]struct{ server, pair, err string }{
		"no secret":   {serverPub, writeFile(t, "pub-only.key", "public-key = \""+clientPub+"\"\n"), "needs public-key and secret-key"},
		"bad secret":  {serverPub, writeFile(t, "bad.key", "public-key = \""+clientPub+"\"\nsecret-key = \"short\"\n"), "secret-key is not a 40-character Z85 key"},
		"bad server":  {"not-a-key", pair, "no such file"},
		"no key file": {serverPub, filepath.Join(t.TempDir(), "none.key"), "no such file"},
	} {
		_, err := LoadCurve(c.server, c.pair)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.err)
		}
	}
}

func TestCurveFromEnv(t *testing.T) {
	pair := writeFile(t, "w.key", "public-key = \""+clientPub+"\"\nsecret-key = \""+clientSec+"\"\n")
	t.Setenv(ServerKeyEnv, "")
	t.Setenv(KeyEnv, "")
	if c, err := CurveFromEnv(); c != nil || err != nil {
		t.Fatalf("neither set: %v, %v", c, err)
	}
	t.Setenv(KeyEnv, pair)
	if _, err := CurveFromEnv(); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("one set: %v", err)
	}
	t.Setenv(ServerKeyEnv, serverPub)
	if c, err := CurveFromEnv(); err != nil || c.PublicKey != clientPub || c.ServerKey != serverPub {
		t.Fatalf("both set: %+v, %v", c, err)
	}
}
