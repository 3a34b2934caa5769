/**
 * `node -r tsx/cjs bench/raster-memory.ts`: tiles a 2-gigapixel GeoTIFF through the range-reading path
 * (media/raster.ts over a RangeSource) and reports peak resident memory and chips/s. The goal of issue 13
 * is RSS under 1 GiB for such a raster.
 *
 * The raster (45,000 x 45,000 uint8 by default, 512 x 512 deflate tiles, IFD first like a COG) is written
 * once into .lookout/raster-memory/ by media/tiff-writer.ts, one tile at a time. To keep it cheap to make
 * and store, 7 tiles in 8 are constant (a distinct value per tile, so every tile is its own deflate stream)
 * and 1 in 8 carries a texture; every tile is still fetched and decoded for the chips over it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileRangeSource, openRaster } from '../media/raster';
import { epsgGeoKeys, writeTiffFile } from '../media/tiff-writer';

const USAGE = `Usage: node -r tsx/cjs bench/raster-memory.ts [--size PX] [--tile PX] [--chip PX] [--block N] [--limit N] [--out FILE] [--json]

Tiles a generated SIZE x SIZE uint8 GeoTIFF (tiled, deflate) by range reads and reports peak RSS and chips/s.
  --size PX    raster side in pixels (default 45000: 2.03 gigapixels)
  --tile PX    TIFF tile size (default 512)
  --chip PX    chip size (default 128, no overlap)
  --block N    chips per side read together (default 8: 1024 x 1024 px per read)
  --limit N    stop after N chips (smoke test; figures then cover part of the raster)
  --out FILE   write the results as JSON to FILE
  --json       print the results as JSON instead of text
The raster is cached in .lookout/raster-memory/ (regenerated when its size or tile differs).`;

function fail(msg: string): never {
  console.error(`${msg}\n\n${USAGE}`);
  process.exit(2);
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      size: { type: 'string', default: '45000' },
      tile: { type: 'string', default: '512' },
      chip: { type: 'string', default: '128' },
      block: { type: 'string', default: '8' },
      limit: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
try {
  args = parse();
} catch (err) {
  fail((err as Error).message);
}
if (args.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const int = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} needs an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
};
const SIZE = int('size', args.values.size, 16);
const TILE = int('tile', args.values.tile, 16);
if (TILE % 16 !== 0) fail('--tile must be a multiple of 16');
const CHIP = int('chip', args.values.chip, 1);
const BLOCK = int('block', args.values.block, 1);
const LIMIT = args.values.limit !== undefined ? int('limit', args.values.limit, 1) : Infinity;

const ROOT = path.resolve(__dirname, '..');
const DIR = path.join(ROOT, '.lookout', 'raster-memory');

/** Peak and current resident set of this process, MiB, from /proc (Linux). */
function rssMb(): { peak: number; now: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

function makeRaster(file: string): { seconds: number; bytes: number } {
  const t0 = Date.now();
  const constant = new Map<number, Buffer>();
  const bytes = writeTiffFile(file, {
    width: SIZE,
    height: SIZE,
    bands: 1,
    type: 'uint8',
    tileSize: TILE,
    compression: 'deflate',
    level: 1,
    geo: { tiepoint: [0, 0, 0, 300000, 5500000, 0], pixelScale: [0.5, 0.5, 0], geoKeys: epsgGeoKeys(32633) },
    block: (x, y, w, h) => {
      const tx = x / TILE;
      const ty = y / TILE;
      const v = (tx * 31 + ty * 17) % 251;
      if ((tx + ty * 3) % 8 !== 0) {
        let b = constant.get(v);
        if (!b) constant.set(v, (b = Buffer.alloc(w * h, v)));
        // The same Buffer for equal values, but shareRepeatedBlocks is off: every tile is written.
        return b;
      }
      const b = Buffer.alloc(w * h);
      for (let r = 0; r < h; r++)
        for (let c = 0; c < w; c++) b[r * w + c] = (v + ((r ^ c) & 63) + ((r * c) >> 9)) & 0xff;
      return b;
    },
  });
  return { seconds: (Date.now() - t0) / 1000, bytes };
}

async function main(): Promise<void> {
  fs.mkdirSync(DIR, { recursive: true });
  const file = path.join(DIR, `raster-${SIZE}-t${TILE}.tif`);
  let generated: { seconds: number; bytes: number } | null = null;
  if (!fs.existsSync(file)) {
    if (!args.values.json) console.error(`writing ${file} (${SIZE} x ${SIZE}, ${TILE}-px deflate tiles) ...`);
    generated = makeRaster(file);
    if (!args.values.json)
      console.error(`  ${(generated.bytes / 2 ** 20).toFixed(1)} MiB in ${generated.seconds.toFixed(1)} s`);
  }
  const fileBytes = fs.statSync(file).size;
  const rssBefore = rssMb();
  const src = await fileRangeSource(file);
  const t0 = process.hrtime.bigint();
  const raster = await openRaster(src);
  const grid = raster.chipGrid(CHIP, 0);
  let chips = 0;
  let clipped = 0;
  let checksum = 0;
  let peakHeapMb = 0;
  outer: for (const block of grid.blocks(BLOCK)) {
    const data = await raster.readChips(block);
    for (let i = 0; i < data.length; i++) {
      // A stand-in for per-chip work that touches every pixel: the chip mean.
      const px = data[i].bands[0];
      let s = 0;
      for (let j = 0; j < px.length; j++) s += px[j];
      checksum += s / px.length;
      if (block[i].clipped) clipped++;
      if (++chips >= LIMIT) break outer;
    }
    peakHeapMb = Math.max(peakHeapMb, process.memoryUsage().heapUsed / 2 ** 20);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const stats = raster.stats();
  await raster.close();
  await src.close();
  const rss = rssMb();
  const result = {
    benchmark: 'raster-memory',
    raster: {
      file: path.relative(ROOT, file),
      width: SIZE,
      height: SIZE,
      gigapixels: (SIZE * SIZE) / 1e9,
      tile: TILE,
      compression: 'deflate',
      fileBytes,
      generated,
    },
    chip: CHIP,
    chipsPerRead: BLOCK * BLOCK,
    chips,
    chipsInGrid: grid.count,
    clippedChips: clipped,
    seconds: Math.round(seconds * 100) / 100,
    chipsPerSecond: Math.round(chips / seconds),
    megapixelsPerSecond: Math.round((chips * CHIP * CHIP) / 1e6 / seconds),
    sourceRequests: stats.requests,
    sourceMiB: Math.round((stats.bytesRead / 2 ** 20) * 10) / 10,
    peakRssMiB: Math.round(rss.peak),
    rssBeforeMiB: Math.round(rssBefore.now),
    rssAfterMiB: Math.round(rss.now),
    peakHeapUsedMiB: Math.round(peakHeapMb),
    goalPeakRssMiB: 1024,
    checksum: Math.round(checksum),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    at: new Date().toISOString(),
  };
  if (args.values.out) fs.writeFileSync(args.values.out, JSON.stringify(result, null, 2) + '\n');
  if (args.values.json) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    console.log(
      [
        `raster     ${SIZE} x ${SIZE} uint8 (${result.raster.gigapixels.toFixed(2)} GP), ${TILE}-px deflate tiles, ${(fileBytes / 2 ** 20).toFixed(1)} MiB file`,
        `chips      ${chips} of ${grid.count} (${CHIP} px, ${clipped} clipped), read ${BLOCK}x${BLOCK} chips at a time`,
        `time       ${result.seconds} s: ${result.chipsPerSecond} chips/s, ${result.megapixelsPerSecond} MP/s`,
        `source     ${stats.requests} range reads, ${result.sourceMiB} MiB`,
        `memory     peak RSS ${result.peakRssMiB} MiB (goal < 1024), RSS before ${result.rssBeforeMiB} / after ${result.rssAfterMiB} MiB, peak heap used ~${result.peakHeapUsedMiB} MiB`,
        `machine    ${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.memoryGiB} GiB, node ${process.version}`,
      ].join('\n'),
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
