#!/usr/bin/env bash
# A local dev Vault with the Jawbone plugin mounted at jawbone/, configured
# against the fake Jawbone, plus the commands to try it. `make dev` runs it
# after building the plugin and the fake.
#
# The redirect_uri is Vault's own callback (/v1/jawbone/callback): open the
# URL from `vault read jawbone/auth-url` in a browser, click Allow on the
# fake's consent page, and read the token. Nothing to paste.
#
# Usage: scripts/dev.sh [--walkthrough] [--once] [--help]
#   --walkthrough  also run the walkthrough commands and show their output
#                  (same as DEV_WALKTHROUGH=1); curl plays the browser, so the
#                  fake then approves at once instead of showing its page
#   --once         run the walkthrough, then stop everything and exit
#
# Environment:
#   PLUGIN_DIR      directory holding vault-plugin-secrets-jawbone (default bin/plugins)
#   PLUGIN_VERSION  the version the plugin was built as (default v0.1.0)
#   BIN             directory holding fake-jawbone (default bin)
#   VAULT_BIN       a vault binary to use instead of scripts/install-vault.sh
#   DEV_VAULT_PORT  Vault's port on 127.0.0.1 (default 8200; the cluster port is +1)
#   DEV_FAKE_PORT   the fake Jawbone's port on 127.0.0.1 (default: any free port)
# shellcheck disable=SC2317 # functions run from traps and wait_until
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
plugin_name="vault-plugin-secrets-jawbone"
PLUGIN_DIR="${PLUGIN_DIR:-$root/bin/plugins}"
PLUGIN_VERSION="${PLUGIN_VERSION:-v0.1.0}"
BIN="${BIN:-$root/bin}"
port="${DEV_VAULT_PORT:-8200}"
fake_port="${DEV_FAKE_PORT:-0}"
root_token="root"

walkthrough=0
case "${DEV_WALKTHROUGH:-0}" in 1 | true | yes) walkthrough=1 ;; esac
once=0

usage() { sed -n '2,/^set -euo/{/^set -euo/d;/shellcheck/d;s/^# \{0,1\}//;p}' "$0"; }
die() {
  echo "dev.sh: $*" >&2
  exit 1
}

for arg in "$@"; do
  case "$arg" in
    --walkthrough) walkthrough=1 ;;
    --once) once=1 walkthrough=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument $arg (try --help)" ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] || die "DEV_VAULT_PORT must be a port number, got '$port'"
[[ "$fake_port" =~ ^[0-9]+$ ]] || die "DEV_FAKE_PORT must be a port number, got '$fake_port'"
# Jawbone sends the browser back to Vault, which finishes the flow itself.
# The walkthrough shows kiefer's copy-paste flow instead: the browser (curl)
# lands on a redirect_uri that is not Vault's callback, and that URL is
# pasted into exchange. Nothing serves /landing; like kiefer's localhost
# redirect, only the URL matters.
if [ "$walkthrough" = 1 ]; then
  redirect_uri="http://127.0.0.1:$port/landing"
else
  redirect_uri="http://127.0.0.1:$port/v1/jawbone/callback"
fi

# --- what we need ------------------------------------------------------------
if [ -n "${VAULT_BIN:-}" ]; then
  vault_bin="$VAULT_BIN"
else
  vault_bin="$("$root/scripts/install-vault.sh" | tail -n1)"
fi
[ -x "$vault_bin" ] || die "no vault binary at '$vault_bin'"
vault_bin="$(cd "$(dirname "$vault_bin")" && pwd)/$(basename "$vault_bin")"

[ -d "$PLUGIN_DIR" ] || die "PLUGIN_DIR '$PLUGIN_DIR' does not exist: run make build (or make dev)"
PLUGIN_DIR="$(cd "$PLUGIN_DIR" && pwd)"
plugin_bin="$PLUGIN_DIR/$plugin_name"
[ -x "$plugin_bin" ] || die "no plugin at $plugin_bin: run make build (or make dev)"
fake_bin="$BIN/fake-jawbone"
[ -x "$fake_bin" ] || die "no fake Jawbone at $fake_bin: run make build (or make dev)"
command -v curl >/dev/null || die "curl is needed (it plays the browser in the walkthrough)"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$port" "$((port + 1))"; do
  if port_in_use "$p"; then
    die "127.0.0.1:$p is already in use (Vault needs $port and, for its cluster listener, $((port + 1))); set DEV_VAULT_PORT to another port"
  fi
done

# --- processes, and stopping them -------------------------------------------
workdir="$(mktemp -d "${TMPDIR:-/tmp}/jawbone-dev.XXXXXX")"
vault_pid=""
fake_pid=""

