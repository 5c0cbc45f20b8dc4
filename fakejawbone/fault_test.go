package fakejawbone

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A LoseReply fault lets the request do its work and then drops the
// connection: the client has no reply, and the fake's state has changed.
func TestLoseReply(t *testing.T) {
	cases := []struct {
		name      string
		endpoint  string
		request   func(t *testing.T, base, access, refresh string) *http.Request
		processed func(s *Server, access, refresh string) bool
	}{
		{"refresh", EndpointToken, func(t *testing.T, base, _, refresh string) *http.Request {
			return newRequest(t, http.MethodPost, TokenURL(base), refreshParams(refresh))
		}, func(s *Server, access, _ string) bool { return !s.TokenValid(access) }},
		{"disconnect", EndpointMembership, func(t *testing.T, base, access, _ string) *http.Request {
			req := newRequest(t, http.MethodDelete, membershipURL(base), nil)
			req.Header.Set("Authorization", "Bearer "+access)
			return req
		}, func(s *Server, access, _ string) bool { return !s.TokenValid(access) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, ts := NewTestServer(t, testConfig())
			access, refresh := s.IssueTokens(nil)
			s.InjectFault(c.endpoint, Fault{LoseReply: true, Times: 1})
			resp, err := browser.Do(c.request(t, ts.URL, access, refresh))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got a reply (%d), want the connection dropped", resp.StatusCode)
			}
			if !c.processed(s, access, refresh) {
				t.Errorf("the request was not processed")
			}
		})
	}
}

// With CompleteAfterHangup, a request whose client has gone is still
// processed once its Delay is over; without it, it is dropped unprocessed.
// The fake is handed a request whose context has already ended, as net/http
// does once the client hangs up, so that the order is certain.
func TestCompleteAfterHangup(t *testing.T) {
	cases := []struct {
		name          string
		fault         Fault
		wantProcessed bool
	}{
		{"late completion", Fault{Delay: time.Millisecond, CompleteAfterHangup: true}, true},
		{"late completion of a lost reply", Fault{Delay: time.Millisecond, CompleteAfterHangup: true, LoseReply: true}, true},
		{"hangup ends the delay", Fault{Delay: time.Hour}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, ts := newHungUpServer(t)
			access, refresh := s.IssueTokens(nil)
			s.InjectFault(EndpointToken, c.fault)
			resp, err := browser.PostForm(TokenURL(ts), refreshParams(refresh))
			if err == nil {
				resp.Body.Close()
			}
			if processed := !s.TokenValid(access); processed != c.wantProcessed {
				t.Errorf("processed = %v, want %v", processed, c.wantProcessed)
			}
		})
	}
}

// newHungUpServer serves a new fake to requests whose context has already
// ended, as if each client had hung up at once.
func newHungUpServer(t *testing.T) (*Server, string) {
	t.Helper()
	s := New(testConfig())
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r.WithContext(gone))
	}))
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts.URL
}

// A real hangup: the client gives up during the Delay, and the refresh
// still happens when the Delay is over.
func TestCompleteAfterRealHangup(t *testing.T) {
	s := New(testConfig())
	entered, done := make(chan struct{}, 1), make(chan struct{}, 1)
	ts := startWithHook(t, s, func() { entered <- struct{}{} }, func() { done <- struct{}{} })
	access, refresh := s.IssueTokens(nil)
	s.InjectFault(EndpointToken, Fault{Delay: 200 * time.Millisecond, CompleteAfterHangup: true, Times: 1})

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel() // our side times out while Jawbone is still at work
	}()
	req := newRequest(t, http.MethodPost, TokenURL(ts.URL), refreshParams(refresh)).WithContext(ctx)
	if resp, err := browser.Do(req); !errors.Is(err, context.Canceled) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("error = %v, want the client's cancel", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the delayed refresh never completed")
	}
	if s.TokenValid(access) {
		t.Errorf("the old access token still works: the refresh was not processed")
	}
	if n := s.Calls(EndpointToken); n != 1 {
		t.Errorf("Calls = %d, want 1", n)
	}
}

// Close ends a CompleteAfterHangup Delay, and then nothing is processed,
// whether the client is still there or not.
func TestCloseStopsLateCompletion(t *testing.T) {
	cases := []struct {
		name   string
		hangUp bool
	}{
		{"client waiting", false},
		{"client gone", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := New(testConfig())
			entered, done := make(chan struct{}, 1), make(chan struct{}, 1)
			ts := startWithHook(t, s, func() { entered <- struct{}{} }, func() { done <- struct{}{} })
			access, refresh := s.IssueTokens(nil)
			s.InjectFault(EndpointToken, Fault{Delay: time.Hour, CompleteAfterHangup: true})

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := newRequest(t, http.MethodPost, TokenURL(ts.URL), refreshParams(refresh)).WithContext(ctx)
			status := make(chan int, 1) // 0: no reply
			go func() {
				resp, err := browser.Do(req)
				if err != nil {
					status <- 0
					return
				}
				resp.Body.Close()
				status <- resp.StatusCode
			}()
			<-entered
			if c.hangUp {
				cancel()
				if got := <-status; got != 0 {
					t.Fatalf("the client got a %d, want its own cancel", got)
				}
			}
			s.Close()
			<-done
			if !c.hangUp {
				if got := <-status; got != http.StatusServiceUnavailable {
					t.Errorf("status = %d, want 503", got)
				}
			}
			if !s.TokenValid(access) {
				t.Errorf("the refresh was processed after Close")
			}
		})
	}
}

// AfterProcessing: the request is carried out at the fake, and the client
// gets the gateway's status instead of the reply.
func TestFaultAfterProcessing(t *testing.T) {
	t.Parallel()
	s, ts := NewTestServer(t, testConfig())
	access, refresh := s.IssueTokens(nil)
	s.InjectFault(EndpointToken, Fault{Status: http.StatusGatewayTimeout, AfterProcessing: true, Times: 1})
	r := postForm(t, TokenURL(ts.URL), refreshParams(refresh))
	if r.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", r.status)
	}
	if s.TokenValid(access) {
		t.Fatal("the refresh was not carried out behind the gateway's 504")
	}
}

// RetiredBy tells a token that died before a moment from one that died
// after it, or still works.
func TestRetiredBy(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cfg := testConfig()
	cfg.Now, cfg.TokenLifetime = clock.Now, time.Hour
	s, ts := NewTestServer(t, cfg)
	access, refresh := s.IssueTokens(nil)
	before := s.Epoch()
	if s.RetiredBy(access, before, clock.Now()) {
		t.Fatal("a working token counts as retired")
	}
	tokens(t, postForm(t, TokenURL(ts.URL), refreshParams(refresh)))
	if s.RetiredBy(access, before, clock.Now()) {
		t.Fatal("a token retired after the moment counts as retired by it")
	}
	if !s.RetiredBy(access, s.Epoch(), clock.Now()) {
		t.Fatal("a token retired before the moment does not count as retired")
	}
	if !s.RetiredBy("never-issued", 0, clock.Now()) {
		t.Fatal("a token never issued counts as working")
	}
	other, _ := s.IssueTokens(nil)
	if !s.RetiredBy(other, s.Epoch(), clock.Now().Add(time.Hour)) {
		t.Fatal("an expired token counts as working")
	}
}
