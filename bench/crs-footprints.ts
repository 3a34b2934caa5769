/**
 * `node -r tsx/cjs bench/crs-footprints.ts`: what a CRS costs the raster pipeline. For each CRS kind (built-in
 * UTM, registry LCC in US feet, registry TM with a 7-parameter datum shift, user-defined LCC from GeoKeys,
 * registry polar stereographic), in a fresh process state: the first resolution (registry file read, datum
 * table parse, definition check: paid once per CRS per process) and then the footprint of every 128-px chip
 * of a 10,000 x 10,000 raster (what each chip row pays). Writes the figures with the machine
 * (runtime/machine.ts machineInfo) to --out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import proj4 from 'proj4';
import { footprint, georefFromGeoTiff } from '../media/georef';
import { chipGrid } from '../media/raster';
import { machineInfo } from '../runtime/machine';
import { benchArgs } from './args';

const USAGE = `Usage: node -r tsx/cjs bench/crs-footprints.ts [--size PX] [--out FILE] [--json]
Footprint cost per CRS kind: first resolution (once per CRS per process) and per chip.
  --size PX   raster side (default 10000: 6,241 chips of 128 px)
  --out FILE  write the results as JSON (default .lookout/bench/crs-footprints.json)
  --json      print the results as JSON instead of text`;

const CASES: Array<{ kind: string; keys: Record<string, unknown>; centre: [number, number]; px: number }> = [
  {
    kind: 'built-in: EPSG:32611 WGS 84 / UTM 11N',
    keys: { GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32611 },
    centre: [-117, 36],
    px: 10,
  },
  {
    kind: 'registry: EPSG:2229 State Plane CA 5 (US ft, LCC)',
    keys: { GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 2229 },
    centre: [-118.2, 34.05],
    px: 30,
  },
  {
    kind: 'registry: EPSG:28992 RD New (sterea, 7-parameter shift)',
    keys: { GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 28992 },
    centre: [5.4, 52.1],
    px: 10,
  },
  {
    kind: 'registry: EPSG:3031 Antarctic polar stereographic',
    keys: { GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 3031 },
    centre: [45, -75],
    px: 30,
  },
  {
    kind: 'user-defined: LCC 2SP on NAD83 from GeoKeys',
    keys: {
      GTModelTypeGeoKey: 1,
      ProjectedCSTypeGeoKey: 32767,
      GeographicTypeGeoKey: 4269,
      ProjCoordTransGeoKey: 8,
      ProjLinearUnitsGeoKey: 9001,
      ProjStdParallel1GeoKey: 33,
      ProjStdParallel2GeoKey: 45,
      ProjFalseOriginLatGeoKey: 39,
      ProjFalseOriginLongGeoKey: -96,
      ProjFalseOriginEastingGeoKey: 0,
      ProjFalseOriginNorthingGeoKey: 0,
    },
    centre: [-90, 41],
    px: 30,
  },
];

function main(): void {
  const values = benchArgs(
    { size: { type: 'string', default: '10000' }, out: { type: 'string' }, json: { type: 'boolean', default: false } },
    USAGE,
  );
  const size = Number(values.size);
  if (!(Number.isInteger(size) && size >= 128)) {
    console.error(`--size must be a whole number >= 128, got ${values.size}\n\n${USAGE}`);
    process.exit(2);
  }
  const grid = chipGrid(size, size, 128, 0);
  const rows = CASES.map((c) => {
    const t0 = performance.now();
    const probe = georefFromGeoTiff({
      ModelTiepoint: [0, 0, 0, 0, 0, 0],
      ModelPixelScale: [c.px, c.px, 0],
      geoKeys: c.keys,
    });
    const firstMs = performance.now() - t0;
    if (!probe.proj4) throw new Error(`${c.kind}: ${probe.reason}`);
    const [cx, cy] = proj4('EPSG:4326', probe.proj4).forward(c.centre);
    const geo = georefFromGeoTiff({
      ModelTiepoint: [0, 0, 0, cx - (size / 2) * c.px, cy + (size / 2) * c.px, 0],
      ModelPixelScale: [c.px, c.px, 0],
      geoKeys: c.keys,
    });
    const t1 = performance.now();
    let n = 0;
    for (const w of grid.windows()) {
      footprint(geo, w);
      n++;
    }
    const ms = performance.now() - t1;
    return {
      kind: c.kind,
      firstResolutionMs: Math.round(firstMs * 100) / 100,
      chips: n,
      footprintsMs: Math.round(ms),
      microsecondsPerChip: Math.round(((ms * 1000) / n) * 10) / 10,
    };
  });
  const result = {
    what: 'CRS resolution and chip footprint cost (media/crs.ts, media/georef.ts)',
    raster: { size, chip: 128, chips: grid.count },
    cases: rows,
    machine: machineInfo(),
    at: new Date().toISOString(),
  };
  const out = values.out ?? path.join(__dirname, '..', '.lookout', 'bench', 'crs-footprints.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  for (const r of rows)
    console.log(
      `${r.kind.padEnd(58)} first ${String(r.firstResolutionMs).padStart(7)} ms   ${String(r.microsecondsPerChip).padStart(6)} µs/chip (${r.chips} chips)`,
    );
  console.log(
    `machine: ${result.machine.cpuModel}, ${result.machine.cores} cores; written to ${path.relative(process.cwd(), out)}`,
  );
}

main();
