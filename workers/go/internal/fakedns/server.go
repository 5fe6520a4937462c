// Package fakedns is a tiny DNS server for tests of named endpoints
// (spec/PROTOCOL.md §3.5): it answers A, AAAA and SRV questions over UDP on
// 127.0.0.1 from a table that the test changes while a worker runs, or
// fails every question with SERVFAIL, and counts the questions it answers so
// that a test can wait for lookups (no sleeps).
package fakedns

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Timeout bounds every wait.
const Timeout = 10 * time.Second

// SRV is one SRV record.
type SRV struct {
	Port   uint16
	Target string
}

type count struct {
	qtype dnsmessage.Type
	rcode dnsmessage.RCode
}

// Server is the test nameserver.
type Server struct {
	// Addr is the server's "IP:PORT", for Worker.Nameserver.
	Addr string
	t    testing.TB

	mu       sync.Mutex
	hosts    map[string][]netip.Addr
	srvs     map[string][]SRV
	servfail bool
	counts   map[count]int
	changed  chan struct{} // closed and replaced after every answer
}

// Start binds a UDP port on 127.0.0.1 and answers until test cleanup. Names
// the table does not have get NXDOMAIN; a name it has gets its records of
// the question's type, which may be none (NOERROR with an empty answer).
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fakedns: %v", err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), t: t, hosts: map[string][]netip.Addr{},
		srvs: map[string][]SRV{}, counts: map[count]int{}, changed: make(chan struct{})}
	go s.serve(pc)
	t.Cleanup(func() { pc.Close() })
	return s
}

func fqdn(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

// SetAddrs makes name's A (IPv4) and AAAA (IPv6) records addrs.
func (s *Server) SetAddrs(name string, addrs ...string) {
	list := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		list[i] = netip.MustParseAddr(a)
	}
	s.mu.Lock()
	s.hosts[fqdn(name)] = list
	s.mu.Unlock()
}

// SetSRV makes name's SRV records records.
func (s *Server) SetSRV(name string, records ...SRV) {
	s.mu.Lock()
	s.srvs[fqdn(name)] = records
	s.mu.Unlock()
}

// Remove deletes name from the table: it gets NXDOMAIN.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	delete(s.hosts, fqdn(name))
	delete(s.srvs, fqdn(name))
	s.mu.Unlock()
}

// SetServfail makes every answer SERVFAIL (on) or answers from the table.
func (s *Server) SetServfail(on bool) {
	s.mu.Lock()
	s.servfail = on
	s.mu.Unlock()
}

// Count is the number of questions of type qtype answered with rcode.
func (s *Server) Count(qtype dnsmessage.Type, rcode dnsmessage.RCode) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[count{qtype, rcode}]
}

// Wait returns once cond is true, checking after every answer; it fails
// the test after Timeout.
func (s *Server) Wait(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.After(Timeout)
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			s.t.Fatalf("fakedns: timed out waiting for %s", what)
		}
	}
}

func (s *Server) serve(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			pc.WriteTo(resp, from)
		}
	}
}

func (s *Server) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := fqdn(q.Name.String())
	addrs, isHost := s.hosts[name]
	srvs, isSRV := s.srvs[name]
	// Authoritative, or Go's resolver takes an empty answer for a lame
	// referral.
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	switch {
	case s.servfail:
		rh.RCode = dnsmessage.RCodeServerFailure
	case !isHost && !isSRV:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	if rh.RCode == dnsmessage.RCodeSuccess {
		rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
		switch q.Type {
		case dnsmessage.TypeA:
			for _, a := range addrs {
				if a.Is4() {
					b.AResource(rr, dnsmessage.AResource{A: a.As4()})
				}
			}
		case dnsmessage.TypeAAAA:
			for _, a := range addrs {
				if a.Is6() {
					b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: a.As16()})
				}
			}
		case dnsmessage.TypeSRV:
			for _, r := range srvs {
				b.SRVResource(rr, dnsmessage.SRVResource{Priority: 10, Weight: 1, Port: r.Port,
					Target: dnsmessage.MustNewName(fqdn(r.Target))})
			}
		}
	}
	msg, err := b.Finish()
	if err != nil {
		s.t.Errorf("fakedns: %v", err)
		return nil
	}
	s.counts[count{q.Type, rh.RCode}]++
	close(s.changed)
	s.changed = make(chan struct{})
	return msg
}
