package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIDeclaresTheReplies: Vault's OpenAPI document, for the mount's
// operations, declares the fields of the replies, so that generated clients
// and the UI see typed replies rather than a bare 200. Each reply's schema
// is the component named after its operation (Vault 1.21 drops an external
// plugin's "$ref" from the operation itself when it decodes the plugin's
// document, but keeps the components).
func TestOpenAPIDeclaresTheReplies(t *testing.T) {
	v := StartVaultWithPlugin(t)
	a := apiOf(v)
	r := a.must(t, http.MethodGet, "sys/internal/specs/openapi", nil)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("the OpenAPI document does not parse: %v", err)
	}
	cases := []struct {
		path, method string
		fields       []string
	}{
		{"/" + mountPath + "/creds/{name}", "get", []string{"access_token", "expires_at", "expires_in", "ttl", "rotation_period", "account_xid", "needs_reauthorization"}},
		{"/" + mountPath + "/auth-url", "get", []string{"url", "state", "expires_at", "name", "scopes", "callback_in_use"}},
		{"/" + mountPath + "/exchange", "post", []string{"name", "scopes", "expires_at", "account_xid"}},
		{"/" + mountPath + "/creds/{name}/status", "get", []string{"expires_at", "last_error", "account_xid"}},
	}
	for _, c := range cases {
		op, ok := doc.Paths[c.path][c.method]
		if !ok {
			t.Errorf("the OpenAPI document has no %s %s (paths: %v)", c.method, c.path, mountPaths(doc.Paths))
			continue
		}
		var spec struct {
			OperationID string `json:"operationId"`
		}
		if err := json.Unmarshal(op, &spec); err != nil {
			t.Fatal(err)
		}
		name := titleCase(spec.OperationID) + "Response"
		schema, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("%s %s (%s): no reply schema %q in the components", c.method, c.path, spec.OperationID, name)
			continue
		}
		for _, f := range c.fields {
			if _, ok := schema.Properties[f]; !ok {
				t.Errorf("%s %s: the reply schema %q does not name %q: %v", c.method, c.path, name, f, schema.Properties)
			}
		}
	}
}

// titleCase is how Vault names an operation's schemas: jawbone-read-creds
// is JawboneReadCreds.
func titleCase(operationID string) string {
	var b strings.Builder
	for _, part := range strings.Split(operationID, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func mountPaths(paths map[string]map[string]json.RawMessage) []string {
	var out []string
	for p := range paths {
		if strings.HasPrefix(p, "/"+mountPath+"/") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
