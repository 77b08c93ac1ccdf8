#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok) and the tools the bot drives (kubectl, helm, kustomize)
# from the upstream Go modules pinned in testenv/go.mod. Nothing is downloaded
# but Go modules.
#
# The binaries go to a cache folder outside the checkout, keyed by the pins
# (go.mod, go.sum), this script and the Go version, so a warm machine skips the build:
#   ${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}/testenv/<key>/bin
# The last line printed is that bin folder.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${GITOPS_BOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-bot}

command -v go >/dev/null || { echo "testenv: building the control plane needs Go (https://go.dev/dl/); none is on PATH" >&2; exit 1; }

key=$( { cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache_root/testenv/$key"
bin="$out/bin"

# Binary name -> package. The etcd server module's root is its main package.
tools=(
  "etcd=go.etcd.io/etcd/server/v3"
  "kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver"
  "kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager"
  "kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler"
  "kubectl=k8s.io/kubernetes/cmd/kubectl"
  "kwok=sigs.k8s.io/kwok/cmd/kwok"
  "helm=helm.sh/helm/v4/cmd/helm"
  "kustomize=sigs.k8s.io/kustomize/kustomize/v5"
)

if [ -f "$out/complete" ]; then
  echo "$bin"
  exit 0
fi

# One build at a time: two test sessions started on a cold cache (or a test
# run beside `make testenv`) would otherwise write the same binaries at once.
# The second waits here, then finds the first one's build complete.
mkdir -p "$cache_root/testenv"
if command -v flock >/dev/null; then
  exec 9>"$cache_root/testenv/.lock"
  flock 9
  if [ -f "$out/complete" ]; then
    echo "$bin"
    exit 0
  fi
fi

mkdir -p "$bin"
cd "$here"
# -trimpath and no VCS stamping keep the binaries independent of where the
# checkout lives; the Go build cache (outside the checkout) makes rebuilds
# after a pin change incremental.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
start=$(date +%s)
for entry in "${tools[@]}"; do
  name=${entry%%=*}
  pkg=${entry#*=}
  echo "testenv: building $name ($pkg)" >&2
  # Version stamps so `kubectl version` and `kube-apiserver --version` tell
  # the truth instead of v0.0.0-master.
  ldflags="-s -w"
  case $pkg in
    k8s.io/kubernetes/*)
      v=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=${v:1:1} -X $p.gitMinor=$(echo "$v" | cut -d. -f2)"
      done ;;
    helm.sh/helm/v4/*)
      ldflags+=" -X helm.sh/helm/v4/internal/version.version=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)" ;;
  esac
  go build -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"
  mv "$bin/$name.tmp" "$bin/$name"
done
# kwok's own "fast" stages (nodes Ready at once, pods Ready, Job pods
# complete), rendered from the pinned kwok module, so they move with it.
kwok_dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
"$bin/kustomize" build "$kwok_dir/kustomize/stage/fast" > "$out/kwok-stages.yaml"
for f in go.mod go.sum; do cp "$here/$f" "$out/$f"; done
echo "built in $(( $(date +%s) - start ))s with $(go env GOVERSION)" > "$out/complete"
echo "testenv: $(cat "$out/complete")" >&2
# Older keys are dead weight (about 0.5 GB each); the Go build cache keeps
# what is needed to go back quickly.
for old in "$cache_root"/testenv/*/; do
  [ "${old%/}" = "$out" ] || rm -rf "${old%/}"
done
echo "$bin"
