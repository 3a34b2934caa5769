/**
 * Non-UTM CRSs through the real stack: a real State Plane GeoTIFF (Debian r-cran-rgdal's erdas_spnad83.tif,
 * NAD83 Georgia East with coordinates in US survey feet; fetched by bench/raster-data.sh) uploaded to the inbox
 * becomes chip rows whose footprints are the ones media/georef.ts computes (checked against PROJ in
 * test/unit/crs-real-files.test.ts), with the caveat in georef_note; a raster in a CRS the registry has but
 * proj4js cannot express still becomes chip rows, without footprints, with a georef_note saying why.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RasterRowFields } from '../../core/types';
import { bufferRangeSource, openRaster } from '../../media/raster';
import { epsgGeoKeys, writeTiffBuffer } from '../../media/tiff-writer';
import { cfg, uniqueRun, upload, waitForRows } from './helpers';

interface Row {
  status: string;
  name: string;
  raster: RasterRowFields | null;
}

const ROOT = path.resolve(__dirname, '..', '..');
const ERDAS = path.join(ROOT, '.lookout', 'raster-data', 'rgdal', 'erdas_spnad83.tif');

describe('raster pipeline: CRSs beyond UTM', () => {
  it('a real State Plane GeoTIFF (US survey feet) gets a footprint on every chip row', async () => {
    if (!fs.existsSync(ERDAS)) {
      const r = spawnSync('bash', [path.join(ROOT, 'bench', 'raster-data.sh'), '--only', 'rgdal'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 240_000,
      });
      if (r.status !== 0) throw new Error(`bench/raster-data.sh --only rgdal failed (${r.status}): ${r.stderr}`);
    }
    const bytes = fs.readFileSync(ERDAS);
    const run = uniqueRun('raster-crs');
    await upload(cfg.gcs.bucket, `${run}/erdas_spnad83.tif`, bytes, 'image/tiff', { 'lookout-run': run });
    // 571 x 658 px in 128-px chips: 5 x 6 chips, plus the summary row.
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 31, 300_000);
    const chips = rows.filter((r) => r.raster?.kind === 'chip');
    expect(chips).toHaveLength(30);
    const local = await openRaster(bufferRangeSource(bytes));
    for (const c of chips) {
      expect(c.status).toBe('ok');
      const r = c.raster!;
      expect(r.crs).toBe('EPSG:26966');
      expect(r.georef).toBe('geotiff');
      expect(r.georef_note).toMatch(/linear unit EPSG:9003/);
      // The row's footprint is the one the reader computes for that window (itself checked against PROJ).
      expect(r.footprint_wkt).toBe(local.footprint({ x: r.x, y: r.y, width: r.width, height: r.height }).wkt);
      expect(r.west).toBeGreaterThan(-84.1);
      expect(r.east).toBeLessThan(-83.9);
    }
  });

  it('a CRS proj4js cannot express: chip rows without footprints, georef_note says why', async () => {
    const run = uniqueRun('raster-crs-bad');
    const tif = writeTiffBuffer({
      width: 256,
      height: 128,
      bands: 1,
      type: 'uint8',
      tileSize: 64,
      geo: { tiepoint: [0, 0, 0, 1159876, 775380, 0], pixelScale: [10, 10, 0], geoKeys: epsgGeoKeys(6269) },
      block: () => Buffer.alloc(64 * 64, 40),
    });
    await upload(cfg.gcs.bucket, `${run}/urban-grid.tif`, tif, 'image/tiff', { 'lookout-run': run });
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 3, 300_000);
    const chips = rows.filter((r) => r.raster?.kind === 'chip');
    expect(chips).toHaveLength(2);
    for (const c of [...chips, ...rows.filter((r) => r.raster?.kind === 'summary')]) {
      expect(c.status).toBe('ok');
      expect(c.raster!.footprint_wkt).toBeNull();
      expect(c.raster!.georef).toBe('broken');
      expect(c.raster!.georef_note).toMatch(/EPSG:6269 .*proj4js cannot express it/);
    }
  });
});
