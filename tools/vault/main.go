// Command vault is the stock Vault CLI and server, built from the Go module
// proxy so the end-to-end suite needs no download from the releases site.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
