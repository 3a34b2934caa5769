/**
 * The CPU worker's knobs, by measurement: onnxruntime intra-op threads x detections in flight (the worker's
 * activity concurrency feeds the detector that many requests at once), with dynamic batching as the worker
 * runs it. NanoDet on vtest.avi frames (768x576), preprocess + run + decode in this process.
 *   node -r tsx/cjs bench/threads.ts [--images N] [--threads 1,2] [--concurrency 1,2,4,8] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeImage } from '../media/image';
import { OnnxDetector } from '../runtime/detector';
import { defaultModelRepo, loadLocalModel } from '../runtime/manifest';
import { extractFrames } from '../demo/samples';
import { percentile } from './metrics';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(
    'Usage: node -r tsx/cjs bench/threads.ts [--images N] [--threads 1,2] [--concurrency 1,2,4,8] [--json]\nImages/s and latency of NanoDet per onnxruntime thread count and requests in flight.',
  );
  process.exit(0);
}
const opt = (name: string, dflt: string) => (args.indexOf(name) >= 0 ? String(args[args.indexOf(name) + 1]) : dflt);
const IMAGES = Number(opt('--images', '60'));
const THREADS = opt('--threads', `1,${os.availableParallelism()}`).split(',').map(Number);
const CONC = opt('--concurrency', '1,2,4,8').split(',').map(Number);

async function main() {
  const root = path.resolve(__dirname, '..');
  const files = extractFrames(
    path.join(root, '.lookout', 'bench-threads'),
    Array.from({ length: 12 }, (_, i) => 30 + i * 60),
  );
  const imgs = await Promise.all(files.map(async (f) => decodeImage(fs.readFileSync(f), { maxPixels: 1e8 })));
  const out = [];
  for (const threads of THREADS) {
    for (const concurrency of CONC) {
      const det = await OnnxDetector.load(loadLocalModel(defaultModelRepo(root), 'nanodet'), {
        pool: 'cpu',
        threads,
        batch: { maxBatchSize: concurrency, maxQueueDelayMs: concurrency > 1 ? 4 : 0 },
      });
      for (let i = 0; i < 4; i++) await det.detect(imgs[i % imgs.length]);
      const lat: number[] = [];
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let i = next++; i < IMAGES; i = next++) {
            const s = performance.now();
            await det.detect(imgs[i % imgs.length]);
            lat.push(performance.now() - s);
          }
        }),
      );
      const r = {
        threads,
        concurrency,
        perSecond: IMAGES / ((performance.now() - t0) / 1000),
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
        meanBatch: det.batchStats.items / det.batchStats.batches,
      };
      await det.close();
      out.push(r);
      process.stderr.write(
        `threads ${threads} in flight ${concurrency}: ${r.perSecond.toFixed(1)} img/s, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms, mean batch ${r.meanBatch.toFixed(2)}\n`,
      );
    }
  }
  if (args.includes('--json'))
    console.log(JSON.stringify({ cores: os.availableParallelism(), loadavg: os.loadavg(), runs: out }));
}

main().catch((err) => {
  console.error(`threads: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
