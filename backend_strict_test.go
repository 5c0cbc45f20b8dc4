package jawbone

import (
	"reflect"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// A misspelt or invented field is refused on every operator path, before
// anything happens: no state, no token call, no write.
func TestUnknownFieldsAreRefused(t *testing.T) {
	cases := []struct {
		op   logical.Operation
		path string
		data map[string]any
		want string
	}{
		{logical.ReadOperation, "auth-url", map[string]any{"nam3": "x"}, `unknown field "nam3"`},
		{logical.UpdateOperation, "exchange", map[string]any{"redirect_uri": "x"}, `unknown field "redirect_uri"`},
		{logical.UpdateOperation, "creds/me", map[string]any{"refreshtoken": "x"}, `unknown field "refreshtoken"`},
		{logical.UpdateOperation, "creds/me/refresh", map[string]any{"force": true}, `unknown field "force"`},
		{logical.ReadOperation, "creds/me", map[string]any{"version": 2}, `unknown field "version"`},
		{logical.ReadOperation, "status", map[string]any{"fmt": "prometheus"}, `unknown field "fmt"`},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			e := newTestEnv(t)
			e.configure()
			e.authorize("me")
			before := e.snapshot()
			e.fake.ResetCalls()
			e.mustFail(tc.op, tc.path, tc.data, 400, tc.want, tc.path+" takes only")
			if e.fake.Calls(fakejawbone.EndpointToken) != 0 {
				t.Fatal("a refused request called Jawbone")
			}
			if after := e.snapshot(); !reflect.DeepEqual(before, after) {
				t.Fatal("a refused request changed storage")
			}
		})
	}
}
