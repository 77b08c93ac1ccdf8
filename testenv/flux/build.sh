#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from their upstream
# Go modules pinned in testenv/flux/go.mod (`tool` lines, with the replace lines
# of their own go.mod), the peer that bench/flux.py measures the puller against
# and that the flux_smoke test reconciles once. Nothing is downloaded but Go
# modules. Kept apart from testenv/build.sh: their k8s.io versions differ from
# the control plane's, and pinning Flux never rebuilds the control plane.
#
# Next to the binaries go the CRDs the two controllers watch at start, copied
# from the module zips' config/crd/bases/ (GitRepository, OCIRepository,
# Bucket, HelmRepository, HelmChart, ExternalArtifact, Kustomization).
# Not built: notification-controller (its Receiver would trigger a sync by
# webhook); the bench and the test trigger Flux with the
# reconcile.fluxcd.io/requestedAt annotation instead, which is what
# `flux reconcile` does.
#
# The output goes to a cache folder outside the checkout, keyed by the pins
# (go.mod, go.sum), this script and the Go version:
#   ${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}/flux/<key>/bin
# (binaries) and .../flux/<key>/crds. The last line printed is that bin folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}

command -v go >/dev/null || { echo "flux: building Flux's controllers needs Go (https://go.dev/dl/); none is on PATH" >&2; exit 1; }

key=$( { cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache_root/flux/$key"
bin="$out/bin"

if [ -f "$out/complete" ]; then
  echo "$bin"
  exit 0
fi

# One build at a time (two sessions on a cold cache); the second waits, then
# finds the first one's build complete.
mkdir -p "$cache_root/flux"
if command -v flock >/dev/null; then
  exec 9>"$cache_root/flux/.lock"
  flock 9
  if [ -f "$out/complete" ]; then
    echo "$bin"
    exit 0
  fi
fi

rm -rf "$out"
mkdir -p "$bin" "$out/crds"
cd "$here"
# -trimpath and no VCS stamping keep the binaries independent of where the
# checkout lives. -p=1 and nice: a CI run shares its two cores with the tests.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false -p=1"
start=$(date +%s)
for name in source-controller kustomize-controller; do
  mod=github.com/fluxcd/$name
  v=$(go list -m -f '{{.Version}}' "$mod")
  echo "flux: building $name $v" >&2
  nice -n 19 go build -ldflags "-s -w" -o "$bin/$name.tmp" "$mod"
  mv "$bin/$name.tmp" "$bin/$name"
  dir=$(go list -m -f '{{.Dir}}' "$mod")
  cp "$dir"/config/crd/bases/*.yaml "$out/crds/"
done
chmod u+w "$out"/crds/*.yaml
for f in go.mod go.sum; do cp "$here/$f" "$out/$f"; done
echo "built in $(( $(date +%s) - start ))s with $(go env GOVERSION)" > "$out/complete"
echo "flux: $(cat "$out/complete")" >&2
for old in "$cache_root"/flux/*/; do
  [ "${old%/}" = "$out" ] || rm -rf "${old%/}"
done
echo "$bin"
