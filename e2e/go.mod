module github.com/jawbone-vault/vault-plugin-secrets-jawbone/e2e

go 1.26.0

// The plugin's own module, from this checkout: the suite tests the code
// beside it, never a published version.
replace github.com/jawbone-vault/vault-plugin-secrets-jawbone => ../

require (
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/jawbone-vault/vault-plugin-secrets-jawbone v0.0.0-00010101000000-000000000000
)

require github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
