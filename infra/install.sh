#!/usr/bin/env bash
# Installs what the embedded stack needs, pinned, reusing what is already built.
#   Go tools   -> $LOOKOUT_TOOLS_DIR (default ~/.cache/lookout/bin), built with `go`
#                 (the Go build cache makes a rebuild on a warm machine take seconds)
#   npm deps   -> ./node_modules (npm ci when package-lock.json changed; recipe for the lock below)
#   Debian     -> ffmpeg (video decoding), opencv-doc (sample photos, vtest.avi), clang (bigquery-emulator's C++),
#                 python3-venv (the analyst venv), chromium (headless, for the review UI's browser tests)
#   Python     -> .lookout/analyst-venv: google-cloud-bigquery + pandas + matplotlib + pytest, every package pinned
#                 in test/python/requirements.txt (the analyst's client tests and examples/ run in it)
#   Deploy     -> helm + kubeconform (Go tools, as above) and ~/.cache/lookout/deploy-venv (hadolint, check-jsonschema,
#                 kubernetes-validate's schemas; infra/deploy-requirements.txt), for infra/lint-deploy.sh
# Usage: infra/install.sh [--no-apt] [--no-npm] [--no-python] [--only TOOL]   (TOOL: nats-server|temporal|fake-gcs-server|bigquery-emulator|helm|kubeconform|deploy-venv|pstest)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NATS_VERSION=v2.12.15
TEMPORAL_CLI_VERSION=v1.5.1
FAKE_GCS_VERSION=v1.56.1
BQ_EMULATOR_VERSION=v0.6.6   # pinned in infra/tools/bigquery-emulator/go.mod
HELM_VERSION=v3.22.0          # deployment checks (infra/lint-deploy.sh): first build ~5 min on 2 cores
KUBECONFORM_VERSION=v0.8.0
PUBSUB_VERSION=v2.6.2        # cloud.google.com/go/pubsub/v2 (its pstest fake), pinned in infra/tools/pstest/go.mod

TOOLS_DIR=${LOOKOUT_TOOLS_DIR:-$HOME/.cache/lookout/bin}
do_apt=1 do_npm=1 do_py=1 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-apt) do_apt=0 ;;
    --no-npm) do_npm=0 ;;
    --no-python) do_py=0 ;;
    --only) only=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[install] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "install.sh: '$1' is required but not on PATH ($2)" >&2; exit 1; }; }

# has_build BIN MODULE VERSION: true when BIN exists and was built from MODULE@VERSION
has_build() {
  [ -x "$1" ] || return 1
  go version -m "$1" 2>/dev/null | awk -v m="$2" -v v="$3" '($1=="mod"||$1=="dep") && $2==m && $3==v {found=1} END {exit !found}'
}

go_tool() { # NAME PKG MODULE VERSION
  local name=$1 pkg=$2 mod=$3 ver=$4 bin="$TOOLS_DIR/$1"
  [ -n "$only" ] && [ "$only" != "$name" ] && return 0
  if ! use_go; then release_tool "$name" "$ver"; return; fi
  if has_build "$bin" "$mod" "$ver"; then log "$name $ver: present"; return 0; fi
  log "$name $ver: building (first time can take minutes; later runs reuse the Go build cache)"
  local t0=$SECONDS
  GOBIN="$TOOLS_DIR" GOFLAGS=-mod=mod go install "$pkg@$ver"
  log "$name $ver: built in $((SECONDS - t0))s"
}

bq_emulator() {
  local bin="$TOOLS_DIR/bigquery-emulator"
  [ -n "$only" ] && [ "$only" != bigquery-emulator ] && return 0
  if has_build "$bin" github.com/goccy/bigquery-emulator "$BQ_EMULATOR_VERSION"; then log "bigquery-emulator $BQ_EMULATOR_VERSION: present"; return 0; fi
  use_go || { echo "install.sh: bigquery-emulator needs Go >= 1.22 and clang (no release binary is pinned); or run its image: docker compose up bigquery" >&2; exit 1; }
  need clang++ "apt-get install clang: the emulator's SQL engine (go-zetasql) is C++ compiled through cgo, and GCC 12 fails on it"
  log "bigquery-emulator $BQ_EMULATOR_VERSION: building the C++ SQL engine through cgo; the first build takes a long time (tens of minutes on 2 cores), later ones seconds"
  local t0=$SECONDS
  (cd infra/tools/bigquery-emulator && CGO_ENABLED=1 CC=clang CXX=clang++ go build -o "$bin" github.com/goccy/bigquery-emulator/cmd/bigquery-emulator)
  log "bigquery-emulator: built in $((SECONDS - t0))s"
}

