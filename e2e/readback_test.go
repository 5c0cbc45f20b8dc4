package e2e

import (
	"strings"
	"testing"
)

// TestSecretsNeverReadBack: no response of the whole flow, in any output
// format, shows the client secret or a refresh token; config and creds
// reads do not even carry the fields.
func TestSecretsNeverReadBack(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)
	runWholeFlow(t, v, f)

	cfg := v.ReadJSON(mountPath + "/config").Data
	if _, ok := cfg["client_secret"]; ok {
		t.Errorf("config read has a client_secret field: %v", cfg)
	}
	if cfg["client_secret_set"] != true {
		t.Errorf("config read: client_secret_set = %v, want true", cfg["client_secret_set"])
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		if _, ok := cfg[k]; ok {
			t.Errorf("config read has a %s field", k)
		}
	}
	for _, name := range v.ListCreds() {
		data := v.Creds(name)
		for k := range data {
			if strings.Contains(k, "refresh_token") || strings.Contains(k, "secret") {
				t.Errorf("creds/%s read has a %s field", name, k)
			}
		}
	}
	for _, format := range []string{"table", "json", "yaml"} {
		v.MustCLI("read", "-format="+format, mountPath+"/config")
		v.MustCLI("read", "-format="+format, mountPath+"/creds/flow")
	}

	secrets := map[string][]string{
		"client secret": {f.ClientSecret},
		"refresh token": f.SeenRefreshTokens(),
	}
	transcript := v.Transcript()
	if len(transcript) < 30 {
		t.Fatalf("only %d CLI runs recorded; the flow did not run", len(transcript))
	}
	for _, res := range transcript {
		// Our own command lines carry secrets (that is how a user writes
		// them); what Vault answers must not.
		requireNoSecrets(t, "the output of vault "+redactArgs(res.Args), res.Stdout+res.Stderr, secrets)
	}
}

// redactArgs shortens a command line for messages, hiding written values.
func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, _, ok := strings.Cut(a, "="); ok && !strings.HasPrefix(a, "-") {
			a = k + "=..."
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
