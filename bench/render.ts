/**
 * Renders a benchmark result (the JSON `npm run bench` writes) as Markdown tables.
 *   node -r tsx/cjs bench/render.ts RESULT.json [> RESULT.md]
 */
import fs from 'node:fs';

interface Bare { batch: number; concurrency: number; images: number; perSecond: number; p50: number; p99: number; meanBatch: number }
interface Run { label: string; objects: number; rows: number; failed: number; offeredRate: number; perSecond: number; e2eP50: number; e2eP99: number; pipelineP50: number; inferenceP50: number; meanDetectBatch: number }
interface Bulk {
  objects: number;
  batch: number;
  perSecond: number;
  wallS: number;
  uploadS?: number;
  overheadMsPerObject: number;
  rows: number;
  failed: number;
  batches?: number;
  historyEvents?: number[];
  historyBytes?: number[];
  rssAfterMb?: Record<string, number | null>;
  /** Older results: the worker's peak RSS only. */
  workerRssMb?: number | null;
}
export interface BenchResult {
  machine: { cpu?: string; cores: number; memoryGb: number; platform: string; node: string; onnxruntime: string };
  bare: Bare[];
  bareLimitPerSecond: number;
  pipeline: Run[];
  bulk: Bulk[];
  ratioPipelineToBare: number | null;
  ratioBulkToBare: number | null;
  peakMemoryMb: Record<string, number | null>;
}

const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const table = (head: string[], rows: Array<Array<string | number>>) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export function renderMarkdown(r: BenchResult): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`Machine: ${m.cores} cores (${m.cpu ?? 'unknown CPU'}), ${m.memoryGb} GiB, ${m.platform}, Node ${m.node}, onnxruntime-node ${m.onnxruntime} (CPU execution provider).`, '');
  out.push('### (a) Bare inference (NanoDet, 768×576 frames decoded beforehand)', '');
  out.push(table(['batch ≤', 'concurrency', 'images', 'img/s', 'p50 ms', 'p99 ms', 'mean batch'], r.bare.map((b) => [b.batch, b.concurrency, b.images, f(b.perSecond), f(b.p50), f(b.p99), f(b.meanBatch, 2)])), '');
  out.push(`Limit (best of the above): **${f(r.bareLimitPerSecond)} img/s**.`, '');
  if (r.pipeline.length) {
    out.push('### (b) Per-object pipeline (GCS → watcher → JetStream → dispatcher → Temporal → worker → BigQuery)', '');
    out.push(table(['run', 'objects', 'offered/s', 'obj/s', 'e2e p50 ms', 'e2e p99 ms', 'pipeline p50 ms', 'inference p50 ms', 'mean detect batch', 'failed'], r.pipeline.map((p) => [p.label, p.objects, p.offeredRate ? f(p.offeredRate) : 'max', f(p.perSecond), f(p.e2eP50, 0), f(p.e2eP99, 0), f(p.pipelineP50, 0), f(p.inferenceP50), f(p.meanDetectBatch, 2), p.failed])), '');
  }
  if (r.bulk.length) {
    out.push('### (b) Bulk mode (`backfill --bulk 50`: one analyzeBatch workflow per 50 objects)', '');
    out.push(
      table(
        ['objects', 'batches', 'obj/s', 'wall s', 'overhead ms/object', 'rows', 'failed', 'history events per batch (sampled)', 'history KiB', 'RSS after the run, MiB'],
        r.bulk.map((b) => [
          b.objects,
          b.batches ?? Math.ceil(b.objects / b.batch),
          f(b.perSecond),
          f(b.wallS, 0),
          // Recomputed from the wall time (results written before 2026-11-23 17:28 stored a wrong value here).
          f((b.wallS * 1000) / b.objects - 1000 / r.bareLimitPerSecond),
          b.rows,
          b.failed,
          b.historyEvents?.join(' / ') ?? '–',
          b.historyBytes?.map((x) => (x / 1024).toFixed(0)).join(' / ') ?? '–',
          b.rssAfterMb ? Object.entries(b.rssAfterMb).map(([k, v]) => `${k} ${v ?? '–'}`).join(', ') : `worker peak ${b.workerRssMb ?? '–'}`,
        ]),
      ),
      '',
    );
    out.push('Overhead per object = wall time per object beyond what bare inference needs per image.', '');
  }
  out.push(`Ratios to bare inference: per-object pipeline **${f(r.ratioPipelineToBare, 3)}**, bulk mode (best run) **${f(r.ratioBulkToBare, 3)}**.`, '');
  out.push(`Peak memory over the whole benchmark (VmHWM, MiB): ${Object.entries(r.peakMemoryMb).map(([k, v]) => `${k} ${v ?? '–'}`).join(', ')}.`, '');
  return out.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file || file === '--help' || file === '-h') {
    console.log('Usage: node -r tsx/cjs bench/render.ts RESULT.json   (prints Markdown tables of a `npm run bench` result)');
    process.exit(file ? 0 : 2);
  }
  console.log(renderMarkdown(JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult));
}
