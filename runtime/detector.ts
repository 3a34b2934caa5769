/**
 * Detection model handler, in the spirit of Apache Beam's RunInference:
 * load() once, then preprocess -> batched inference -> postprocess per request.
 * Everything model-specific (input size, layout, normalisation, output
 * decoding, labels) comes from the manifest.
 */
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import type { Pool } from '../config';
import { LookoutError, SetupError, TransientError } from '../core/errors';
import type { DecodedImage } from '../media/image';
import type { Box } from '../core/types';
import { DynamicBatcher, type BatchOptions } from './batcher';
import type { LocalModel, ModelManifest, Preprocessing } from './manifest';
import { nms, type NmsOptions } from './nms';
import { createSession, type LoadedSession } from './session';
import { tileRects, toFrame, touchesInnerEdge, type TileRect, type TilingOptions } from './tiling';
import { timeBlocking, timeSync } from './steps';

export type { TilingOptions } from './tiling';

export interface DetectResult {
  boxes: Box[];
  /**
   * Inference time attributed to this image: each model run's time divided by its batch size, summed
   * over the image's passes (one pass, or the full frame plus the tiles).
   */
  inferenceMs: number;
  /** Largest batch one of this image's passes ran in. */
  batchSize: number;
  /** Longest queue wait of this image's passes. */
  queueMs: number;
  /** Model runs for this image: 1, or 1 + tiles when tiling (optional so other Detector implementations need not count). */
  passes?: number;
}

/**
 * How a detector turns model outputs into boxes, on top of the manifest's decoding. Every field is
 * optional: an empty object (or none) is the manifest's behaviour, one pass over the stretched frame.
 */
export interface DetectorOptions {
  /** Minimum score of a box for every class not in classScoreThresholds (default: manifest decoding.scoreThreshold). */
  scoreThreshold?: number;
  /** Minimum score per class label, e.g. `{ person: 0.4, car: 0.25 }` (a label the model lacks is an error). */
  classScoreThresholds?: Record<string, number>;
  nms?: {
    /** Overlap above which the lower-scoring box is dropped (default: manifest decoding.iouThreshold). */
    iouThreshold?: number;
    /** 'iou' (default) or 'ios' (intersection over the smaller box). */
    metric?: 'iou' | 'ios';
    /** Labels that suppress each other as one class, e.g. `[['car', 'truck', 'bus']]`. */
    classGroups?: string[][];
    /** All classes suppress each other. */
    classAgnostic?: boolean;
  };
  /** Most boxes per image (default: manifest decoding.maxDetections). */
  maxDetections?: number;
  /** Overlapping tiles run besides (or instead of) the whole frame; absent = whole frame only. */
  tiling?: TilingOptions;
  /**
   * Model input size in pixels (default: manifest preprocessing width/height). Needs a graph whose input
   * height and width are free (-1 in the manifest's input dims); both must be multiples of the largest
   * stride. 768 x 576 feeds a 768 x 576 CCTV frame at its own scale instead of squeezing it to 416 x 416.
   * `keepAspect`: width x height is a pixel budget, and each frame (or tile) is fed at the multiple-of-stride
   * size nearest its own aspect with about that many pixels — a 4:3 frame at 512 x 384 exactly, a 16:9 one
   * at 576 x 320 instead of squeezed to 4:3 (which cost 4-7 points of person recall on 16:9 crops of vtest).
   */
  inputSize?: { width: number; height: number; keepAspect?: boolean };
  /** Also run the left-right mirrored whole frame and merge its boxes (test-time augmentation; 2x the cost). */
  mirror?: boolean;
  /**
   * Pixel normalisation instead of the manifest's: channel order and value = (pixel * scale - mean) / std.
   * NanoDet's upstream training used `{ channels: 'BGR', scale: 1, mean: [103.53, 116.28, 123.675],
   * std: [57.375, 57.12, 58.395] }`; the manifest follows @vladmandic/human (RGB / 255).
   */
  normalization?: Pick<Preprocessing, 'channels' | 'scale' | 'mean' | 'std'>;
}

export interface Detector {
  name: string;
  version: number;
  executionProvider: string;
  detect(img: DecodedImage): Promise<DetectResult>;
  close(): Promise<void>;
}

