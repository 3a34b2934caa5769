"""PROJ as the oracle for Lookout's CRS handling (media/crs.ts, media/georef.ts).

Reads JSON on stdin: {"cases": [{"id": str, "crs": CRS, "points": [[x, y], ...]}]} where CRS is an EPSG code
(int), a PROJ string, or {"epsg": int, "linear_unit": "US survey foot"} (the EPSG CRS with its axes in another
linear unit, as GDAL reads a GeoTIFF whose ProjLinearUnitsGeoKey overrides its EPSG code's unit).
Writes JSON on stdout: {"proj": PROJ version, "cases": [{"id", "wgs84": [[lon, lat], ...], "operations": [...]}]}:
each point transformed to EPSG:4326 (longitude, latitude: always_xy) by pyproj's default choice of operation
(the best one whose grids are available; no network), with the operations PROJ used.
"""
import json
import math
import sys

import pyproj
from pyproj import CRS, Transformer

LINEAR_UNITS = {
    "US survey foot": {"type": "LinearUnit", "name": "US survey foot", "conversion_factor": 0.304800609601219, "id": {"authority": "EPSG", "code": 9003}},
    "foot": {"type": "LinearUnit", "name": "foot", "conversion_factor": 0.3048, "id": {"authority": "EPSG", "code": 9002}},
}


def make_crs(spec):
    if isinstance(spec, int):
        return CRS.from_epsg(spec)
    if isinstance(spec, str):
        return CRS.from_user_input(spec)
    crs = CRS.from_epsg(spec["epsg"])
    d = crs.to_json_dict()
    unit = LINEAR_UNITS[spec["linear_unit"]]
    for axis in d["coordinate_system"]["axis"]:
        axis["unit"] = unit
    d.pop("id", None)
    d["name"] = d["name"] + " (" + spec["linear_unit"] + ")"
    return CRS.from_json_dict(d)


def last_operation(t):
    """The operation PROJ used for the last point (a transformer may choose one per point)."""
    try:
        return t.get_last_used_operation().description
    except pyproj.exceptions.ProjError:
        return t.description


def main():
    req = json.load(sys.stdin)
    out = []
    for case in req["cases"]:
        crs = make_crs(case["crs"])
        t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        pts = []
        ops = set()
        for x, y in case["points"]:
            lon, lat = t.transform(x, y)
            pts.append([lon if math.isfinite(lon) else None, lat if math.isfinite(lat) else None])
            ops.add(last_operation(t))
        out.append({"id": case["id"], "wgs84": pts, "operations": sorted(ops), "crs_name": crs.name})
    json.dump({"proj": pyproj.proj_version_str, "pyproj": pyproj.__version__, "cases": out}, sys.stdout)


if __name__ == "__main__":
    main()