# Google's Pub/Sub fake as a server (infra/tools/pstest/main.go): fake-gcs-server publishes object notifications to it.
pstest_server() {
  local bin="$TOOLS_DIR/pstest"
  [ -n "$only" ] && [ "$only" != pstest ] && return 0
  if has_build "$bin" cloud.google.com/go/pubsub/v2 "$PUBSUB_VERSION"; then log "pstest (pubsub $PUBSUB_VERSION): present"; return 0; fi
  log "pstest (pubsub $PUBSUB_VERSION): building"
  local t0=$SECONDS
  (cd infra/tools/pstest && go build -o "$bin" .)
  log "pstest: built in $((SECONDS - t0))s"
}

apt_pkgs() {
  [ -n "$only" ] && return 0
  local missing=()
  command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
  [ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] || missing+=(opencv-doc)
  command -v clang++ >/dev/null 2>&1 || missing+=(clang)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)   # the review UI's browser tests (playwright-core executablePath)
  [ ${#missing[@]} -eq 0 ] && { log "debian packages: present"; return 0; }
  if [ $do_apt -eq 0 ]; then log "skipping apt (--no-apt); missing: ${missing[*]}"; return 0; fi
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  log "debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# package-lock.json: `npm ci` installs exactly it, and refuses a lock that lacks any platform's build of a
# native package (@swc/core-*, @rollup/rollup-*: "Missing: @swc/core-darwin-arm64 … from lock file"), even on a
# machine that would never install that build. A lock written from an installed node_modules records only the
# builds this machine installed (npm/cli#4828; reproduced with npm 10.8.2, the npm Node 20 ships: no lock,
# node_modules present -> only @swc/core-linux-x64-gnu). The lock is therefore always regenerated FROM THE LOCK:
#   1. edit package.json (or `npm install --package-lock-only --ignore-scripts PKG@VER` to add one)
#   2. npm install --package-lock-only --ignore-scripts   # resolves package.json against the lock; every
#                                                         # platform's optional builds; node_modules untouched
#   3. npm ci                                             # what install.sh and CI run (from this script)
#   4. npx vitest run --project unit test/unit/lockfile.test.ts   # fails if any platform's build is missing
# Never delete package-lock.json with node_modules present and run `npm install`: that is the lossy path (npm 10).
# Install scripts: package.json `allowScripts` (npm's own field, kept with `npm install-scripts approve|deny`)
# lets the four packages whose scripts ran before keep running them when npm blocks unreviewed scripts, and
# denies onnxruntime-node's: on linux/x64 it downloads the CUDA execution provider from api.nuget.org (the CPU
# build is bundled). That replaces the `.npmrc` key onnxruntime-node-install=skip, which npm 11 warns it will
# stop passing on. npm 10 (the npm Node 20 ships) ignores allowScripts, so the variable the script itself reads
# is set too. For the GPU pool, on a machine with CUDA 12:
#   node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12
export ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL:-skip}

npm_deps() {
  [ -n "$only" ] && return 0
  [ $do_npm -eq 0 ] && return 0
  local stamp=node_modules/.lookout-lock
  if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then log "npm dependencies: present"; return 0; fi
  log "npm dependencies: npm ci (the locked versions; ONNXRUNTIME_NODE_INSTALL=$ONNXRUNTIME_NODE_INSTALL)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
}

# The analyst's Python (the official BigQuery client with pandas), pinned; rebuilt when the pins change.
analyst_venv() {
  [ -n "$only" ] && return 0
  [ $do_py -eq 0 ] && return 0
  local venv=.lookout/analyst-venv reqs=test/python/requirements.txt stamp=.lookout/analyst-venv/.lookout-reqs
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$reqs" "$stamp"; then log "analyst venv: present"; return 0; fi
  need python3 "install Python >= 3.9 (apt-get install python3 python3-venv)"
  log "analyst venv: installing $reqs into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$reqs"
  cp "$reqs" "$stamp"
}

# Without Go: the official release binary of a tool, pinned by version AND by SHA-256, checked before it is
# unpacked. The hashes are those of the upstream release assets (helm: get.helm.sh's .sha256sum; the others: the
# release's checksum file), written here so that a compromised download host cannot also serve a matching
# checksum. NOT TESTED on the machine this was written on (no network beyond package registries, and Go present):
# the hashes were taken from public pins of these exact assets, not recomputed. A tool/platform without a pinned
# hash takes one from LOOKOUT_SHA256_<TOOL> (e.g. LOOKOUT_SHA256_NATS_SERVER) and otherwise refuses to install.
# fake-gcs-server and bigquery-emulator have no fallback: build them with Go, or use docker-compose.yml's images.
# LOOKOUT_INSTALL_RELEASES=1 takes this path even where Go exists (minutes faster for helm; and how it is tested).
use_go() { [ "${LOOKOUT_INSTALL_RELEASES:-0}" != 1 ] && command -v go >/dev/null 2>&1; }

release_asset() { # NAME VERSION OS ARCH -> "URL SHA256 MEMBER"
  local v=${2#v}
  case "$1/$3-$4" in
    helm/linux-amd64) echo "https://get.helm.sh/helm-v$v-linux-amd64.tar.gz 1e4ab49e429626cf6c6958d914248b78c9730803c2751b87627e171dc800e7bb linux-amd64/helm" ;;
    helm/linux-arm64) echo "https://get.helm.sh/helm-v$v-linux-arm64.tar.gz f14e804dfee240f55525b667488fe9adca349e63e00c9af634c0beb1421ac310 linux-arm64/helm" ;;
    helm/*) echo "https://get.helm.sh/helm-v$v-$3-$4.tar.gz - $3-$4/helm" ;;
    kubeconform/linux-amd64) echo "https://github.com/yannh/kubeconform/releases/download/v$v/kubeconform-linux-amd64.tar.gz 9bc2bffbf71f261128533edaf912153948b7ff238f9a531ae6d34466ec287883 kubeconform" ;;
    kubeconform/*) echo "https://github.com/yannh/kubeconform/releases/download/v$v/kubeconform-$3-$4.tar.gz - kubeconform" ;;
    temporal/linux-amd64) echo "https://github.com/temporalio/cli/releases/download/v$v/temporal_cli_${v}_linux_amd64.tar.gz ddc95e08b0b076efd4ea9733a3f488eb7d2be875f8834e616cd2a37358b4852d temporal" ;;
    temporal/*) echo "https://github.com/temporalio/cli/releases/download/v$v/temporal_cli_${v}_$3_$4.tar.gz - temporal" ;;
    nats-server/*) echo "https://github.com/nats-io/nats-server/releases/download/v$v/nats-server-v$v-$3-$4.tar.gz - nats-server-v$v-$3-$4/nats-server" ;;
    *) return 1 ;;
  esac
}

release_tool() { # NAME VERSION
  local name=$1 ver=$2 bin="$TOOLS_DIR/$1" stamp="$TOOLS_DIR/.$1.release"
  local os arch
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  local asset; asset=$(release_asset "$name" "$ver" "$os" "$arch") || { echo "install.sh: $name has no release download here; install Go >= 1.22 to build it" >&2; exit 1; }
  read -r url sha member <<<"$asset"
  local var; var=LOOKOUT_SHA256_$(echo "$name" | tr '[:lower:]-' '[:upper:]_')
  [ "$sha" = - ] && sha=${!var:-}
  [ -n "$sha" ] || { echo "install.sh: no pinned SHA-256 for $url: set $var to the hash in the release's checksum file, or install Go" >&2; exit 1; }
  if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ver $sha" ]; then log "$name $ver: present (release binary)"; return 0; fi
  need curl "apt-get install curl"
  need sha256sum "coreutils"
  local tmp; tmp=$(mktemp -d)
  log "$name $ver: downloading $url"
  curl -fsSL --retry 3 -o "$tmp/a.tar.gz" "$url"
  echo "$sha  $tmp/a.tar.gz" | sha256sum -c --quiet - || { rm -rf "$tmp"; echo "install.sh: SHA-256 mismatch for $url: refusing to install it" >&2; exit 1; }
  tar -xzf "$tmp/a.tar.gz" -C "$tmp" "$member"
  install -m 0755 "$tmp/$member" "$bin"
  echo "$ver $sha" > "$stamp"
  rm -rf "$tmp"
  log "$name $ver: installed from the release (SHA-256 checked)"
}

# The deployment checks' Python tools, pinned; rebuilt when the pins change. Outside the worktree (shared by clones).
deploy_venv() {
  [ -n "$only" ] && [ "$only" != deploy-venv ] && return 0
  [ $do_py -eq 0 ] && return 0
  local venv=$TOOLS_DIR/../deploy-venv reqs=infra/deploy-requirements.txt
  local stamp=$venv/.lookout-reqs
  if [ -x "$venv/bin/hadolint" ] && [ -f "$stamp" ] && cmp -s "$reqs" "$stamp"; then log "deploy venv: present"; return 0; fi
  need python3 "install Python >= 3.9 (apt-get install python3 python3-venv)"
  log "deploy venv: installing $reqs into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$reqs"
  cp "$reqs" "$stamp"
}

use_go || log "no Go on PATH (or LOOKOUT_INSTALL_RELEASES=1): pinned release binaries are downloaded instead (see release_tool)"
need node "install Node.js >= 20.9"
mkdir -p "$TOOLS_DIR"
apt_pkgs
npm_deps
analyst_venv
go_tool nats-server github.com/nats-io/nats-server/v2 github.com/nats-io/nats-server/v2 "$NATS_VERSION"
go_tool fake-gcs-server github.com/fsouza/fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION"
go_tool temporal github.com/temporalio/cli/cmd/temporal github.com/temporalio/cli "$TEMPORAL_CLI_VERSION"
bq_emulator
go_tool helm helm.sh/helm/v3/cmd/helm helm.sh/helm/v3 "$HELM_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform github.com/yannh/kubeconform "$KUBECONFORM_VERSION"
deploy_venv
pstest_server
log "tools in $TOOLS_DIR"
