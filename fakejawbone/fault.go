package fakejawbone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault changes how the fake answers requests to one endpoint. Its parts
// combine in this order:
//
//  1. Wait Delay. The wait ends early when the Server is closed (the reply
//     is a 503 and the request is not processed) and, unless
//     CompleteAfterHangup is set, when the client goes away (then nothing
//     is processed or sent).
//  2. Add Header's fields, then Retry-After, to the reply. Fields the reply
//     sets itself (Content-Type, Content-Length) replace Header's.
//  3. Answer with the first of CloseConnection, LoseReply, OversizeBytes,
//     Body or Status that is set; with none of them, the real handler
//     answers. Only LoseReply, AfterProcessing and the real handler process
//     the request: change the fake's state, as a refresh retires the old
//     access token.
//
// A fault with none of the five (only Delay, Header and/or RetryAfter) so
// lets the real handler answer after it.
type Fault struct {
	Status          int           // reply status; 0 = 200 with Body, or the real handler if there is no Body
	Body            string        // raw body to send instead of the real reply
	ContentType     string        // default application/json when Body is set
	Header          http.Header   // extra reply header fields, e.g. Location with Status 302 for a redirect
	RetryAfter      string        // Retry-After header value
	Delay           time.Duration // wait before answering; ends early when the Server is closed, or the client goes (see CompleteAfterHangup)
	DripBody        bool          // write Body one byte at a time, DripInterval apart
	DripInterval    time.Duration // pause between dripped bytes
	OversizeBytes   int           // send a JSON-looking body this many bytes long (status 200 unless Status is set)
	CloseConnection bool          // close the TCP connection without any reply (the request is not processed)
	Times           int           // how many requests this fault answers; 0 = all of them until ClearFaults

	// CompleteAfterHangup waits out all of Delay even if the client hangs
	// up meanwhile (its side timed out), and then goes on: the request is
	// processed late and its reply goes nowhere. Close still ends the wait,
	// and then nothing is processed.
	CompleteAfterHangup bool
	// LoseReply has the real handler process the request, then closes the
	// connection without sending its reply: the client cannot tell whether
	// anything happened.
	LoseReply bool
	// AfterProcessing has the real handler process the request, then sends
	// Status (and Body, if set) instead of its reply: a gateway that gave up
	// waiting (a 502 or 504) while Jawbone carried on.
	AfterProcessing bool
}

// queuedFault is a Fault waiting in an endpoint's queue.
type queuedFault struct {
	fault Fault
	left  int
}

var errClosed = errors.New("fake jawbone closed")

// InjectFault queues f for endpoint: it applies to the next f.Times requests
// to the endpoint, after the faults queued before it are used up. A fault
// with Times 0 stays until ClearFaults, and so hides any queued after it.
// An unknown endpoint name panics: a typo must not make a test pass
// without its fault.
func (s *Server) InjectFault(endpoint string, f Fault) {
	if !isEndpoint(endpoint) {
		panic(fmt.Sprintf("fakejawbone: InjectFault: unknown endpoint %q", endpoint))
	}
	if f.Times < 0 {
		panic("fakejawbone: InjectFault: negative Times")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = append(s.faults[endpoint], &queuedFault{fault: f, left: f.Times})
}

// ClearFaults removes every queued fault of every endpoint.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

func isEndpoint(name string) bool {
	for _, e := range routes {
		if e == name {
			return true
		}
	}
	return false
}

// nextFault takes the fault due for this request to endpoint, if any.
func (s *Server) nextFault(endpoint string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queue := s.faults[endpoint]
	if len(queue) == 0 {
		return Fault{}, false
	}
	head := queue[0]
	if head.fault.Times > 0 {
		head.left--
		if head.left == 0 {
			s.faults[endpoint] = queue[1:]
		}
	}
	return head.fault, true
}

// applyFault answers the request as f says; serve is the endpoint's real
// handler.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault, serve http.HandlerFunc) {
	bufferBody(r)
	if err := s.wait(r.Context(), f); err != nil {
		if errors.Is(err, errClosed) {
			http.Error(w, "fake jawbone is shutting down", http.StatusServiceUnavailable)
		}
		return // otherwise the client is gone: nobody to answer
	}
	addHeaders(w, f)
	if f.AfterProcessing {
		serve(discardWriter{header: http.Header{}}, r)
	}
	switch {
	case f.CloseConnection:
		closeConnection(w)
	case f.LoseReply:
		serve(discardWriter{header: http.Header{}}, r)
		closeConnection(w)
	case f.OversizeBytes > 0:
		writeOversize(w, f)
	case f.Body != "":
		s.writeFaultBody(r.Context(), w, f)
	case f.Status != 0:
		http.Error(w, http.StatusText(f.Status), f.Status)
	default:
		serve(w, r)
	}
}