export interface NanodetDecoding {
  type: 'nanodet';
  strides: number[];
  regMax: number;
  numClasses: number;
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections: number;
}

/**
 * Resizes raw RGB (or the `region` of it: a tile) to the model's input and lays it out as float32
 * (NCHW or NHWC) with scale/mean/std.
 */
export async function preprocess(
  img: DecodedImage,
  pre: Preprocessing,
  layout: string,
  region?: TileRect,
  mirror = false,
): Promise<Float32Array> {
  const { width: W, height: H } = pre;
  let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  if (region && (region.x !== 0 || region.y !== 0 || region.w !== img.width || region.h !== img.height)) {
    pipeline = pipeline.extract({ left: region.x, top: region.y, width: region.w, height: region.h });
  }
  if (mirror) pipeline = pipeline.flop();
  const resized = await pipeline
    .resize(W, H, { fit: pre.resize === 'letterbox' ? 'contain' : 'fill', background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer();
  return timeSync('preprocess', () => {
    const out = new Float32Array(3 * W * H);
    const order = pre.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
    const plane = W * H;
    // Each output channel's value for each byte, by the same expression as per pixel (so bit-identical): one
    // lookup per value instead of a multiply, a subtraction and a division.
    const lut = [0, 1, 2].map((c) =>
      Float32Array.from({ length: 256 }, (_, v) => (v * pre.scale - pre.mean[c]) / pre.std[c]),
    );
    const [l0, l1, l2] = lut;
    const [o0, o1, o2] = order;
    if (layout === 'NCHW') {
      for (let p = 0, q = 0; p < plane; p++, q += 3) {
        out[p] = l0[resized[q + o0]];
        out[plane + p] = l1[resized[q + o1]];
        out[2 * plane + p] = l2[resized[q + o2]];
      }
    } else {
      for (let p = 0, q = 0; p < plane; p++, q += 3) {
        out[q] = l0[resized[q + o0]];
        out[q + 1] = l1[resized[q + o1]];
        out[q + 2] = l2[resized[q + o2]];
      }
    }
    return out;
  });
}

/**
 * NanoDet (GFL head) decoding. For stride S, cell i: col = i % (inW/S), row = floor(i / (inW/S)),
 * centre = ((col + 0.5) S, (row + 0.5) S); each side's distance = S * E[bin] under softmax over
 * regMax + 1 bins; box = (cx - l, cy - t, cx + r, cy + b), clipped, scaled to the image.
 */
export function decodeNanodet(
  outputs: Record<string, { data: Float32Array; offset: number }>,
  dec: NanodetDecoding,
  inputSize: { width: number; height: number },
  image: { width: number; height: number },
  labels: string[],
): Box[] {
  return nms(decodeNanodetCandidates(outputs, dec, inputSize, image, labels), dec.iouThreshold, dec.maxDetections);
}

/** decodeNanodet before NMS: every cell whose best class scores above dec.scoreThreshold. */
export function decodeNanodetCandidates(
  outputs: Record<string, { data: Float32Array; offset: number }>,
  dec: NanodetDecoding,
  inputSize: { width: number; height: number },
  image: { width: number; height: number },
  labels: string[],
): Box[] {
  const bins = dec.regMax + 1;
  const candidates: Box[] = [];
  const sx = image.width / inputSize.width;
  const sy = image.height / inputSize.height;
  const dist = new Float64Array(4);
  for (const S of dec.strides) {
    const scores = outputs[`scores_s${S}`];
    const dists = outputs[`dist_s${S}`];
    if (!scores || !dists) throw new Error(`model output scores_s${S}/dist_s${S} missing`);
    const cols = Math.ceil(inputSize.width / S);
    const rows = Math.ceil(inputSize.height / S);
    const cells = cols * rows;
    for (let i = 0; i < cells; i++) {
      const sBase = scores.offset + i * dec.numClasses;
      let best = -1;
      let bestScore = dec.scoreThreshold;
      for (let k = 0; k < dec.numClasses; k++) {
        const s = scores.data[sBase + k];
        if (s > bestScore) {
          bestScore = s;
          best = k;
        }
      }
      if (best < 0) continue;
      const dBase = dists.offset + i * 4 * bins;
      for (let side = 0; side < 4; side++) {
        const o = dBase + side * bins;
        let max = -Infinity;
        for (let b = 0; b < bins; b++) max = Math.max(max, dists.data[o + b]);
        let sum = 0;
        let exp = 0;
        for (let b = 0; b < bins; b++) {
          const e = Math.exp(dists.data[o + b] - max);
          sum += e;
          exp += e * b;
        }
        dist[side] = (exp / sum) * S;
      }
      const cx = ((i % cols) + 0.5) * S;
      const cy = (Math.floor(i / cols) + 0.5) * S;
      const x1 = Math.max(0, cx - dist[0]);
      const y1 = Math.max(0, cy - dist[1]);
      const x2 = Math.min(inputSize.width, cx + dist[2]);
      const y2 = Math.min(inputSize.height, cy + dist[3]);
      if (x2 <= x1 || y2 <= y1) continue;
      candidates.push({
        classId: best,
        label: labels[best] ?? String(best),
        score: bestScore,
        x: x1 * sx,
        y: y1 * sy,
        w: (x2 - x1) * sx,
        h: (y2 - y1) * sy,
      });
    }
  }
  return candidates;
}

interface DetectRequest {
  tensor: Float32Array;
  /** Size of the pixels this tensor was made from (the frame, or one tile). */
  width: number;
  height: number;
  /** The model input size the tensor has. */
  input: { width: number; height: number };
}

/**
 * The model input size for a region of `width` x `height` pixels: the budget itself, or with `keepAspect` the
 * multiple of `stride` nearest the region's aspect at about the budget's pixel count.
 */
export function inputSizeFor(
  budget: { width: number; height: number; keepAspect?: boolean },
  width: number,
  height: number,
  stride: number,
): { width: number; height: number } {
  if (!budget.keepAspect) return { width: budget.width, height: budget.height };
  const aspect = width / height;
  const h = Math.sqrt((budget.width * budget.height) / aspect);
  const round = (v: number) => Math.max(stride, Math.round(v / stride) * stride);
  return { width: round(h * aspect), height: round(h) };
}

/** What detect() does, resolved once from the manifest and the options. */
export interface ResolvedDetection {
  /** Score the decoder keeps (the lowest of all thresholds); classes are then cut at their own. */
  decodeThreshold: number;
  /** Minimum score per class id. */
  minScore: Float64Array;
  nms: NmsOptions;
  tiling?: Required<TilingOptions>;
  /** Model input size (with keepAspect: the pixel budget, see inputSizeFor). */
  inputSize: { width: number; height: number; keepAspect: boolean };
  /** The model's largest stride (input sizes are multiples of it). */
  stride: number;
  mirror: boolean;
  normalization?: Pick<Preprocessing, 'channels' | 'scale' | 'mean' | 'std'>;
}

export class DetectorOptionsError extends SetupError {
  constructor(message: string) {
    super('DetectorOptionsError', message);
    this.name = 'DetectorOptionsError';
  }
}

/** Checks the options against the model (labels, ranges, input dims) and merges them with the manifest's decoding. */
export function resolveDetection(
  dec: NanodetDecoding,
  labels: string[],
  opts: DetectorOptions = {},
  input: { preprocessing: { width: number; height: number }; dims?: number[]; layout?: string } = {
    preprocessing: { width: 416, height: 416 },
  },
): ResolvedDetection {
  const where = 'detector options';
  // A misspelt key (a profile in a manifest saying "tilling") would otherwise be ignored without a word.
  const known = (obj: object | undefined, keys: string[], what: string) => {
    const bad = Object.keys(obj ?? {}).filter((k) => !keys.includes(k));
    if (bad.length)
      throw new DetectorOptionsError(
        `${where}: unknown ${what} ${bad.map((k) => JSON.stringify(k)).join(', ')} (known: ${keys.join(', ')})`,
      );
  };
  known(
    opts,
    [
      'scoreThreshold',
      'classScoreThresholds',
      'nms',
      'maxDetections',
      'tiling',
      'inputSize',
      'mirror',
      'normalization',
    ],
    'option',
  );
  known(opts.nms, ['iouThreshold', 'metric', 'classGroups', 'classAgnostic'], 'nms option');
  known(opts.tiling, ['cols', 'rows', 'overlap', 'fullFrame', 'seamMarginPx'], 'tiling option');
  known(opts.inputSize, ['width', 'height', 'keepAspect'], 'inputSize option');
  const stride = Math.max(...dec.strides);
  let inputSize = { width: input.preprocessing.width, height: input.preprocessing.height, keepAspect: false };
  if (opts.inputSize) {
    const { width, height } = opts.inputSize;
    const keepAspect = opts.inputSize.keepAspect ?? false;
    if (typeof keepAspect !== 'boolean')
      throw new DetectorOptionsError(
        `${where}: inputSize.keepAspect must be true or false, got ${JSON.stringify(keepAspect)}`,
      );
    if (!(
      Number.isInteger(width) &&
      Number.isInteger(height) &&
      width >= stride &&
      height >= stride &&
      width % stride === 0 &&
      height % stride === 0
    )) {
      throw new DetectorOptionsError(
        `${where}: inputSize must be positive multiples of the largest stride ${stride}, got ${width} x ${height}`,
      );
    }
    // Height and width positions in the declared input dims: NCHW [n, c, h, w] or NHWC [n, h, w, c].
    const [hi, wi] = (input.layout ?? 'NCHW') === 'NCHW' ? [2, 3] : [1, 2];
    const dims = input.dims ?? [];
    const free = (i: number) => dims[i] === undefined || dims[i] === -1;
    // With keepAspect other sizes than the budget are fed, so even the budget's own size needs free dims.
    const fits = keepAspect
      ? free(hi) && free(wi)
      : (free(hi) || dims[hi] === height) && (free(wi) || dims[wi] === width);
    if (!fits) {
      throw new DetectorOptionsError(
        `${where}: inputSize ${width} x ${height}${keepAspect ? ' with keepAspect' : ''} needs a model with a free input height and width, but its input dims are [${dims.join(', ')}]`,
      );
    }
    inputSize = { width, height, keepAspect };
  }
  const unit = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1))
      throw new DetectorOptionsError(`${where}: ${name} must be a number in [0, 1], got ${JSON.stringify(v)}`);
    return v;
  };
  const base = opts.scoreThreshold === undefined ? dec.scoreThreshold : unit('scoreThreshold', opts.scoreThreshold);
  const minScore = new Float64Array(dec.numClasses).fill(base);
  for (const [label, v] of Object.entries(opts.classScoreThresholds ?? {})) {
    const id = labels.indexOf(label);
    if (id < 0)
      throw new DetectorOptionsError(
        `${where}: classScoreThresholds names "${label}", which the model does not detect`,
      );
    minScore[id] = unit(`classScoreThresholds.${label}`, v);
  }
  const group = new Map<number, number>();
  (opts.nms?.classGroups ?? []).forEach((g, gi) => {
    for (const label of g) {
      const id = labels.indexOf(label);
      if (id < 0)
        throw new DetectorOptionsError(`${where}: nms.classGroups names "${label}", which the model does not detect`);
      if (group.has(id)) throw new DetectorOptionsError(`${where}: nms.classGroups names "${label}" twice`);
      group.set(id, gi);
    }
  });
  const maxDetections = opts.maxDetections ?? dec.maxDetections;
  if (!(Number.isInteger(maxDetections) && maxDetections >= 1))
    throw new DetectorOptionsError(`${where}: maxDetections must be an integer >= 1, got ${maxDetections}`);
  const metric = opts.nms?.metric ?? 'iou';
  if (metric !== 'iou' && metric !== 'ios')
    throw new DetectorOptionsError(`${where}: nms.metric must be "iou" or "ios", got ${JSON.stringify(metric)}`);
  const nmsOpts: NmsOptions = {
    iouThreshold:
      opts.nms?.iouThreshold === undefined ? dec.iouThreshold : unit('nms.iouThreshold', opts.nms.iouThreshold),
    maxDetections,
    metric,
    classAgnostic: opts.nms?.classAgnostic ?? false,
    groupOf: group.size ? (c) => group.get(c) : undefined,
  };
  let tiling: Required<TilingOptions> | undefined;
  if (opts.tiling) {
    const t = opts.tiling;
    try {
      tileRects(1000, 1000, t); // validates cols, rows, overlap
    } catch (err) {
      throw new DetectorOptionsError(`${where}: ${(err as Error).message}`);
    }
    tiling = {
      cols: t.cols,
      rows: t.rows,
      overlap: t.overlap,
      fullFrame: t.fullFrame ?? true,
      seamMarginPx: t.seamMarginPx ?? 2,
    };
    if (!tiling.fullFrame && t.cols * t.rows === 1)
      throw new DetectorOptionsError(
        `${where}: tiling 1 x 1 without the full frame is the full frame; drop the tiling option`,
      );
  }
  let normalization: ResolvedDetection['normalization'];
  if (opts.normalization) {
    const n = opts.normalization;
    const triple = (v: unknown) =>
      Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    if (
      !['RGB', 'BGR'].includes(n.channels) ||
      !(typeof n.scale === 'number' && n.scale > 0) ||
      !triple(n.mean) ||
      !triple(n.std) ||
      n.std.some((x) => x === 0)
    ) {
      throw new DetectorOptionsError(
        `${where}: normalization needs channels RGB|BGR, scale > 0, mean and std of 3 numbers (std non-zero), got ${JSON.stringify(n)}`,
      );
    }
    normalization = { channels: n.channels, scale: n.scale, mean: [...n.mean], std: [...n.std] };
  }
  return {
    decodeThreshold: Math.min(...minScore),
    minScore,
    nms: nmsOpts,
    tiling,
    inputSize,
    stride,
    mirror: opts.mirror ?? false,
    normalization,
  };
}

