package docmsg

import "testing"

const sample = `# Ops

## Troubleshooting

Intro with ` + "`a quoted span`" + ` outside any table.

### ` + "`config`" + `

| Message | Cause | What to do |
|---|---|---|
| ` + "`<field> is required; set it`" + ` (at ` + "`secrets enable`" + ` (or a ` + "`vault read`" + `)) | x | ` + "`vault write a b`" + ` |
| Warning or 400 naming ` + "`invalid_client`" + ` | x | y |
| ` + "`state expired at <time> (a state lives 10m0s)`" + ` / ` + "`the query has … parameters`" + ` | x | y |

| Kind | Status | Remedy |
|---|---|---|
| ` + "`not a message column`" + ` | 400 | z |

## Next

| Message | Cause | What to do |
|---|---|---|
| ` + "`after the section`" + ` | x | y |
`

func TestTroubleshooting(t *testing.T) {
	msgs := Troubleshooting(sample)
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.Text)
		if m.Section != "`config`" {
			t.Errorf("%q: section %q", m.Text, m.Section)
		}
	}
	want := []string{"<field> is required; set it", "state expired at <time> (a state lives 10m0s)", "the query has … parameters"}
	if len(texts) != len(want) {
		t.Fatalf("messages %q, want %q", texts, want)
	}
	for i := range want {
		if texts[i] != want[i] {
			t.Errorf("message %d = %q, want %q", i, texts[i], want[i])
		}
	}
	for _, tc := range []struct {
		msg  int
		text string
		want bool
	}{
		{0, `error: client_id is required; set it with vault write`, true},
		{0, `client_id is needed`, false},
		{1, "state expired at 2026-01-01T00:00:00Z (a state lives 10m0s), start again", true},
		{1, "state expired at 2026 (a state lives 10m)", false},
		{2, "the query has 2 \"code\" parameters", true},
	} {
		if got := msgs[tc.msg].Matches(tc.text); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", msgs[tc.msg].Text, tc.text, got, tc.want)
		}
	}
}
