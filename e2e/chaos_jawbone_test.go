package e2e

// The chaos test's Jawbone (chaos_test.go): the fake, behind a front that
// injects faults into the calls Vault makes to the token endpoint, to
// users/@me and to PartnerAppMembership, and traces every one of those calls.
// Each fault is the fake's own (fakejawbone.InjectFault, Times 1), queued as
// the call it is meant for arrives, so that it answers that call (or, now and
// then, a concurrent call to the same endpoint).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// chaosFault is one fault of the catalogue, with its name for the trace.
type chaosFault struct {
	kind  string
	fault fakejawbone.Fault
}

// Bodies of Jawbone's own refusals: answers that prove a call was not carried
// out (docs/operations.md, "What an answer proves").
const (
	chaosTemporarilyUnavailable = `{"error":"temporarily_unavailable","error_description":"the chaos test says later"}`
	chaosInvalidGrant           = `{"error":"invalid_grant","error_description":"the chaos test says no"}`
	chaosAPIUnavailable         = `{"meta":{"code":503,"message":"Service Unavailable","error_type":"unavailable","error_detail":"the chaos test says later"},"data":{}}`
)

// chaosLate is how long after a call reached Jawbone a late completion
// carries it out: past request_timeout (Vault has given up on it by then),
// within twice request_timeout of the call's arrival, the bound the plugin
// assumes (docs/operations.md: "a request it has not completed within twice
// request_timeout is taken never to complete").
func chaosLate(rng *rand.Rand) time.Duration {
	return chaosRequestTimeout + chaosRequestTimeout/20 + time.Duration(rng.IntN(450))*time.Millisecond
}

// tokenFault is a fault of the token endpoint (refreshes and code exchanges).
func tokenFault(rng *rand.Rand) chaosFault {
	switch rng.IntN(9) {
	case 0:
		return chaosFault{"Jawbone's own 503 (temporarily_unavailable)", fakejawbone.Fault{Status: http.StatusServiceUnavailable, Body: chaosTemporarilyUnavailable}}
	case 1:
		return chaosFault{"Jawbone's own invalid_grant", fakejawbone.Fault{Status: http.StatusBadRequest, Body: chaosInvalidGrant}}
	case 2:
		return chaosFault{"a gateway's 502 after Jawbone carried it out", fakejawbone.Fault{Status: http.StatusBadGateway, AfterProcessing: true}}
	case 3:
		return chaosFault{"a gateway's 504 after Jawbone carried it out", fakejawbone.Fault{Status: http.StatusGatewayTimeout, AfterProcessing: true}}
	case 4:
		return chaosFault{"reply lost after Jawbone carried it out", fakejawbone.Fault{LoseReply: true}}
	case 5:
		d := chaosLate(rng)
		return chaosFault{fmt.Sprintf("late completion %s after it arrived", d), fakejawbone.Fault{Delay: d, CompleteAfterHangup: true}}
	case 6:
		after := 1 + rng.IntN(20)
		return chaosFault{fmt.Sprintf("429 Retry-After %d", after), fakejawbone.Fault{Status: http.StatusTooManyRequests, RetryAfter: fmt.Sprint(after)}}
	case 7:
		return chaosFault{"connection dropped, not carried out", fakejawbone.Fault{CloseConnection: true}}
	default:
		d := time.Duration(200+rng.IntN(600)) * time.Millisecond
		return chaosFault{fmt.Sprintf("slow answer (%s)", d), fakejawbone.Fault{Delay: d}}
	}
}