/** One model run over a frame: the whole frame, its mirror image, or one tile. */
export type Pass = TileRect & { tile: boolean; mirror?: boolean };

/** The passes of one frame: the whole frame (and its mirror image) and/or its tiles. */
export function passesFor(
  width: number,
  height: number,
  tiling: Required<TilingOptions> | undefined,
  mirror = false,
): Pass[] {
  const whole: Pass = { x: 0, y: 0, w: width, h: height, tile: false };
  const wholes = mirror ? [whole, { ...whole, mirror: true }] : [whole];
  if (!tiling) return wholes;
  const tiles = tileRects(width, height, tiling).map((r) => ({ ...r, tile: true }));
  return tiling.fullFrame ? [...wholes, ...tiles] : tiles;
}

/** Boxes of a pass (pixels of the pass's region, mirrored if the pass was) in frame coordinates. */
export function passToFrame(boxes: Box[], pass: Pass): Box[] {
  const unmirrored = pass.mirror ? boxes.map((b) => ({ ...b, x: pass.w - b.x - b.w })) : boxes;
  return toFrame(unmirrored, pass);
}

/**
 * Merges the boxes of all passes (already in frame coordinates): class thresholds, then dropping the
 * fragments tiles cut at their inner edges, then one NMS over everything, so an object seen by the full
 * frame and by two overlapping tiles ends up as one box.
 */
