#!/usr/bin/env bash
# Builds the Go tools the distribution tests and the benchmark use — oras (OCI
# artifacts), the CNCF distribution registry, helm, oauth2-proxy (the bench's
# ext_authz peer) — from the Go module proxy into .tools/bin (git-ignored).
# Versions are pinned; a tool already built at its pinned version is reused, so
# a rerun costs nothing. Usage: scripts/go-tools.sh [tool...]
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$GO" ] || { echo "go-tools: go not found (set GO or install Go >= 1.24)" >&2; exit 1; }
export GOBIN="$PWD/.tools/bin"
export GOFLAGS="${GOFLAGS:--trimpath}"
mkdir -p "$GOBIN"

declare -A PKG=(
  [oras]=oras.land/oras/cmd/oras@v1.3.6
  [registry]=github.com/distribution/distribution/v3/cmd/registry@v3.1.2
  [helm]=helm.sh/helm/v3/cmd/helm@v3.21.4
  [oauth2-proxy]=github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6
)
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(oras registry helm oauth2-proxy)
for t in "${tools[@]}"; do
  pkg="${PKG[$t]:-}"
  [ -n "$pkg" ] || { echo "go-tools: unknown tool $t (known: ${!PKG[*]})" >&2; exit 2; }
  stamp="$GOBIN/.$t.version"
  if [ -x "$GOBIN/$t" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg" ]; then
    echo "go-tools: $t ($pkg) already built"
    continue
  fi
  echo "go-tools: building $t ($pkg) — a few minutes on 2 cores"
  start=$SECONDS
  "$GO" install "$pkg"
  echo "$pkg" >"$stamp"
  echo "go-tools: $t built in $((SECONDS - start)) s"
done
