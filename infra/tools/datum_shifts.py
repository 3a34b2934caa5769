"""Generates media/datum-shifts.json: for every CRS of the EPSG registry copy Lookout ships (npm epsg-index) whose
datum is not WGS 84, the datum shift to WGS 84 that PROJ (pyproj, pinned in test/python/requirements.txt)
chooses without grid files, as a proj4 +towgs84 (position-vector convention).

Why: epsg-index's proj4 strings copy each Helmert transformation's parameters as EPSG publishes them, without
converting coordinate-frame rotations (EPSG method 9607) to the position-vector convention +towgs84 means, and
its choice of transformation is not PROJ's (e.g. Amersfoort, BD72: 100-250 m off PROJ). PROJ's choice is the one
every GIS tool agrees with. Run from the repository root after `npm ci` and infra/install.sh:
  .lookout/analyst-venv/bin/python infra/tools/datum_shifts.py
Output: {"proj": version, "g": {geog_code: SHIFT}, "p": {projected_code: SHIFT (only where it differs from its
geographic CRS's)}} with SHIFT = [towgs84 ("" = no shift; null = not expressible as +towgs84), operation name,
accuracy in metres (-1 unknown), 1 if PROJ's best operation needs a grid that is not installed else 0].
"""
import json
import os
import re
import sys
import warnings

import pyproj
from pyproj import CRS
from pyproj.transformer import TransformerGroup

warnings.filterwarnings("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INDEX = os.path.join(ROOT, "node_modules", "epsg-index", "all.json")
OUT = os.path.join(ROOT, "media", "datum-shifts.json")
DATUM_STEPS = {"unitconvert", "push", "pop", "cart", "helmert", "molobadekas", "axisswap", "noop", "longlat"}
ARCSEC = 3.141592653589793 / 180 / 3600


def shift_of(code):
    """PROJ's default operation from CRS `code` to WGS 84 (no grids), as SHIFT."""
    try:
        g = TransformerGroup(CRS.from_epsg(code), CRS.from_epsg(4326), always_xy=True)
    except Exception as err:  # noqa: BLE001 - a CRS PROJ refuses: recorded as not expressible
        return [None, f"PROJ: {err}", -1, 0]
    if not g.transformers:
        return [None, "PROJ has no operation to WGS 84 without grid files", -1, 0]
    t = g.transformers[0]
    name = re.sub(r"^(axis order change \(2D\) \+ )?(Inverse of [^+]+\+ )?", "", t.description).replace(" + axis order change (2D)", "").strip()
    missing = 0 if g.best_available else 1
    steps = [s.strip() for s in t.to_proj4().split("+step")]
    towgs84 = ""
    projection_seen = False
    for s in steps[1:] if steps[0].startswith("+proj=pipeline") else steps:
        m = re.match(r"(\+inv )?\+proj=(\S+)", s)
        if not m:
            continue
        proj = m.group(2)
        if proj in ("helmert", "molobadekas"):
            p = dict(re.findall(r"\+(\w+)=(\S+)", s))
            if any(k in p for k in ("dx", "dy", "dz", "drx", "dry", "drz", "ds", "t_epoch", "exact")):
                return [None, name, t.accuracy, missing]  # time-dependent or exact-rotation Helmert
            vals = [float(p.get(k, 0)) for k in ("x", "y", "z", "rx", "ry", "rz", "s")]
            if p.get("convention") == "coordinate_frame":
                vals[3:6] = [-v for v in vals[3:6]]
            if proj == "molobadekas":
                # Molodensky-Badekas rotates about the point P: X' = T + M R (X - P) + P, with R linearised as
                # PROJ and proj4js do; that is the Helmert X' = (T + P - M R P) + M R X, exactly.
                px, py, pz = (float(p[k]) for k in ("px", "py", "pz"))
                rx, ry, rz = (v * ARCSEC for v in vals[3:6])
                m = 1 + vals[6] * 1e-6
                rp = (px - rz * py + ry * pz, rz * px + py - rx * pz, -ry * px + rx * py + pz)
                vals[0:3] = [vals[0] + px - m * rp[0], vals[1] + py - m * rp[1], vals[2] + pz - m * rp[2]]
            towgs84 = ",".join(f"{v:.12g}" for v in (vals if any(vals[3:]) else vals[:3]))
        elif proj in DATUM_STEPS:
            continue
        elif m.group(1) and not projection_seen and "gridshift" not in proj and proj not in ("molobadekas", "deformation", "xyzgridshift"):
            projection_seen = True  # the CRS's own projection, inverted
        else:
            return [None, name, t.accuracy, missing]  # a grid shift, Molodensky-Badekas, ...
    return [towgs84, name, t.accuracy, missing]


def main():
    index = json.load(open(INDEX, encoding="utf8"))
    geog, proj = {}, {}
    for code, e in sorted(index.items(), key=lambda kv: int(kv[0])):
        p4 = e.get("proj4") or ""
        if e["kind"] not in ("CRS-PROJCRS", "CRS-GEOGCRS") or not p4:
            continue
        if "+towgs84=" not in p4 and "+nadgrids=" not in p4 and not re.search(r"\+datum=(?!WGS84)", p4):
            continue
        if e["kind"] == "CRS-GEOGCRS":
            geog[code] = shift_of(int(code))
            continue
        m = re.search(r'GEOGCS\[.*?AUTHORITY\["EPSG","(\d+)"\]\],\s*PROJECTION', e.get("wkt") or "")
        s = shift_of(int(code))
        base = m.group(1) if m else None
        if base and base not in geog and base in index:
            geog[base] = shift_of(int(base))
        if not base or geog.get(base) != s:
            proj[code] = s
    json.dump({"proj": pyproj.proj_version_str, "pyproj": pyproj.__version__, "g": geog, "p": proj}, open(OUT, "w", encoding="utf8"), separators=(",", ":"))
    print(f"{OUT}: {len(geog)} geographic, {len(proj)} projected overrides", file=sys.stderr)


if __name__ == "__main__":
    main()