export function mergePasses(
  passes: Array<{ rect: Pass; boxes: Box[] }>,
  frame: { width: number; height: number },
  r: ResolvedDetection,
): Box[] {
  const all: Box[] = [];
  const margin = r.tiling?.seamMarginPx ?? -1;
  for (const p of passes) {
    for (const b of p.boxes) {
      if (b.score < r.minScore[b.classId]) continue;
      if (p.rect.tile && touchesInnerEdge(b, p.rect, frame, margin)) continue;
      all.push(b);
    }
  }
  return nms(all, r.nms);
}

export class OnnxDetector implements Detector {
  readonly name: string;
  readonly version: number;
  readonly executionProvider: string;
  private readonly batcher: DynamicBatcher<DetectRequest, Box[]>;
  private readonly inputName: string;
  private readonly layout: string;
  private readonly pre: Preprocessing;
  private readonly dec: NanodetDecoding;
  readonly detection: ResolvedDetection;

  private constructor(
    private readonly manifest: ModelManifest,
    private readonly loaded: LoadedSession,
    batch: BatchOptions,
    options: DetectorOptions,
  ) {
    this.name = manifest.name;
    this.version = manifest.version;
    this.executionProvider = loaded.executionProvider;
    if (!manifest.preprocessing) throw new Error(`model ${manifest.name}: manifest has no preprocessing`);
    if (manifest.decoding?.type !== 'nanodet')
      throw new Error(`model ${manifest.name}: unsupported decoding ${manifest.decoding?.type}`);
    this.pre = manifest.preprocessing;
    this.dec = manifest.decoding as unknown as NanodetDecoding;
    this.detection = resolveDetection(this.dec, manifest.labels ?? [], options, OnnxDetector.inputSpec(manifest));
    this.pre = {
      ...this.pre,
      width: this.detection.inputSize.width,
      height: this.detection.inputSize.height,
      ...this.detection.normalization,
    };
    this.inputName = manifest.inputs[0].name;
    this.layout = manifest.inputs[0].layout ?? 'NCHW';
    this.batcher = new DynamicBatcher(batch, (items) => this.runBatch(items));
  }

