/**
 * Activity factory: dependencies come in (object store, models, result
 * writer), so tests inject fakes and workers inject real clients.
 */
import os from 'node:os';
import type { Pool } from '../config';
import { BadInputError, SetupError, errorClassOf as errorClassOfAny } from '../core/errors';
import { objectKey } from '../core/events';
import { decodeImage, type DecodedImage } from '../media/image';
import type { Detector } from '../runtime/detector';
import { onnxruntimeVersion } from '../runtime/session';
import type { ObjectStore } from '../io/objectstore';
import { buildRow, writeResultRow, type RowBatcher } from '../io/results';
import { cropGray, meanStd, sobelMagnitude } from '../media/vision';
import type { AnalysisSummary, AnalyzeInput, DetectOutput, ExtractOutput, MachineInfo, ObjectRef, ScoreOutput } from '../core/types';
import { Context } from '@temporalio/activity';
import { PIPELINES, type StageName } from '../core/pipelines';
import type { OnnxEmbedder } from '../runtime/embedder';
import type { SceneStore } from '../io/scenes';
import { createCctvActivities } from '../methods/cctv-ocae/stages';
import { heartbeat, runStage, toFailure } from './stage';
import type { BatchEntry, BatchInput, FitSceneResult, LookoutActivities, RecordResult, StageContext } from './types';

export interface ActivityDeps {
  store: ObjectStore;
  /** Detector for a pipeline (loaded once per worker process). */
  detector: (pipeline: string) => Detector;
  rows: RowBatcher;
  table: string;
  pool: Pool;
  limits: { maxObjectBytes: number; maxPixels: number; decodePixelBudget?: number };
  /** Decoded images kept between stages of the same object on this worker. */
  imageCacheBytes?: number;
  /** Object-centric pipelines: encoders, scene models and where derived data goes. */
  objectCentric?: { encoders: { appearance: OnnxEmbedder; motion: OnnxEmbedder }; scenes: SceneStore; resultsBucket: string };
}

function currentWorkflowId(fallback: string): string {
  try {
    return Context.current().info.workflowExecution?.workflowId ?? fallback;
  } catch {
    return fallback;
  }
}

export function machineInfo(): MachineInfo {
  return {
    host: os.hostname(),
    cores: os.availableParallelism(),
    memoryTotalMb: Math.round(os.totalmem() / 2 ** 20),
    memoryFreeMb: Math.round(os.freemem() / 2 ** 20),
    platform: `${os.platform()}-${os.arch()}`,
    osRelease: os.release(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    nodeVersion: process.version,
    onnxruntimeVersion: onnxruntimeVersion(),
  };
}

/** A small LRU of decoded images by object version, bounded in bytes. */
export class ImageCache {
  private map = new Map<string, DecodedImage>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}
  get(key: string): DecodedImage | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, img: DecodedImage): void {
    if (img.data.length > this.maxBytes) return;
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.data.length;
      this.map.delete(key);
    }
    this.map.set(key, img);
    this.bytes += img.data.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.data.length;
    }
  }
}

const IMAGE_TYPES = /^(image\/|application\/octet-stream$|binary\/octet-stream$)/;

export const OBJECT_FEATURES = ['mean', 'std', 'gradient', 'aspect', 'area', 'cx', 'cy', 'det_score'] as const;