// meFault is a fault of users/@me (the liveness checks, the checks of an
// attempt in doubt, learning an account).
func meFault(rng *rand.Rand) chaosFault {
	switch rng.IntN(6) {
	case 0:
		return chaosFault{"Jawbone's own 503", fakejawbone.Fault{Status: http.StatusServiceUnavailable, Body: chaosAPIUnavailable}}
	case 1:
		after := 1 + rng.IntN(20)
		return chaosFault{fmt.Sprintf("429 Retry-After %d", after), fakejawbone.Fault{Status: http.StatusTooManyRequests, RetryAfter: fmt.Sprint(after)}}
	case 2:
		return chaosFault{"a gateway's 502", fakejawbone.Fault{Status: http.StatusBadGateway}}
	case 3:
		return chaosFault{"connection dropped", fakejawbone.Fault{CloseConnection: true}}
	case 4:
		// Held until Vault hangs up (request_timeout): then answered to nobody.
		return chaosFault{"no answer within request_timeout", fakejawbone.Fault{Delay: 3 * chaosRequestTimeout}}
	default:
		d := time.Duration(200+rng.IntN(600)) * time.Millisecond
		return chaosFault{fmt.Sprintf("slow answer (%s)", d), fakejawbone.Fault{Delay: d}}
	}
}

// membershipFault is a fault of PartnerAppMembership (a revoke's disconnect).
func membershipFault(rng *rand.Rand) chaosFault {
	switch rng.IntN(6) {
	case 0:
		return chaosFault{"Jawbone's own 503", fakejawbone.Fault{Status: http.StatusServiceUnavailable, Body: chaosAPIUnavailable}}
	case 1:
		return chaosFault{"a gateway's 502 after Jawbone carried it out", fakejawbone.Fault{Status: http.StatusBadGateway, AfterProcessing: true}}
	case 2:
		return chaosFault{"reply lost after Jawbone carried it out", fakejawbone.Fault{LoseReply: true}}
	case 3:
		d := chaosLate(rng)
		return chaosFault{fmt.Sprintf("late completion %s after it arrived", d), fakejawbone.Fault{Delay: d, CompleteAfterHangup: true}}
	case 4:
		return chaosFault{"connection dropped, not carried out", fakejawbone.Fault{CloseConnection: true}}
	default:
		after := 1 + rng.IntN(20)
		return chaosFault{fmt.Sprintf("429 Retry-After %d", after), fakejawbone.Fault{Status: http.StatusTooManyRequests, RetryAfter: fmt.Sprint(after)}}
	}
}

// faultStream decides which calls to one endpoint get a fault, and which:
// after each fault, the next 0 to maxGap calls go through clean. Its own
// random stream (from the seed) makes the sequence of faults repeatable.
type faultStream struct {
	rng    *rand.Rand
	pick   func(*rand.Rand) chaosFault
	maxGap int
	calls  int // calls so far
	next   int // the call that gets the next fault
}

// chaosFront serves the fake with faults while it is on.
type chaosFront struct {
	c    *chaos
	fake *Fake
	on   atomic.Bool
	seq  atomic.Int64
	// busy counts the calls the fake has not answered yet (a late
	// completion goes on after Vault hung up).
	busy atomic.Int64

	mu       sync.Mutex
	streams  map[string]*faultStream // by endpoint
	injected map[string]int          // faults injected, by kind
}

func newChaosFront(c *chaos, fake *Fake, seed uint64) *chaosFront {
	stream := func(n uint64, pick func(*rand.Rand) chaosFault, maxGap int) *faultStream {
		rng := rand.New(rand.NewPCG(seed, 0xfa017000+n))
		return &faultStream{rng: rng, pick: pick, maxGap: maxGap, next: 1 + rng.IntN(maxGap+1)}
	}
	return &chaosFront{c: c, fake: fake, injected: map[string]int{},
		streams: map[string]*faultStream{
			fakejawbone.EndpointToken:      stream(1, tokenFault, 6),
			fakejawbone.EndpointMe:         stream(2, meFault, 6),
			fakejawbone.EndpointMembership: stream(3, membershipFault, 2),
		}}
}

// faultClass is a fault's kind without its parameters, for the summary.
func faultClass(kind string) string {
	for _, p := range []string{"429 Retry-After", "late completion", "slow answer"} {
		if strings.HasPrefix(kind, p) {
			return p
		}
	}
	return kind
}