  /** Batch options from the manifest; `maxBatchSize: 1` turns batching off. */
  static batchOptions(manifest: ModelManifest, override?: Partial<BatchOptions>): BatchOptions {
    const db = manifest.dynamicBatching ?? { maxBatchSize: 1, maxQueueDelayMs: 0 };
    return {
      maxBatchSize: Math.min(db.maxBatchSize, manifest.maxBatchSize),
      maxQueueDelayMs: db.maxQueueDelayMs,
      ...override,
    };
  }

  /**
   * `detection` overrides the manifest's decoding (thresholds, NMS, tiling); absent = the manifest's
   * behaviour. A string names one of the manifest's `detectionProfiles`.
   */
  static async load(
    model: LocalModel,
    opts: { pool: Pool; threads?: number; batch?: Partial<BatchOptions>; detection?: DetectorOptions | string },
  ): Promise<OnnxDetector> {
    const detection =
      typeof opts.detection === 'string' ? detectionProfile(model.manifest, opts.detection) : (opts.detection ?? {});
    // Resolve before loading the session, so a bad option fails fast and names itself.
    resolveDetection(
      model.manifest.decoding as unknown as NanodetDecoding,
      model.manifest.labels ?? [],
      detection,
      OnnxDetector.inputSpec(model.manifest),
    );
    const loaded = await createSession(model.modelPath, { pool: opts.pool, threads: opts.threads });
    return new OnnxDetector(model.manifest, loaded, OnnxDetector.batchOptions(model.manifest, opts.batch), detection);
  }

