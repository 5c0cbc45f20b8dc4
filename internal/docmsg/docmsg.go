// Package docmsg reads the messages that docs/operations.md quotes in its
// troubleshooting tables, so that tests can assert that each one is a text
// the code (or Vault) really produces. It is used by tests only.
package docmsg

import (
	"regexp"
	"strings"
)

// Message is one quoted message of a troubleshooting table.
type Message struct {
	Section string // the ### heading the table is under
	Text    string // as quoted, placeholders included
	re      *regexp.Regexp
}

// Matches reports whether s contains the message, each placeholder (<name>,
// …) standing for any text.
func (m Message) Matches(s string) bool { return m.re.MatchString(s) }

// placeholder is what a quoted message leaves to be filled in: <name>, or
// an ellipsis for the rest of a long message.
var placeholder = regexp.MustCompile(`<[^<>]+>|…`)

// quoted is one `…` span of a table cell.
var quoted = regexp.MustCompile("`([^`]+)`")

// Troubleshooting returns the messages quoted in the first column of every
// table headed "| Message |" in the "## Troubleshooting" section of
// markdown. A quoted span without a space is a name (an OAuth error code, a
// field), not a message, and is left out.
func Troubleshooting(markdown string) []Message {
	_, rest, ok := strings.Cut(markdown, "\n## Troubleshooting\n")
	if !ok {
		return nil
	}
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	var msgs []Message
	section, inTable := "", false
	for _, line := range strings.Split(rest, "\n") {
		switch {
		case strings.HasPrefix(line, "### "):
			section, inTable = strings.TrimPrefix(line, "### "), false
		case strings.HasPrefix(line, "| Message |"):
			inTable = true
		case !strings.HasPrefix(line, "|"):
			inTable = false
		case inTable && !strings.HasPrefix(line, "|---"):
			msgs = append(msgs, cellMessages(section, firstCell(line))...)
		}
	}
	return msgs
}

func firstCell(row string) string {
	cell, _, _ := strings.Cut(strings.TrimPrefix(row, "|"), " |")
	return cell
}

func cellMessages(section, cell string) []Message {
	var msgs []Message
	for _, m := range quoted.FindAllStringSubmatch(withoutAsides(cell), -1) {
		if !strings.Contains(m[1], " ") {
			continue
		}
		msgs = append(msgs, Message{Section: section, Text: m[1], re: pattern(m[1])})
	}
	return msgs
}

// withoutAsides is cell without its parenthesized remarks, such as "(400,
// from `auth-url`)": what they quote is a path or a command, not the
// message. Parentheses inside a quoted span are the message's own.
func withoutAsides(cell string) string {
	var b strings.Builder
	depth, inQuote := 0, false
	for _, r := range cell {
		switch {
		case r == '`' && depth == 0:
			inQuote = !inQuote
		case inQuote:
		case r == '(':
			depth++
			continue
		case r == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pattern is text as a regular expression, each placeholder matching any
// text.
func pattern(text string) *regexp.Regexp {
	var b strings.Builder
	last := 0
	for _, loc := range placeholder.FindAllStringIndex(text, -1) {
		b.WriteString(regexp.QuoteMeta(text[last:loc[0]]))
		b.WriteString(`(?s:.*?)`)
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(text[last:]))
	return regexp.MustCompile(b.String())
}
