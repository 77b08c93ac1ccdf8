#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kube-scheduler of an older
# Kubernetes minor version (the supported range's older end), from the upstream
# Go modules pinned in testenv/k8s/<minor>/go.mod. Usage: build.sh <minor>, e.g.
# build.sh 1.35. Nothing is downloaded but Go modules.
#
# Only those three: etcd, kwok, kubectl, helm and kustomize stay the newest
# ones from testenv/build.sh. etcd 3.6 is the storage every apiserver of the
# supported range (1.34-1.36) is released against; kwok fakes nodes and pods
# over the API, whichever apiserver serves it; helm and kustomize only render
# (offline), and the bot never runs kubectl: tests use it to act as a person
# would (scale, diff), within kubectl's skew for 1.35 (one minor either way)
# and one minor beyond it for 1.34, which the smoke set shows still works.
#
# The binaries go to a cache folder outside the checkout, keyed by that
# minor's pins (go.mod, go.sum), this script and the Go version:
#   ${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}/k8s/<minor>-<key>/bin
# (a folder of its own: testenv/build.sh deletes everything else under
# .../testenv/). The last line printed is that bin folder.
set -euo pipefail

minor=${1:?usage: build.sh <minor>, e.g. 1.35}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/$minor"
[ -f "$mod/go.mod" ] || { echo "k8s: no pins for Kubernetes $minor (expected $mod/go.mod)" >&2; exit 1; }
cache_root=${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}

command -v go >/dev/null || { echo "k8s: building the control plane needs Go (https://go.dev/dl/); none is on PATH" >&2; exit 1; }

key=$( { cat "$mod/go.mod" "$mod/go.sum" "$here/build.sh"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache_root/k8s/$minor-$key"
bin="$out/bin"

if [ -f "$out/complete" ]; then
  echo "$bin"
  exit 0
fi

# One build at a time (two sessions on a cold cache would write the same
# binaries at once); the second finds the first one's build complete.
mkdir -p "$cache_root/k8s"
if command -v flock >/dev/null; then
  exec 9>"$cache_root/k8s/.lock"
  flock 9
  if [ -f "$out/complete" ]; then
    echo "$bin"
    exit 0
  fi
fi

mkdir -p "$bin"
cd "$mod"
# -trimpath and no VCS stamping keep the binaries independent of where the
# checkout lives. -p=1 and nice: a CI run shares its two cores with the tests.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false -p=1"
v=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
# Version stamps so `kube-apiserver --version` tells the truth instead of
# v0.0.0-master (the same as testenv/build.sh).
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=${v:1:1} -X $p.gitMinor=$(echo "$v" | cut -d. -f2)"
done
start=$(date +%s)
for name in kube-apiserver kube-controller-manager kube-scheduler; do
  echo "k8s: building $name $v" >&2
  nice -n 19 go build -ldflags "$ldflags" -o "$bin/$name.tmp" "k8s.io/kubernetes/cmd/$name"
  mv "$bin/$name.tmp" "$bin/$name"
done
for f in go.mod go.sum; do cp "$mod/$f" "$out/$f"; done
echo "built $v in $(( $(date +%s) - start ))s with $(go env GOVERSION)" > "$out/complete"
echo "k8s: $(cat "$out/complete")" >&2
# Older keys of this minor are dead weight (about 0.3 GB each).
for old in "$cache_root"/k8s/"$minor"-*/; do
  [ "${old%/}" = "$out" ] || rm -rf "${old%/}"
done
echo "$bin"