stop_pid() {
  local pid="$1" name="$2" i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do # up to 15 s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "dev.sh: $name (pid $pid) ignored SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$vault_pid" "vault"
  stop_pid "$fake_pid" "fake-jawbone"
  if [ "$status" -ne 0 ]; then
    for log in "$workdir"/*.log; do
      [ -s "$log" ] || continue
      echo "---- last lines of $(basename "$log") ----" >&2
      tail -n 40 "$log" >&2
    done
  fi
  # The logs are kept: what happened during the demo is worth a look.
  echo "dev.sh: stopped; the logs are in $workdir" >&2
  exit "$status"
}
trap cleanup EXIT
# Ctrl-C (or a TERM) once everything runs is how the demo is meant to end:
# a success, so that make does not report it as a failure. Before that
# (during the first, long Vault build, say) it is an interruption.
running=0
trap '[ "$running" = 1 ] && exit 0; exit 130' INT TERM

# wait_until SECONDS WHAT PID COMMAND...: poll COMMAND until it succeeds,
# failing if PID exits or the deadline passes.
wait_until() {
  local seconds="$1" what="$2" pid="$3" i
  shift 3
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || die "$what: the process exited"
    sleep 0.1
  done
  die "$what: not ready after ${seconds}s"
}

# --- the fake Jawbone --------------------------------------------------------
# A person clicks Allow on the consent page; curl (the walkthrough) cannot.
fake_flags=(-redirect-uri-prefix "$redirect_uri")
[ "$walkthrough" = 1 ] || fake_flags+=(-consent)
"$fake_bin" -listen "127.0.0.1:$fake_port" "${fake_flags[@]}" >"$workdir/fake-jawbone.log" 2>&1 &
fake_pid=$!
fake_url=""
fake_ready() {
  fake_url="$(sed -n 's#^fake-jawbone listening on \(http://[^ ]*\).*#\1#p' "$workdir/fake-jawbone.log" | head -n1)"
  [ -n "$fake_url" ]
}
wait_until 15 "fake-jawbone" "$fake_pid" fake_ready
fake_url="${fake_url%/}"

# --- Vault -------------------------------------------------------------------
export VAULT_ADDR="http://127.0.0.1:$port"
export VAULT_TOKEN="$root_token"
unset VAULT_NAMESPACE VAULT_CACERT VAULT_CLIENT_CERT VAULT_CLIENT_KEY VAULT_FORMAT
"$vault_bin" server -dev \
  -dev-root-token-id="$root_token" \
  -dev-listen-address="127.0.0.1:$port" \
  -dev-plugin-dir="$PLUGIN_DIR" \
  -dev-no-store-token >"$workdir/vault.log" 2>&1 &
vault_pid=$!
vault_healthy() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$VAULT_ADDR/v1/sys/health")" = 200 ]
}
wait_until 60 "vault" "$vault_pid" vault_healthy

# The walkthrough says `vault`; make it this one.
vault_dir="$(dirname "$vault_bin")"
export PATH="$vault_dir:$PATH"

sha256="$(sha256sum "$plugin_bin" | cut -d' ' -f1)"
vault plugin register -sha256="$sha256" -version="$PLUGIN_VERSION" secret "$plugin_name" >/dev/null
vault secrets enable -path=jawbone -plugin-version="$PLUGIN_VERSION" "$plugin_name" >/dev/null
# Let the callback page's security headers through (README: Browser callback).
vault secrets tune \
  -allowed-response-headers=Content-Security-Policy \
  -allowed-response-headers=X-Frame-Options \
  -allowed-response-headers=X-Content-Type-Options \
  -allowed-response-headers=Referrer-Policy \
  jawbone/ >/dev/null
vault write jawbone/config \
  client_id=demo-client \
  client_secret=demo-secret \
  redirect_uri="$redirect_uri" \
  scopes=basic_read,move_read \
  auth_url="$fake_url/auth/oauth2/auth" \
  token_url="$fake_url/auth/oauth2/token" \
  api_url="$fake_url/nudge/api/v.1.1" \
  local_development=true >/dev/null

# --- the walkthrough ---------------------------------------------------------
# Run in this shell, one after the other: later steps use earlier variables.
# shellcheck disable=SC2016 # shown as typed, expanded when run
steps=(
  'url="$(vault read -field=url jawbone/auth-url)"; echo "$url"'
  'landed="$(curl -s -o /dev/null -w '"'"'%{redirect_url}'"'"' "$url")"; echo "$landed"'
  'vault write jawbone/exchange redirect_url="$landed"'
  'vault read jawbone/creds/me'
)

cat <<EOF

Vault $("$vault_bin" version | awk '{print $2}' | tr -d ,) (dev, in memory) is at $VAULT_ADDR with $plugin_name $PLUGIN_VERSION mounted at jawbone/.
The fake Jawbone is at $fake_url (client demo-client / demo-secret; redirect_uri $redirect_uri).
Logs: $workdir (kept when this stops)

In another shell, from this directory:

  export PATH="$vault_dir:$(cd "$BIN" && pwd):\$PATH"
  export VAULT_ADDR=$VAULT_ADDR
  export VAULT_TOKEN=$VAULT_TOKEN
  export FAKE_URL=$fake_url
EOF
if [ "$walkthrough" = 1 ]; then
  cat <<EOF

  # 1. the authorization URL (open it in a browser, or let curl play the browser)
  ${steps[0]}

  # 2. "visit" it: the fake approves at once and sends the browser to the
  #    redirect_uri; the URL it lands on is what kiefer asked you to paste
  ${steps[1]}

  # 3. paste it into exchange
  ${steps[2]}

  # 4. the access token
  ${steps[3]}
EOF
else
  cat <<EOF

  # 1. open this URL in a browser and click Allow: Jawbone (the fake) sends
  #    the browser back to Vault, which stores the tokens and says so
  vault read -field=url jawbone/auth-url

  # 2. the access token
  vault read jawbone/creds/me

The README's walkthrough goes on from here (import, refresh, revoke, status).
EOF
fi

if [ "$walkthrough" = 1 ]; then
  echo
  echo "Running the walkthrough:"
  for step in "${steps[@]}"; do
    printf '\n$ %s\n' "$step"
    eval "$step"
  done
fi

if [ "$once" = 1 ]; then
  echo
  echo "dev.sh: walkthrough done (--once); stopping."
  exit 0
fi

echo
running=1
echo "Press Ctrl-C to stop Vault and the fake Jawbone."
# Returns when either process exits, or at once when a signal runs the trap.
set +e
wait -n "$vault_pid" "$fake_pid"
status=$?
set -e
die "a process exited unexpectedly (status $status); see the logs above"