  private static inputSpec(manifest: ModelManifest) {
    if (!manifest.preprocessing) throw new Error(`model ${manifest.name}: manifest has no preprocessing`);
    return {
      preprocessing: manifest.preprocessing,
      dims: manifest.inputs[0]?.dims,
      layout: manifest.inputs[0]?.layout,
    };
  }

  get batchStats() {
    return this.batcher.stats;
  }

  /** One model run per input size among the items (with keepAspect, frames of other aspects batch apart). */
  private async runBatch(items: DetectRequest[]): Promise<Box[][]> {
    const results: Box[][] = new Array(items.length);
    const bySize = new Map<string, number[]>();
    items.forEach((it, i) => {
      const key = `${it.input.width}x${it.input.height}`;
      const group = bySize.get(key);
      if (group) group.push(i);
      else bySize.set(key, [i]);
    });
    for (const idx of bySize.values()) {
      const group = idx.map((i) => items[i]);
      const boxes = await this.runSameSize(group);
      idx.forEach((i, k) => (results[i] = boxes[k]));
    }
    return results;
  }

  private async runSameSize(items: DetectRequest[]): Promise<Box[][]> {
    const { width: W, height: H } = items[0].input;
    const per = 3 * W * H;
    // A batch of one runs on its own tensor (no copy of ~2 MB per frame).
    const data =
      items.length === 1 && items[0].tensor.length === per ? items[0].tensor : new Float32Array(per * items.length);
    if (data !== items[0].tensor) items.forEach((it, i) => data.set(it.tensor, i * per));
    const dims = this.layout === 'NCHW' ? [items.length, 3, H, W] : [items.length, H, W, 3];
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await timeBlocking('inference', () =>
        this.loaded.session.run({ [this.inputName]: new ort.Tensor('float32', data, dims) }),
      );
    } catch (err) {
      throw new TransientError(
        'InferenceError',
        `onnxruntime run failed for ${this.name}: ${(err as Error).message}`,
        err,
      );
    }
    const dec = { ...this.dec, scoreThreshold: this.detection.decodeThreshold };
    return timeSync('postprocess', () =>
      items.map((it, b) => {
        const views: Record<string, { data: Float32Array; offset: number }> = {};
        for (const [name, t] of Object.entries(out)) {
          const tensor = t as ort.Tensor;
          const perItem = tensor.data.length / items.length;
          views[name] = { data: tensor.data as Float32Array, offset: b * perItem };
        }
        return decodeNanodetCandidates(
          views,
          dec,
          { width: W, height: H },
          { width: it.width, height: it.height },
          this.manifest.labels ?? [],
        );
      }),
    );
  }

  async detect(img: DecodedImage): Promise<DetectResult> {
    const rects = passesFor(img.width, img.height, this.detection.tiling, this.detection.mirror);
    const inputs = rects.map((r) => inputSizeFor(this.detection.inputSize, r.w, r.h, this.detection.stride));
    let tensors: Float32Array[];
    try {
      tensors = await Promise.all(
        rects.map((r, i) => preprocess(img, { ...this.pre, ...inputs[i] }, this.layout, r, r.mirror)),
      );
    } catch (err) {
      if (err instanceof LookoutError) throw err;
      throw new TransientError(
        'PreprocessError',
        `preprocessing for ${this.name} failed: ${(err as Error).message}`,
        err,
      );
    }
    // All passes are submitted at once, so the batcher can run them as one batch.
    const results = await Promise.all(
      tensors.map((tensor, i) =>
        this.batcher.submit({ tensor, width: rects[i].w, height: rects[i].h, input: inputs[i] }),
      ),
    );
    const boxes = timeSync('postprocess', () =>
      mergePasses(
        results.map((r, i) => ({ rect: rects[i], boxes: passToFrame(r.output, rects[i]) })),
        img,
        this.detection,
      ),
    );
    return {
      boxes,
      inferenceMs: results.reduce((s, r) => s + r.inferenceMs / r.batchSize, 0),
      batchSize: Math.max(...results.map((r) => r.batchSize)),
      queueMs: Math.max(...results.map((r) => r.queueMs)),
      passes: rects.length,
    };
  }

  async close(): Promise<void> {
    await this.loaded.session.release();
  }
}

