#!/usr/bin/env bash
# Installs what the embedded stack needs, pinned, reusing what is already built.
#   Go tools   -> $LOOKOUT_TOOLS_DIR (default ~/.cache/lookout/bin), built with `go`
#                 (the Go build cache makes a rebuild on a warm machine take seconds)
#   npm deps   -> ./node_modules (npm ci when package-lock.json changed; recipe for the lock below)
#   Debian     -> ffmpeg (video decoding), opencv-doc (sample photos, vtest.avi), clang (bigquery-emulator's C++),
#                 python3-venv (the analyst venv), chromium (headless, for the review UI's browser tests)
#   Python     -> .lookout/analyst-venv: google-cloud-bigquery + pandas + matplotlib + pytest, every package pinned
#                 in test/python/requirements.txt (the analyst's client tests and examples/ run in it)
# Usage: infra/install.sh [--no-apt] [--no-npm] [--no-python] [--only TOOL]   (TOOL: nats-server|temporal|fake-gcs-server|bigquery-emulator)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NATS_VERSION=v2.12.15
TEMPORAL_CLI_VERSION=v1.5.1
FAKE_GCS_VERSION=v1.56.1
BQ_EMULATOR_VERSION=v0.6.6   # pinned in infra/tools/bigquery-emulator/go.mod

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
  need clang++ "apt-get install clang: the emulator's SQL engine (go-zetasql) is C++ compiled through cgo, and GCC 12 fails on it"
  log "bigquery-emulator $BQ_EMULATOR_VERSION: building the C++ SQL engine through cgo; the first build takes a long time (tens of minutes on 2 cores), later ones seconds"
  local t0=$SECONDS
  (cd infra/tools/bigquery-emulator && CGO_ENABLED=1 CC=clang CXX=clang++ go build -o "$bin" github.com/goccy/bigquery-emulator/cmd/bigquery-emulator)
  log "bigquery-emulator: built in $((SECONDS - t0))s"
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

need go "install Go >= 1.22"
need node "install Node.js >= 20.9"
mkdir -p "$TOOLS_DIR"
apt_pkgs
npm_deps
analyst_venv
go_tool nats-server github.com/nats-io/nats-server/v2 github.com/nats-io/nats-server/v2 "$NATS_VERSION"
go_tool fake-gcs-server github.com/fsouza/fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION"
go_tool temporal github.com/temporalio/cli/cmd/temporal github.com/temporalio/cli "$TEMPORAL_CLI_VERSION"
bq_emulator
log "tools in $TOOLS_DIR"
