#!/usr/bin/env bash
# Builds the Go test peers, pinned, into one cache directory shared by .ci/run, the test harness
# and the benchmark: $KRILL_PEERS_DIR, default ~/.cache/krill-peers. A warm machine reuses them
# (a stamp per name and version); a fresh one takes a few minutes. Go appears only here: krill is
# TypeScript, these are the real servers and clients its tests run against.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${KRILL_PEERS_DIR:-$HOME/.cache/krill-peers}"
mkdir -p "$dir"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

build() { # NAME MODULE/cmd/NAME VERSION
  local name=$1 module=$2 version=$3
  if [ -x "$dir/$name" ] && [ -e "$dir/.$name-$version" ]; then return; fi
  echo "peers: building $name $version"
  GOBIN="$dir" go install "$module@$version"
  touch "$dir/.$name-$version"
}

# distribution 3 (the registry:3 image): OCI tag delete, n/last/Link tag pagination.
build registry github.com/distribution/distribution/v3/cmd/registry v3.1.2
# Clients and oracles.
build crane github.com/google/go-containerregistry/cmd/crane v0.22.1
build regctl github.com/regclient/regclient/cmd/regctl v0.11.7
# regsync: the peer for a warm no-change sync (fewest requests; test/peers/sync-requests.test.ts).
build regsync github.com/regclient/regclient/cmd/regsync v0.11.7
build oras oras.land/oras/cmd/oras v1.3.6
# Keyed, offline signing (no transparency log): the largest build of the set, about 2.5 minutes cold.
build cosign github.com/sigstore/cosign/v3/cmd/cosign v3.1.3

# A registry with the OCI 1.1 referrers API: go-containerregistry's, from a main of ours.
stamp="$dir/.referrers-registry-$(sha256sum test/peers/referrers-registry/main.go test/peers/referrers-registry/go.mod | sha256sum | cut -c1-12)"
if [ ! -x "$dir/referrers-registry" ] || [ ! -e "$stamp" ]; then
  echo "peers: building referrers-registry"
  (cd test/peers/referrers-registry && GOBIN="$dir" go install .)
  touch "$stamp"
fi
echo "peers: ready in $dir"
