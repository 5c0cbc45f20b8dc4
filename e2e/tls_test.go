package e2e

// How far the config lets Vault reach (README, "config"): https endpoints
// verified against ca_cert, the only CA trusted when it is set, and http
// endpoints on a loopback host only with local_development=true.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jawbone-vault/vault-plugin-secrets-jawbone/fakejawbone"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := certTemplate(t, name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	cert := createCert(t, tmpl, tmpl, key, key)
	return &testCA{cert: cert, key: key,
		pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))}
}

// serverCert is a certificate for 127.0.0.1 signed by ca.
func (ca *testCA) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := certTemplate(t, "127.0.0.1")
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	cert := createCert(t, tmpl, ca.cert, key, ca.key)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// file writes the CA's PEM to a file, for the CLI's ca_cert=@file.
func (ca *testCA) file(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, path, ca.pem)
	return path
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func certTemplate(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

func createCert(t *testing.T, tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestCACert: against the fake served over https with a certificate of a
// private CA, the config (no local_development: the endpoints are https)
// completes an exchange, a read and a refresh once ca_cert is that CA;
// without it, or with another CA, the exchange fails with a 502 naming the
// certificate problem and nothing reaches the fake; a ca_cert that is not
// PEM is refused with a 400 naming ca_cert.
func TestCACert(t *testing.T) {
	ca := newTestCA(t, "e2e private CA")
	f := StartTLSFake(t, ca.serverCert(t), ca.pool())
	v := StartVaultWithPlugin(t)
	if !strings.HasPrefix(f.TokenURL, "https://127.0.0.1:") {
		t.Fatalf("the fake is not served over https: %s", f.TokenURL)
	}
	v.MustCLI(configArgs(f)...)

	failedExchange := func(what string) {
		t.Helper()
		landed := f.Visit(t, mustFirst(v.AuthURL()))
		f.ResetCalls()
		v.CLI("write", mountPath+"/exchange", "redirect_url="+landed).requireStatus(t, http.StatusBadGateway,
			"x509: certificate signed by unknown authority",
			"Vault could not reach Jawbone")
		if n := f.Calls(fakejawbone.EndpointToken); n != 0 {
			t.Errorf("%s: the exchange reached the token endpoint %d times through a TLS failure", what, n)
		}
		if names := v.ListCreds(); len(names) != 0 {
			t.Errorf("%s: a failed exchange stored creds %v", what, names)
		}
	}
	failedExchange("without ca_cert")

	v.CLI("write", mountPath+"/config", "ca_cert=not a certificate").requireStatus(t, http.StatusBadRequest,
		"ca_cert: no PEM certificate could be read from it: give the PEM certificate (-----BEGIN CERTIFICATE-----) of the CA that signed the server's certificate")
	if got := v.ReadJSON(mountPath + "/config").Data["ca_cert"]; got != "" {
		t.Errorf("the refused ca_cert was stored: %q", got)
	}

	v.MustCLI("write", mountPath+"/config", "ca_cert=@"+newTestCA(t, "another CA").file(t))
	failedExchange("with another CA's ca_cert")

	v.MustCLI("write", mountPath+"/config", "ca_cert=@"+ca.file(t))
	if got, _ := v.ReadJSON(mountPath + "/config").Data["ca_cert"].(string); strings.TrimSpace(got) != strings.TrimSpace(ca.pem) {
		t.Errorf("config ca_cert = %q, want the CA's PEM", got)
	}
	landed := f.Visit(t, mustFirst(v.AuthURL()))
	sec := v.WriteJSON(mountPath+"/exchange", "redirect_url="+landed)
	if sec.Data["account_xid"] != f.DefaultAccount() {
		t.Errorf("exchange over TLS: account_xid %v, want %s (users/@me over TLS)", sec.Data["account_xid"], f.DefaultAccount())
	}
	token := v.AccessToken("me")
	f.requireTokenWorks(t, token, "creds/me over TLS")
	fresh, _ := v.WriteJSON(mountPath + "/creds/me/refresh").Data["access_token"].(string)
	if fresh == "" || fresh == token {
		t.Errorf("forced refresh over TLS returned %q, want a new token", fresh)
	}
	f.requireTokenWorks(t, fresh, "the refreshed token over TLS")
}

// TestLocalDevelopment: http endpoints on 127.0.0.1 are refused with a 400
// naming local_development until it is set, and it cannot be turned off
// while they stay http.
func TestLocalDevelopment(t *testing.T) {
	f := StartFake(t)
	v := StartVaultWithPlugin(t)

	needs := `auth_url must use https; http on a loopback host is for local development only, and needs local_development=true; got "` + f.AuthURL + `"; ` +
		"against a local fake or test server, set it with vault write " + mountPath + "/config local_development=true; never on a server that holds real grants"
	v.CLI(configArgs(f)...).requireStatus(t, http.StatusBadRequest, needs)
	if r := apiOf(v).call(t, http.MethodGet, mountPath+"/config", nil); r.Status != http.StatusNotFound {
		t.Errorf("a refused config was stored: %s", r)
	}

	v.ConfigureFor(f)
	v.Authorize(f, "me")
	f.requireTokenWorks(t, v.AccessToken("me"), "creds/me with local_development=true")

	v.CLI("write", mountPath+"/config", "local_development=false").requireStatus(t, http.StatusBadRequest, needs)
	if got := v.ReadJSON(mountPath + "/config").Data["local_development"]; got != true {
		t.Errorf("local_development = %v after a refused write, want true", got)
	}
}