// endpointOf names the fake's endpoint for a request path.
func endpointOf(path string) string {
	switch {
	case strings.HasSuffix(path, "/oauth2/token"):
		return fakejawbone.EndpointToken
	case strings.HasSuffix(path, "/users/@me"):
		return fakejawbone.EndpointMe
	case strings.HasSuffix(path, "/users/@me/PartnerAppMembership"):
		return fakejawbone.EndpointMembership
	case strings.HasSuffix(path, "/users/@me/refreshToken"):
		return fakejawbone.EndpointRefreshToken
	}
	return "other"
}

// inject queues a fault for this call to endpoint, if its stream says so.
func (j *chaosFront) inject(endpoint string) string {
	if !j.on.Load() {
		return ""
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.streams[endpoint]
	if s == nil {
		return ""
	}
	s.calls++
	if s.calls < s.next {
		return ""
	}
	f := s.pick(s.rng)
	f.fault.Times = 1
	s.next = s.calls + 1 + s.rng.IntN(s.maxGap+1)
	j.fake.InjectFault(endpoint, f.fault)
	j.injected[endpoint+": "+faultClass(f.kind)]++
	return f.kind
}

func (j *chaosFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint := endpointOf(r.URL.Path)
	what := describeJawboneCall(r)
	fault := j.inject(endpoint)
	id := j.seq.Add(1)
	j.busy.Add(1)
	defer j.busy.Add(-1)
	began := time.Now()
	sw := &chaosStatusWriter{ResponseWriter: w}
	// Deferred, so that a call the fake ends by aborting the handler (a
	// dropped connection) is traced too; the panic goes on afterwards.
	defer func() {
		outcome := "no reply (connection closed)"
		if sw.status != 0 {
			outcome = fmt.Sprintf("HTTP %d%s", sw.status, sw.issued())
		}
		if r.Context().Err() != nil {
			outcome += ", Vault had hung up"
		}
		if fault != "" {
			fault = " [fault: " + fault + "]"
		}
		j.c.tracef("jawbone", "", "#%d %s %s%s: %s after %s; fake epoch %d",
			id, endpoint, what, fault, outcome, time.Since(began).Round(time.Millisecond), j.fake.Epoch())
	}()
	j.fake.Server.ServeHTTP(sw, r)
}

// describeJawboneCall names a call for the trace, by the tail of the grant
// or token it carries (never a whole token).
func describeJawboneCall(r *http.Request) string {
	if strings.HasSuffix(r.URL.Path, "/oauth2/token") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		switch form.Get("grant_type") {
		case "refresh_token":
			return "refresh of grant …" + tail(form.Get("refresh_token"))
		case "authorization_code":
			return "exchange of code …" + tail(form.Get("code"))
		}
		return "token call " + form.Get("grant_type")
	}
	return r.Method + " with token …" + tail(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
}

// tail is the end of a token: enough to tell tokens apart in a trace.
func tail(s string) string { return s[max(len(s)-6, 0):] }

// chaosStatusWriter records the status of a reply. Unwrap lets the fake
// hijack the connection underneath (a dropped connection, a lost reply).
type chaosStatusWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *chaosStatusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *chaosStatusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := chaosBodyKept - w.body.Len(); room > 0 {
		w.body.Write(p[:min(len(p), room)])
	}
	return w.ResponseWriter.Write(p)
}

// chaosBodyKept is how much of a reply the front keeps, to name the token
// a token reply issued.
const chaosBodyKept = 4 << 10

// issued is the tail of the access token a token reply carries, if any.
func (w *chaosStatusWriter) issued() string {
	var reply struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(w.body.Bytes(), &reply) != nil || reply.AccessToken == "" {
		return ""
	}
	return ", issued …" + tail(reply.AccessToken)
}

func (w *chaosStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