export function createActivities(deps: ActivityDeps): LookoutActivities {
  const cache = new ImageCache(deps.imageCacheBytes ?? 256 * 2 ** 20);

  async function loadImage(o: Pick<ObjectRef, 'bucket' | 'name' | 'generation' | 'size' | 'contentType'>): Promise<DecodedImage> {
    const key = objectKey(o);
    const hit = cache.get(key);
    if (hit) return hit;
    if (o.size > deps.limits.maxObjectBytes) throw new BadInputError('ObjectTooLarge', `object is ${o.size} bytes, over the limit of ${deps.limits.maxObjectBytes}`);
    if (o.size === 0) throw new BadInputError('EmptyObject', 'object is empty (0 bytes)');
    if (o.contentType && !IMAGE_TYPES.test(o.contentType)) {
      throw new BadInputError('UnsupportedMedia', `content type ${o.contentType} is not an image`);
    }
    const buf = await deps.store.download(o, deps.limits.maxObjectBytes);
    heartbeat('downloaded');
    // The pixel budget is shared by every decode of this worker process.
    const img = await decodeImage(buf, { maxPixels: deps.limits.maxPixels, pixelBudget: deps.limits.decodePixelBudget });
    cache.set(key, img);
    return img;
  }

  const cctv = deps.objectCentric
    ? createCctvActivities({ store: deps.store, encoders: deps.objectCentric.encoders, scenes: deps.objectCentric.scenes, resultsBucket: deps.objectCentric.resultsBucket, maxObjectBytes: deps.limits.maxObjectBytes, loadImage })
    : undefined;
  const objectCentric = (pipeline: string) => {
    if (PIPELINES[pipeline]?.method !== 'object-centric') return undefined;
    if (!cctv) throw new SetupError('EncodersNotLoaded', `this worker was started without the encoders of pipeline "${pipeline}"`);
    return cctv;
  };
  const direct = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      let attempt = 1;
      try {
        attempt = Context.current().info.attempt;
      } catch {
        /* outside an activity */
      }
      throw toFailure(err, attempt);
    }
  };

  /** Runs one stage for every object of a batch, a few at a time; a passing fault is retried per object. */
  async function batchStage<T>(input: BatchInput, prev: Array<BatchEntry<unknown>> | undefined, run: (obj: AnalyzeInput, i: number) => Promise<T>, stage: StageName): Promise<Array<BatchEntry<T>>> {
    const out = new Array<BatchEntry<T>>(input.objects.length);
    let next = 0;
    const lane = async () => {
      for (;;) {
        const i = next++;
        if (i >= input.objects.length) return;
        if (prev && !prev[i].ok) {
          out[i] = { ok: false, skipped: true };
          continue;
        }
        const obj: AnalyzeInput = { pipeline: input.pipeline, object: input.objects[i], trace: input.trace, runTag: input.runTag };
        for (let attempt = 1; ; attempt++) {
          try {
            out[i] = { ok: true, value: await run(obj, i) };
            break;
          } catch (err) {
            const f = err as { type?: string; nonRetryable?: boolean; message?: string };
            if (!f.nonRetryable && attempt < 3) {
              await new Promise((r) => setTimeout(r, 500 * attempt));
              continue;
            }
            out[i] = { ok: false, failure: { stage, errorClass: f.type ?? errorClassOfAny(err), message: f.message ?? String(err), attempts: attempt, retryable: !f.nonRetryable } };
            break;
          }
        }
        heartbeat({ stage, done: i + 1 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, input.objects.length) }, lane));
    return out;
  }

  const acts: LookoutActivities = {
    async detectBatch(input, ctx) {
      return batchStage(input, undefined, (obj) => acts.detect(obj, ctx), 'detect');
    },
    async extractBatch(input, detects, ctx) {
      return batchStage(input, detects, (obj, i) => acts.extract(obj, (detects[i] as { value: DetectOutput }).value, ctx), 'extract');
    },
    async scoreBatch(input, detects, extracts, ctx) {
      return batchStage(input, extracts, (obj, i) => acts.score(obj, (detects[i] as { value: DetectOutput }).value, (extracts[i] as { value: ExtractOutput }).value, ctx), 'score');
    },
    async recordBatch(summaries) {
      return direct(async () => {
        const now = Date.now();
        const rows = summaries.map((s) => buildRow(s, now));
        const landed = await Promise.all(rows.map((r) => writeResultRow(deps.rows, r)));
        return rows.map((r, i) => ({ analysisId: r.analysis_id, table: deps.table, status: landed[i] === 'stand-in' || summaries[i].failure ? ('failed' as const) : ('ok' as const) }));
      });
    },

    async splitVideo(video, every) {
      return direct(async () => {
        if (!cctv) throw new SetupError('EncodersNotLoaded', 'this worker serves no video pipeline');
        return cctv.splitVideo(video, every);
      });
    },

    async fitScene(scene, refs, opts): Promise<FitSceneResult> {
      return direct(async () => {
        if (!cctv) throw new SetupError('EncodersNotLoaded', 'this worker serves no object-centric pipeline');
        return cctv.fitScene(scene, refs, opts);
      });
    },

    async detect(input: AnalyzeInput, ctx: StageContext): Promise<DetectOutput> {
      return runStage(ctx, async () => {
        const det = deps.detector(input.pipeline.name);
        if (ctx.pool !== deps.pool) {
          // A misrouted task would mislabel where it ran.
          throw new SetupError('PoolMismatch', `stage scheduled for pool ${ctx.pool} ran on a ${deps.pool} worker`);
        }
        const img = await loadImage(input.object);
        const r = await det.detect(img);
        return {
          value: { machine: machineInfo(), width: img.width, height: img.height, format: img.format, boxes: r.boxes },
          inferenceMs: r.inferenceMs,
          batchSize: r.batchSize,
          executionProvider: det.executionProvider,
          model: { name: det.name, version: det.version },
        };
      });
    },

    async extract(input: AnalyzeInput, detect: DetectOutput, ctx: StageContext): Promise<ExtractOutput> {
      const oc = objectCentric(input.pipeline.name);
      if (oc) return runStage(ctx, () => oc.extract(input, detect, `${currentWorkflowId('direct')}/${objectKey(input.object)}`));
      return runStage(ctx, async () => {
        const t0 = performance.now();
        const img = await loadImage(input.object);
        const features = detect.boxes.map((b, i) => {
          const crop = cropGray(img.data, img.width, img.height, b, 64);
          const app = meanStd(crop.data);
          const grad = meanStd(sobelMagnitude(crop).data);
          const vector = [app.mean, app.std, grad.mean, b.w / Math.max(1, b.h), (b.w * b.h) / (img.width * img.height), (b.x + b.w / 2) / img.width, (b.y + b.h / 2) / img.height, b.score];
          return { box: i, vector: vector.map((v) => Math.round(v * 1e5) / 1e5) };
        });
        return { value: { featureNames: [...OBJECT_FEATURES], features }, inferenceMs: performance.now() - t0 };
      });
    },

    async score(input: AnalyzeInput, detect: DetectOutput, extract: ExtractOutput, ctx: StageContext): Promise<ScoreOutput> {
      const oc = objectCentric(input.pipeline.name);
      if (oc) return runStage(ctx, () => oc.score(input, detect, extract));
      return runStage(ctx, async () => {
        const counts: Record<string, number> = {};
        for (const b of detect.boxes) counts[b.label] = (counts[b.label] ?? 0) + 1;
        const top = detect.boxes.reduce<(typeof detect.boxes)[number] | undefined>((best, b) => (!best || b.score > best.score ? b : best), undefined);
        const details: Record<string, number | string> = { objects: detect.boxes.length };
        for (const [k, v] of Object.entries(counts)) details[`count_${k}`] = v;
        return { value: { label: top?.label ?? 'none', score: top?.score ?? 0, objects: detect.boxes, details }, inferenceMs: 0 };
      });
    },

    async record(summary: AnalysisSummary): Promise<RecordResult> {
      // A refused row is replaced by a failed stand-in (RowRejected); errors become typed failures (refused twice: non-retryable).
      return direct(async () => {
        const row = buildRow(summary, Date.now());
        const landed = await writeResultRow(deps.rows, row);
        return { analysisId: row.analysis_id, table: deps.table, status: landed === 'stand-in' || summary.failure ? 'failed' : 'ok' };
      });
    },
  };
  return acts;
}
