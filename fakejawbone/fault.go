package fakejawbone

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault changes how the fake answers requests to one endpoint. The parts
// combine in this order: wait Delay, add the Retry-After header, then answer
// with the first of CloseConnection, OversizeBytes, Body or Status that is
// set. A fault with none of those four (only Delay and/or RetryAfter) lets
// the real handler answer after it.
type Fault struct {
	Status          int           // reply status; 0 = 200 with Body, or the real handler if there is no Body
	Body            string        // raw body to send instead of the real reply
	ContentType     string        // default application/json when Body is set
	RetryAfter      string        // Retry-After header value
	Delay           time.Duration // wait before answering; ends early when the client goes or the Server is closed
	DripBody        bool          // write Body one byte at a time, DripInterval apart
	DripInterval    time.Duration // pause between dripped bytes
	OversizeBytes   int           // send a JSON-looking body this many bytes long (status 200 unless Status is set)
	CloseConnection bool          // close the TCP connection without any reply
	Times           int           // how many requests this fault answers; 0 = all of them until ClearFaults
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

// applyFault answers the request as f says and reports whether it did;
// false means the real handler should answer.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	bufferBody(r)
	if err := s.pause(r.Context(), f.Delay); err != nil {
		if errors.Is(err, errClosed) {
			http.Error(w, "fake jawbone is shutting down", http.StatusServiceUnavailable)
		}
		return true // otherwise the client is gone: nobody to answer
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case f.CloseConnection:
		closeConnection(w)
	case f.OversizeBytes > 0:
		writeOversize(w, f)
	case f.Body != "":
		s.writeFaultBody(r.Context(), w, f)
	case f.Status != 0:
		http.Error(w, http.StatusText(f.Status), f.Status)
	default:
		return false
	}
	return true
}

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
