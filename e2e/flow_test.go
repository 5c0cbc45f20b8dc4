package e2e

import (
	"testing"
)

// runWholeFlow drives every operation of the engine with the CLI, the
// failing ones included, so the secrets tests can look at everything Vault
// printed, logged and audited along the way.
func runWholeFlow(t *testing.T, v *Vault, f *Fake) {
	t.Helper()
	// Config: on the command line, then a kiefer file carrying tokens.
	v.ConfigureFor(f, "scopes=basic_read,move_read", "refresh_ahead=1h")
	access, refresh := f.Issue("basic_read", "move_read")
	v.MustCLI("write", mountPath+"/config", "@"+kieferFile(t, f, map[string]string{
		"access_token": access, "refresh_token": refresh,
	}))
	v.MustCLI("read", mountPath+"/config")
	v.MustCLI("read", "-format=json", mountPath+"/config")

	// The authorization flow, and its reads.
	authURL, state := v.AuthURL("name=flow")
	loc := f.Visit(t, authURL)
	v.MustCLI("write", mountPath+"/exchange", "redirect_url="+loc)
	v.MustCLI("read", mountPath+"/creds/flow")
	v.MustCLI("read", "-format=json", mountPath+"/creds/flow")
	v.MustCLI("read", "-field=access_token", mountPath+"/creds/flow")
	v.MustCLI("write", "-f", mountPath+"/creds/flow/refresh")
	v.MustCLI("write", "-format=json", "-f", mountPath+"/creds/flow/refresh")
	v.MustCLI("list", mountPath+"/creds")

	// The second way in: code and state given separately.
	authURL, _ = v.AuthURL("name=split")
	q := mustQuery(t, f.Visit(t, authURL))
	v.MustCLI("write", mountPath+"/exchange", "code="+q.Get("code"), "state="+q.Get("state"))

	// Imports.
	a1, _ := f.Issue()
	v.MustCLI("write", mountPath+"/creds/imp-access", "access_token="+a1)
	_, r2 := f.Issue()
	v.MustCLI("write", mountPath+"/creds/imp-refresh", "refresh_token="+r2)
	a3, r3 := f.Issue()
	v.MustCLI("write", "-format=json", mountPath+"/creds/imp-both", "access_token="+a3, "refresh_token="+r3,
		"expires_at=2099-01-01T00:00:00Z")
	v.MustCLI("read", mountPath+"/creds/imp-both")

	// Failures that carry secrets in the request: their errors must not
	// echo them. a1 was superseded by its import's refresh.
	requireCode(t, v.CLI("write", mountPath+"/creds/bad-access", "access_token="+a1), 2)
	requireCode(t, v.CLI("write", mountPath+"/creds/bad-refresh", "refresh_token=bogus-"+r2), 2)
	requireCode(t, v.CLI("write", mountPath+"/exchange", "redirect_url="+loc), 2) // replay
	requireCode(t, v.CLI("write", mountPath+"/exchange", "code=x", "state="+state), 2)
	f.SetDeny(true)
	denied := f.Visit(t, mustFirst(v.AuthURL("name=denied")))
	f.SetDeny(false)
	requireCode(t, v.CLI("write", mountPath+"/exchange", "redirect_url="+denied), 2)

	// And the end of a grant.
	v.MustCLI("delete", mountPath+"/creds/imp-refresh")
}

func requireCode(t *testing.T, res CLIResult, want int) {
	t.Helper()
	if res.Code != want {
		t.Errorf("want exit code %d:\n%s", want, res)
	}
}

func mustFirst(a, _ string) string { return a }
