package jawbone

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/internal/docmsg"
)

// shown is every text a reply in this package's tests showed a person: the
// errors, the warnings and the callback's pages.
var shown shownTexts

type shownTexts struct {
	mu    sync.Mutex
	texts []string
}

func (s *shownTexts) note(resp *logical.Response, err error) {
	var texts []string
	if err != nil {
		texts = append(texts, err.Error())
	}
	if resp != nil {
		if resp.IsError() {
			texts = append(texts, resp.Error().Error())
		}
		texts = append(texts, resp.Warnings...)
		if page, ok := resp.Data[logical.HTTPRawBody].([]byte); ok {
			texts = append(texts, pageText(string(page)))
		}
	}
	s.mu.Lock()
	s.texts = append(s.texts, texts...)
	s.mu.Unlock()
}

// unmatched is the messages no shown text matches.
func (s *shownTexts) unmatched(msgs []docmsg.Message) []docmsg.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []docmsg.Message
	for _, m := range msgs {
		if !slicesAny(s.texts, m.Matches) {
			missing = append(missing, m)
		}
	}
	return missing
}

func slicesAny(texts []string, match func(string) bool) bool {
	for _, t := range texts {
		if match(t) {
			return true
		}
	}
	return false
}

// vaultsOwn is the troubleshooting section that quotes Vault's messages,
// not the plugin's: e2e/docs_test.go asserts those against a real Vault.
const vaultsOwn = "Install, register, enable"

// TestMain runs the tests, then, when all of them ran, checks that every
// message docs/operations.md quotes in its troubleshooting tables was shown
// by some reply: a message the code no longer produces (or produces in
// other words) fails the run, naming the message.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		if err := checkQuotedMessages(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: docs/operations.md:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func checkQuotedMessages() error {
	raw, err := os.ReadFile("docs/operations.md")
	if err != nil {
		return err
	}
	var plugin []docmsg.Message
	for _, m := range docmsg.Troubleshooting(string(raw)) {
		if m.Section != vaultsOwn {
			plugin = append(plugin, m)
		}
	}
	if len(plugin) < 40 {
		return fmt.Errorf("found only %d quoted messages in its troubleshooting tables: has their format changed?", len(plugin))
	}
	if dump := os.Getenv("SHOWN_DUMP"); dump != "" {
		shown.mu.Lock()
		_ = os.WriteFile(dump, []byte(strings.Join(shown.texts, "\n----\n")), 0o600)
		shown.mu.Unlock()
	}
	missing := shown.unmatched(plugin)
	if len(missing) == 0 {
		return nil
	}
	var b strings.Builder
	for _, m := range missing {
		fmt.Fprintf(&b, "\n  [%s] %s", m.Section, m.Text)
	}
	return errors.New("these quoted messages were shown by no reply in the tests (fix the docs, or the code, or add the test that shows them):" + b.String())
}