// wait holds the request for f.Delay. A client hanging up ends the wait
// unless f.CompleteAfterHangup: a real server that has begun a request
// finishes it whether or not anyone still listens.
func (s *Server) wait(ctx context.Context, f Fault) error {
	if f.CompleteAfterHangup {
		ctx = context.WithoutCancel(ctx)
	}
	return s.pause(ctx, f.Delay)
}

// addHeaders puts f's extra header fields on the reply, Retry-After last so
// that it wins over a Retry-After in f.Header.
func addHeaders(w http.ResponseWriter, f Fault) {
	for key, values := range f.Header {
		w.Header()[http.CanonicalHeaderKey(key)] = slices.Clone(values)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
}

// discardWriter is a reply that goes nowhere: a LoseReply fault's real
// handler answers into it.
type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header       { return d.header }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// bufferBody reads the request body now and puts a copy back for the real
// handler. net/http only notices a client hanging up (and ends the request
// context) once the body has been read to the end, so without this a POST
// held in a Delay or a drip would outlive its client. A body too big for any
// handler is left as it is.
func bufferBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	rest := r.Body
	if err == nil && len(buf) <= maxFormBytes {
		rest = http.NoBody
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), rest), r.Body}
}

// pause waits for d, or less if the client goes away (ctx ends) or the
// Server is closed; it then returns why it stopped early.
func (s *Server) pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errClosed
	}
}

// closeConnection drops the TCP connection without a reply. If the writer
// cannot be hijacked (a wrapping ResponseWriter, HTTP/2), aborting the
// handler has net/http close the connection or reset the stream instead.
func closeConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// writeOversize sends a body that starts like a token reply and goes on for
// f.OversizeBytes bytes, to test that clients bound what they read. It is
// streamed, so a huge size needs no huge buffer, and it stops when the
// client stops reading.
func writeOversize(w http.ResponseWriter, f Fault) {
	const head, tail = `{"access_token":"`, `"}`
	n := f.OversizeBytes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(statusOr200(f.Status))
	pad := io.LimitReader(repeatByte('x'), int64(max(n-len(head)-len(tail), 0)))
	// CopyN cuts the frame short when n is below the frame's own length.
	_, _ = io.CopyN(w, io.MultiReader(strings.NewReader(head), pad, strings.NewReader(tail)), int64(n))
}

// repeatByte is an endless stream of one byte.
type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// writeFaultBody sends f.Body, dripping it byte by byte if asked, so that
// clients' read timeouts can be tested.
func (s *Server) writeFaultBody(ctx context.Context, w http.ResponseWriter, f Fault) {
	ct := f.ContentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(statusOr200(f.Status))
	if !f.DripBody {
		w.Write([]byte(f.Body))
		return
	}
	rc := http.NewResponseController(w)
	for i := range len(f.Body) {
		if i > 0 && s.pause(ctx, f.DripInterval) != nil {
			return
		}
		if _, err := w.Write([]byte{f.Body[i]}); err != nil {
			return
		}
		rc.Flush() // an unflushable writer only loses the dripping, not the body
	}
}

func statusOr200(status int) int {
	if status == 0 {
		return http.StatusOK
	}
	return status
}
