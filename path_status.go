package jawbone

import (
	"context"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/prometheus/common/expfmt"
)

const (
	formatPrometheus = "prometheus"
	descFormat       = `Output format: "json" (default) or "prometheus" (text exposition format 0.0.4).`
)

const pathStatusSynopsis = "Health and metrics of the Jawbone engine on this node."

const pathStatusHelp = `
Counters and gauges for monitoring, as JSON or, with format=prometheus, in
the Prometheus text format:

    $ vault read jawbone/status
    $ vault read -format=raw jawbone/status format=prometheus
    $ curl -H "X-Vault-Token: $TOKEN" "$VAULT_ADDR/v1/jawbone/status?format=prometheus"

(The Prometheus text needs -format=raw: without it the CLI tries to read
the reply as JSON and fails with "invalid character '#'".)

  refresh_total_success / _transient_failure / _permanent_failure /
  refresh_total_client_rejected
      token refreshes by result (jawbone_refresh_total{result=...})
  exchange_total_success / _failure
      authorization-code exchanges by result (jawbone_exchange_total)
  last_refresh_timestamp_seconds       last successful refresh (Unix time)
  tokens_found_dead_total              tokens another client killed, found
                                       by the liveness checks
  background_scan_timestamp_seconds    when the last background tick ended
  background_scan_duration_seconds     how long it took
  background_tick_attended             creds it refreshed or settled
  background_tick_checked              liveness checks it made

The creds on the mount, kept with every write (no scan):

  creds                                creds on the mount
  creds_needing_reauthorization        creds Jawbone rejected: for each, run
                                       auth-url and exchange again
  creds_failing                        creds whose last refresh or check
                                       failed and is being retried
  creds_in_doubt                       creds with a refresh whose outcome
                                       is not known yet
  liveness_longest_wait_seconds        since Jawbone last accepted the token
                                       checked longest ago
  creds_schedule_loaded                0 while this node loads its schedule
                                       after a start (the figures above are
                                       partial until then), then 1
  creds_schedule_load_remaining        creds still to load
  creds_sharing_a_grant                creds found holding another's grant
  index_entries_repaired_total         index entries the repair fixed
  cache_entries, cache_bytes           what this node caches
  cache_budget_bytes                   the cache's budget in force: the
                                       mount option cache_size as the
                                       plugin last started with it

The counters are this node's, since the plugin last started: each node of a
cluster counts what it did, and a restart or plugin reload resets them. The
creds figures are those of the node that can write (the one that runs the
background). Per-creds health (last_refreshed_at, last_error,
next_refresh_attempt_at, needs_reauthorization) is in each
jawbone/creds/<name>/status read.
`

func (b *backend) pathStatus() *framework.Path {
	return &framework.Path{
		Pattern: "status$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "jawbone", OperationSuffix: "status",
		},
		Fields: map[string]*framework.FieldSchema{
			keyFormat: {Type: framework.TypeString, Description: descFormat, Default: "json",
				AllowedValues: []any{"json", formatPrometheus},
				DisplayAttrs:  &framework.DisplayAttributes{Name: "Format"}},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: replies(readOp(b.handleStatus, every), statusReplyFields),
		},
		HelpSynopsis:    pathStatusSynopsis,
		HelpDescription: strings.TrimSpace(pathStatusHelp),
	}
}

func (b *backend) handleStatus(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	switch format := d.Get(keyFormat).(string); format {
	case "json":
		data, err := b.metrics.jsonView()
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: data}, nil
	case formatPrometheus:
		text, err := b.metrics.prometheus()
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{
			logical.HTTPContentType: string(expfmt.NewFormat(expfmt.TypeTextPlain)),
			logical.HTTPRawBody:     text,
			logical.HTTPStatusCode:  http.StatusOK,
		}}, nil
	default:
		return nil, badRequest(`%s must be "json" or %q; got %q`, keyFormat, formatPrometheus, format)
	}
}