/** One image through a detector, as a stage's work: boxes in image pixels plus what ran and how long inference took. */
export async function detectionWork(
  det: Detector,
  img: DecodedImage,
): Promise<{
  value: { width: number; height: number; format: string; boxes: Box[] };
  inferenceMs: number;
  batchSize: number;
  executionProvider: string;
  model: { name: string; version: number };
}> {
  const r = await det.detect(img);
  return {
    value: { width: img.width, height: img.height, format: img.format, boxes: r.boxes },
    inferenceMs: r.inferenceMs,
    batchSize: r.batchSize,
    executionProvider: det.executionProvider,
    model: { name: det.name, version: det.version },
  };
}

/** A named set of detector options from the manifest's `detectionProfiles` (e.g. "cctv"). */
export function detectionProfile(manifest: ModelManifest, name: string): DetectorOptions {
  const profiles = manifest.detectionProfiles ?? {};
  const p = Object.prototype.hasOwnProperty.call(profiles, name) ? profiles[name] : undefined;
  if (!p)
    throw new DetectorOptionsError(
      `model ${manifest.name}: no detection profile "${name}" (manifest has: ${Object.keys(profiles).join(', ') || 'none'})`,
    );
  // Descriptive keys (notes) are allowed next to the options; resolveDetection checks the options.
  const { notes: _notes, ...options } = p as DetectorOptions & { notes?: unknown };
  return options;
}
