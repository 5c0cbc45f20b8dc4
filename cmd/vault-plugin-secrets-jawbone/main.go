// Command vault-plugin-secrets-jawbone serves the Jawbone secrets engine to Vault.
package main

import (
	"os"
	"runtime/debug"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/plugin"

	jawbone "github.com/jawbone-vault/vault-plugin-secrets-jawbone"
)

// gcPercent is the collector's target when GOGC is not set: 50, not Go's
// 100. Most of a large mount's heap lives long (the schedule and the
// cache: some 230 MB at a million creds), and at 100 the process grows to
// twice what is live before it collects; at 50 to one and a half times,
// for a little more collector CPU while writes come in (the same trade
// Prometheus made in 2.53). GOGC in the plugin's environment (vault plugin
// register -env GOGC=100 …) overrides it.
const gcPercent = 50

func main() {
	setGCPercent(os.LookupEnv)
	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	if err := flags.Parse(os.Args[1:]); err != nil {
		fatal(err)
	}
	err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: jawbone.Factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	})
	if err != nil {
		fatal(err)
	}
}

// setGCPercent sets the collector's target to gcPercent unless the
// environment sets GOGC, which the Go runtime has applied already.
func setGCPercent(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

func fatal(err error) {
	hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
	os.Exit(1)
}
