#!/usr/bin/env bash
# make release: versioned archives of ops for linux and darwin, amd64 and
# arm64, with a SHA256SUMS file, in dist/. From a clean checkout at a tag
# (v1.2.3), `ops version` in each archive shows the tag (Go stamps it);
# --snapshot (make release SNAPSHOT=1) builds from any state of the tree,
# named after the commit. PLATFORMS="linux/amd64" builds fewer.
#
# A script rather than goreleaser: the module proxy here serves goreleaser
# only from an earlier copy that is not an approved release, and four
# go builds, tar and sha256sum are all a release of one binary needs.
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot=false
[ "${1:-}" = --snapshot ] && snapshot=true
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
OUT=${OUT:-dist}
if $snapshot; then
  version=0.0.0-SNAPSHOT-$(git rev-parse --short=12 HEAD)
else
  if ! version=$(git describe --exact-match --tags --match 'v[0-9]*' 2>/dev/null); then
    echo "release: HEAD is not at a version tag (git tag v1.2.3, or make release SNAPSHOT=1)" >&2
    exit 2
  fi
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "release: the tree has uncommitted changes: commit them, or make release SNAPSHOT=1" >&2
    exit 2
  fi
fi
mtime=$(git log -1 --format=%ct)
rm -rf "$OUT"
mkdir -p "$OUT"
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/}
  name=ops_${version#v}_${os}_${arch}
  stage=$OUT/$name
  mkdir -p "$stage"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS=-buildvcs=true \
    go build -trimpath -ldflags '-s -w' -o "$stage/ops" ./cmd/ops
  cp LICENSE README.md "$stage/"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" -C "$OUT" -czf "$OUT/$name.tar.gz" "$name"
  rm -rf "$stage"
done
(cd "$OUT" && sha256sum -- *.tar.gz > SHA256SUMS)
echo "release: $version in $OUT/" >&2
cat "$OUT/SHA256SUMS"
