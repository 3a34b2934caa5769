/**
 * `node -r tsx/cjs bench/raster-pipeline.ts`: chips/s through the whole raster pipeline on a running stack
 * (`lookout up`: watcher, dispatcher, CPU worker). Uploads a generated 4-band uint16 GeoTIFF (R, G, B, NIR;
 * UTM 11N) to the inbox bucket, once alone (cloud/index/novelty only) and once as the after image of a
 * before/after pair (two backbone passes per chip, spectral deltas), waits for each summary row and reports
 * chips/s from the rows: chips / (summary completed_at - workflow_started_at), i.e. planning, every block,
 * the row writes and finishing (heatmap, GeoJSON, archive bank) included. Machine and load are printed.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { bigqueryClient, storageClient } from '../io/clients';
import { query } from '../io/query';
import { tableRef } from '../io/results';
import { blocksFromBands, epsgGeoKeys, writeTiffBuffer } from '../media/tiff-writer';

const USAGE = `Usage: node -r tsx/cjs bench/raster-pipeline.ts [--size PX] [--timeout-s S] [--json]
  --size PX      raster side (default 1024: 64 chips of 128 x 128)
  --timeout-s S  give up waiting for a summary row after S seconds (default 900)
  --json         print the results as JSON
Needs a running stack (lookout up); LOOKOUT_* variables select it.`;

/** A generated 4-band uint16 GeoTIFF (UTM 11N, tiled, deflate); `burn` darkens a square (the after of a pair). */
export function scene(side: number, burn: boolean): Buffer {
  const bands = [0, 1, 2, 3].map(() => new Array<number>(side * side));
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const t = ((x * 7 + y * 13) % 17) * 20 + ((x >> 4) % 2) * 150 + ((y >> 5) % 3) * 90;
      const burnt = burn && x > side / 4 && x < side / 2 && y > side / 4 && y < side / 2;
      const v = burnt ? [1600 + t, 1000 + t, 900 + t, 700 + t] : [500 + t, 800 + t, 400 + t, 3000 + t];
      for (let b = 0; b < 4; b++) bands[b][y * side + x] = v[b];
    }
  }
  return writeTiffBuffer({
    width: side,
    height: side,
    bands: 4,
    type: 'uint16',
    tileSize: 256,
    compression: 'deflate',
    geo: { tiepoint: [0, 0, 0, 500000, 4000000, 0], pixelScale: [10, 10, 0], geoKeys: epsgGeoKeys(32611) },
    block: blocksFromBands(bands, side, side, 'uint16'),
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' },
      'timeout-s': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const side = Number(values.size ?? 1024);
  const cfg = loadConfig(process.env);
  const storage = storageClient(cfg);
  const bq = bigqueryClient(cfg);
  const tag = `bench-raster-${Date.now().toString(36)}`;
  const load0 = os.loadavg();
  const results: Array<Record<string, unknown>> = [];
  for (const [label, file, burn] of [
    ['single acquisition', `${tag}/scene_before.tif`, false],
    ['after of a before/after pair', `${tag}/scene_after.tif`, true],
  ] as const) {
    const run = `${tag}-${burn ? 'pair' : 'single'}`;
    await storage
      .bucket(cfg.gcs.bucket)
      .file(file)
      .save(scene(side, burn), {
        resumable: false,
        contentType: 'image/tiff',
        metadata: { metadata: { 'lookout-run': run } },
      });
    const deadline = Date.now() + Number(values['timeout-s'] ?? 900) * 1000;
    let row:
      | { chips: number; failed: number; started: string | { value: string }; completed: string | { value: string } }
      | undefined;
    while (Date.now() < deadline) {
      // The table, not the _latest view: the view groups the whole table (~1 s of emulator CPU per poll at 800 rows),
      // which would be taken from the pipeline being measured.
      [row] = await query<NonNullable<typeof row>>(
        bq,
        `SELECT raster.chips AS chips, raster.chips_failed AS failed, workflow_started_at AS started, completed_at AS completed FROM ${tableRef(cfg)} WHERE run_tag = @run AND raster.kind = 'summary' ORDER BY recorded_at DESC LIMIT 1`,
        { run },
      );
      if (row) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    if (!row) throw new Error(`no summary row for ${file} within the timeout`);
    // The client returns TIMESTAMPs as strings or as { value } objects depending on how they are read.
    const ts = (v: string | { value: string }) => Date.parse(typeof v === 'string' ? v : v.value);
    const seconds = (ts(row.completed) - ts(row.started)) / 1000;
    results.push({
      case: label,
      raster: `${side} x ${side} x 4 uint16`,
      chips: row.chips,
      chipsFailed: row.failed,
      seconds,
      chipsPerSecond: Math.round((row.chips / seconds) * 100) / 100,
    });
  }
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavgBefore: load0.map((x) => Math.round(x * 100) / 100),
    loadavgAfter: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  if (values.json) console.log(JSON.stringify({ machine, results }));
  else {
    console.log(
      `machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB; load average before ${machine.loadavgBefore.join(' ')}, after ${machine.loadavgAfter.join(' ')}`,
    );
    for (const r of results)
      console.log(
        `${r.case}: ${r.chips} chips (${r.chipsFailed} failed) in ${Number(r.seconds).toFixed(1)} s = ${r.chipsPerSecond} chips/s`,
      );
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
