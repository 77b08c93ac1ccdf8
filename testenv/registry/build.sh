#!/usr/bin/env bash
# Builds the CNCF distribution registry (an OCI registry, `registry serve`)
# from the upstream Go module pinned in testenv/registry/go.mod, for the tests
# that push charts with `helm push` and fetch them as oci:// dependencies.
# Nothing is downloaded but Go modules. No replace lines and no GOTOOLCHAIN
# are needed: the module builds with the Go on PATH (go.mod says go 1.26.0).
#
# Kept apart from testenv/build.sh so that pinning the registry never rebuilds
# the control plane. The binary goes to a cache folder outside the checkout,
# keyed by the pins (go.mod, go.sum), this script and the Go version:
#   ${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}/registry/<key>/bin/registry
# The last line printed is that bin folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}

command -v go >/dev/null || { echo "registry: building the OCI registry needs Go (https://go.dev/dl/); none is on PATH" >&2; exit 1; }

key=$( { cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache_root/registry/$key"
bin="$out/bin"

if [ -f "$out/complete" ]; then
  echo "$bin"
  exit 0
fi

# One build at a time (two test sessions on a cold cache); the second waits,
# then finds the first one's build complete.
mkdir -p "$cache_root/registry"
if command -v flock >/dev/null; then
  exec 9>"$cache_root/registry/.lock"
  flock 9
  if [ -f "$out/complete" ]; then
    echo "$bin"
    exit 0
  fi
fi

mkdir -p "$bin"
cd "$here"
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
start=$(date +%s)
pkg=github.com/distribution/distribution/v3/cmd/registry
v=$(go list -m -f '{{.Version}}' github.com/distribution/distribution/v3)
echo "registry: building registry ($pkg $v)" >&2
# The version stamp makes `registry --version` tell the truth.
go build -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$v" -o "$bin/registry.tmp" "$pkg"
mv "$bin/registry.tmp" "$bin/registry"
for f in go.mod go.sum; do cp "$here/$f" "$out/$f"; done
echo "built in $(( $(date +%s) - start ))s with $(go env GOVERSION)" > "$out/complete"
echo "registry: $(cat "$out/complete")" >&2
for old in "$cache_root"/registry/*/; do
  [ "${old%/}" = "$out" ] || rm -rf "${old%/}"
done
echo "$bin"
