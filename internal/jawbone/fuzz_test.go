package jawbone

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// replyTransport answers every request with one canned reply.
type replyTransport struct {
	status      int
	contentType string
	body        []byte
}

func (rt replyTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: rt.status,
		Header:     http.Header{"Content-Type": {rt.contentType}},
		Body:       io.NopCloser(bytes.NewReader(rt.body)),
	}, nil
}

// FuzzTokenReply: whatever the token endpoint answers, a refresh either
// yields a usable token or a classified *Error, and never panics.
func FuzzTokenReply(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"a","token_type":"Bearer","expires_in":31536000,"refresh_token":"r"}`))
	f.Add(200, "application/json", []byte(`{"access_token":"a"}`))
	f.Add(200, "application/json", []byte(`{"error":"invalid_grant"}`))
	f.Add(400, "application/json", []byte(`{"error":"invalid_client","error_description":"x"}`))
	f.Add(200, "text/plain", []byte(`access_token=a&expires_in=10`))
	f.Add(200, "application/x-www-form-urlencoded", []byte(`%zz`))
	f.Add(503, "text/html", []byte(`<html>down</html>`))
	f.Add(429, "application/json", []byte(``))
	f.Add(200, "application/json", []byte(`{"access_token":`))
	f.Add(200, "application/json", []byte(`{"access_token":"a","expires_in":-5}`))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		client := New(Config{ClientID: "c", ClientSecret: "s",
			TokenURL: "https://jawbone.invalid/token", Timeout: time.Second,
			Transport: replyTransport{status: status, contentType: contentType, body: body}})
		tok, err := client.Refresh(context.Background(), "r")
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not classified", err, err)
			}
			if strings.Contains(err.Error(), "\x00") {
				t.Fatalf("error carries raw control bytes: %q", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.ExpiresIn <= 0 {
			t.Fatalf("accepted an unusable token %+v from %d %q", tok, status, body)
		}
	})
}
