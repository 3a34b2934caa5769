/**
 * The constructed-anomaly evaluation of cctv-attributes (and the cctv-ocae baseline) as a library: the CLI
 * bench/eval-cctv-attributes.ts and the floor test test/unit/cctv-attributes-eval.test.ts both call evaluate().
 *
 * Design (see USAGE of the CLI and the evaluation.md it writes): two scenes = two non-overlapping crops of
 * vtest.avi's view; fit / held-out calibration / evaluation ranges that never overlap; anomalies made of
 * objects cut from real frames of the fit range and blended along plausible paths, one copy of the test
 * range per anomaly kind; negatives = the unmodified test frames.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import sharp from 'sharp';
import {
  embeddingPlotPng,
  fitAttributeModel,
  frameScores,
  scoreObservations,
  SegmentAnalyzer,
  type AnalyzerState,
  type AttributeFitOptions,
  type AttributeModel,
  type CropEmbedder,
  type FitReport,
  type FrameDetector,
  type FrameScore,
  type SmootherState,
  type FrameObservations,
  type ScoredFrame,
} from '../methods/cctv-attributes';
import { DEFAULT_CROSS_FIT_FOLDS, type TrackScoreState } from '../methods/cctv-attributes/model';
import {
  fitSceneModel,
  frameScore as ocaeFrameScore,
  scoreObjects as ocaeScoreObjects,
} from '../methods/cctv-ocae/scene-model';
import { CROP as OCAE_CROP, MAX_OBJECTS as OCAE_MAX_OBJECTS } from '../methods/cctv-ocae/stages';
import type { Box } from '../core/types';
import type { DecodedImage } from '../media/image';
import { readFrames } from '../media/video';
import { cropGray, sobelMagnitude } from '../media/vision';
import { detectionProfile, OnnxDetector, type DetectorOptions } from '../runtime/detector';
import { cctvAttributesMethod, embedEvery } from '../methods/cctv-attributes/method';
import { OnnxEmbedder, RgbCropEmbedder } from '../runtime/embedder';
import { OnnxPoseEstimator } from '../runtime/pose';
import type { PoseEstimator } from '../methods/cctv-attributes/analyzer';
import { seededRandom } from '../runtime/knn';
import { defaultModelRepo, loadLocalModel, type LocalModel } from '../runtime/manifest';
import { iou } from '../runtime/nms';
import { onnxruntimeVersion } from '../runtime/session';
import { percentile, rocAuc, rocCurve } from './metrics';
import {
  DEFAULT_EPISODE_SETTINGS,
  episodeOptionsAt,
  episodesOf,
  type Episode as AlertEpisode,
  type EpisodeOptions,
  type EpisodeSettings,
} from '../runtime/episodes';
import { matchEpisodes, summariseEpisodes, type EpisodeMatch, type EpisodeSummary } from './metrics/episodes';

const ROOT = path.resolve(__dirname, '..');
export const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const FPS = 10;
const FULL_W = 768;
const FULL_H = 576;
const r4 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : x);

export interface EvalOptions {
  split: 'test' | 'validation' | 'shift';
  /** Output folder for results.json, evaluation.md, roc.png, examples; null writes nothing. */
  out: string | null;
  /** MobileNetV2 model folder (manifest.json + 1/model.onnx), or null for no appearance attribute. */
  appearance: string | null;
  baseline: boolean;
  threads: number;
  /** Smoke mode: short ranges, one episode per kind and scene. */
  limit: number | null;
  /**
   * Detector settings: 'method' (default) = the detection profile the cctv-attributes pipeline runs in
   * production, at the same pixel scale on the scene crops; 'manifest' = the model manifest's own decoding
   * (RGB/255, 416x416, score 0.3), which every figure before 2026-12-03 used.
   */
  detector?: 'method' | 'manifest';
  /** Detector options merged over the method's profile (tuning only: score thresholds per class, input size, ...). */
  detectionOverride?: DetectorOptions;
  /** Fit options of the new method beyond the defaults (for ablations on the validation split). */
  fit?: AttributeFitOptions;
  /** Alert episode settings (default runtime/episodes.ts DEFAULT_EPISODE_SETTINGS, production's). */
  episodes?: EpisodeSettings;
  /** Write every analysed frame's observations (clean passes and anomaly clips, with the pasted boxes) to this file (v8 serialisation), so fit and scoring options can be compared offline (bench/tune-cctv-attributes.ts). */
  dumpObs?: string | null;
  /** Run the optional pose step (models/movenet on person crops at the appearance cadence) in the analyzer. */
  pose?: boolean;
  command: string;
  log?: (s: string) => void;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the results object is open JSON, read by the report writers */
export type EvalResults = Record<string, any> & {
  auc: Record<string, Record<string, any>>;
  normalFramesFlagged: { new: number; baseline: number; of: number };
};
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---------------------------------------------------------------------------------------------
// Design

interface Ranges {
  fit: [number, number]; // inclusive
  cal: [number, number];
  test: [number, number];
  seed: number;
}

export function rangesFor(a: Pick<EvalOptions, 'split' | 'limit'>): Ranges {
  if (a.limit !== null) {
    const n = a.limit;
    // Smoke test: short contiguous ranges from the start of the video (so little is decoded and tracked).
    return {
      fit: [0, 3 * n - 1],
      cal: [3 * n, 4 * n - 1],
      test: [4 * n, 6 * n - 1],
      seed: a.split === 'test' ? 20261207 : a.split === 'validation' ? 4242 : 3131,
    };
  }
  if (a.split === 'test') return { fit: [0, 399], cal: [400, 499], test: [500, 794], seed: 20261207 };
  if (a.split === 'validation') return { fit: [0, 249], cal: [250, 349], test: [350, 499], seed: 4242 };
  // 'shift': a second validation split with a longer horizon after a shorter fit (200 frames fitted, 300
  // evaluated), so the evaluated frames hold people and places the fit never saw, as the test frames do.
  return { fit: [0, 149], cal: [150, 199], test: [200, 499], seed: 3131 };
}

interface Scene {
  name: 'left' | 'right';
  x0: number;
  width: number;
  /** Foot rows (full-frame y) of the footpath / paved area at full-frame x: [top, bottom]. */
  walk: (x: number) => [number, number];
  /** Where grass starts below the path (full-frame y) at x, and the x range of grass usable for objects. */
  grassTop: (x: number) => number;
  grassX: [number, number];
}

const SCENES: Scene[] = [
  {
    name: 'left',
    x0: 0,
    width: 384,
    walk: (x) => [205, 238 + 0.15 * x],
    grassTop: (x) => 280 + 0.2 * x,
    grassX: [40, 340],
  },
  {
    name: 'right',
    x0: 384,
    width: 384,
    walk: (x) => [250, 300 + 0.2 * (x - 384)],
    grassTop: (x) => 350 + 0.44 * (x - 384),
    grassX: [400, 560],
  },
];

/**
 * The cctv-attributes pipeline's detection profile, for a scene crop: its input size scaled by the same factor
 * the profile applies to vtest.avi's full 768x576 frame, for which it was chosen (512x384 for 768x576 -> 256x384
 * for a 384x576 crop), so people are seen at the pixel size production sees them. `fullFrameInput` is the
 * profile's own size, for the report.
 */
export function sceneCropDetection(manifest: Parameters<typeof detectionProfile>[0]): {
  options: DetectorOptions;
  fullFrameInput: { width: number; height: number };
} {
  const profile = detectionProfile(manifest, cctvAttributesMethod.detectionProfile ?? 'cctv');
  const base = profile.inputSize ?? { width: manifest.preprocessing!.width, height: manifest.preprocessing!.height };
  const widths = new Set(SCENES.map((s) => s.width));
  if (widths.size !== 1) throw new Error('scenes of different widths need one detector each (bug)');
  const round32 = (v: number) => Math.max(32, Math.round(v / 32) * 32);
  const inputSize = {
    width: round32((SCENES[0].width * base.width) / FULL_W),
    height: round32((FULL_H * base.height) / FULL_H),
  };
  return { options: { ...profile, inputSize }, fullFrameInput: { width: base.width, height: base.height } };
}

/** Height in pixels of a standing person whose feet are at full-frame row y (read off vtest.avi; the seed's eval uses it too). */
const personHeightAt = (yFoot: number) => 0.25 * yFoot + 15;
/** Walking: ~0.05 person heights per frame at 10 fps (the woman in red walks 143 px in 40 frames at ~70 px tall). */
const WALK = 0.05;
/** The white van parked top right in every frame of vtest.avi (full-frame pixels), read off frame 0 at 4x zoom. */
const VAN = { x: 654, y: 44, w: 71, h: 57 };
/** Van height relative to a person standing at the same foot row (57 px at row 101, where a person is ~40 px). */
const VAN_TO_PERSON = 1.42;

type Kind = 'vehicle-driving' | 'vehicle-parked' | 'running' | 'wrong-direction' | 'loitering' | 'group-gathering';
export const KINDS: Kind[] = [
  'vehicle-driving',
  'vehicle-parked',
  'running',
  'wrong-direction',
  'loitering',
  'group-gathering',
];
const KIND_TEXT: Record<Kind, string> = {
  'vehicle-driving':
    'wrong place: the parked van cut out and driven along the footpath / paved area at 1.5 person heights/s (~3x walking)',
  'vehicle-parked': 'wrong class for the area: the van standing on the grass, where only people were seen',
  running:
    'wrong speed: a real walking person (gait frames of a real track, played 4x faster) moved along the footpath at 4x walking speed',
  'wrong-direction':
    'wrong direction: a real walking person moved straight towards or away from the camera at walking speed across the footpath, where people walk across the view',
  loitering:
    "loitering: a real person standing still on the footpath for up to 20 s (one episode per scene); frames from 7 s on are labelled anomalous (no method constant: the method's dwell reference is 10 s), the first 7 s are left out (people do stop for a few seconds here)",
  'group-gathering':
    'a group gathering (no single attribute mirrors it): three real people (three different tracks) walk from different sides towards one spot on the footpath at walking speed and stand there together; labelled anomalous from when the last one arrives until they leave (8 s)',
};
/** Loitering: standing for 20 s; anomalous from 7 s on (people do stop for a few seconds in this scene; 7 s is deliberately no constant of the method). */
const LOITER_FRAMES = 200;
const LOITER_GRACE = 70;
/** Group gathering: frames the three walkers take at most to arrive, and frames they stand together. */
const GATHER_WALK = 50;
const GATHER_STAND = 80;

interface Sprite {
  w: number;
  h: number;
  rgb: Float32Array; // w*h*3
  alpha: Float32Array; // w*h, 0..1
}

interface Placement {
  sprite: Sprite;
  /** Foot point in full-frame coordinates and the pasted height. */
  fx: number;
  fy: number;
  height: number;
  flip: boolean;
}

interface Episode {
  kind: Kind;
  scene: Scene['name'];
  start: number;
  end: number; // inclusive
  /** Frames labelled anomalous (loitering leaves out its first 2 s). */
  labelFrom: number;
  /** What is pasted in frame t (a group: several people). */
  place: (t: number) => Placement | Placement[] | null;
  describe: string;
}

// ---------------------------------------------------------------------------------------------
// Pixels: frames, background, sprites, blending

function medianBackground(frames: Buffer[]): Uint8Array {
  const n = frames.length;
  const out = new Uint8Array(frames[0].length);
  const col = new Uint8Array(n);
  for (let i = 0; i < out.length; i++) {
    for (let k = 0; k < n; k++) col[k] = frames[k][i];
    col.sort();
    out[i] = col[n >> 1];
  }
  return out;
}

/** Box blur of a w×h float map, radius r, in place (two passes). */
function blur(a: Float32Array, w: number, h: number, r: number): void {
  const tmp = new Float32Array(a.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      let c = 0;
      for (let k = -r; k <= r; k++) {
        const xx = x + k;
        if (xx >= 0 && xx < w) {
          s += a[y * w + xx];
          c++;
        }
      }
      tmp[y * w + x] = s / c;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      let c = 0;
      for (let k = -r; k <= r; k++) {
        const yy = y + k;
        if (yy >= 0 && yy < h) {
          s += tmp[yy * w + x];
          c++;
        }
      }
      a[y * w + x] = s / c;
    }
  }
}

/** A person cut from a full frame: alpha from the difference to the median background, soft edges. */
function personSprite(frame: Buffer, bg: Uint8Array, box: { x: number; y: number; w: number; h: number }): Sprite {
  const pad = 3;
  const x0 = Math.max(0, Math.floor(box.x - pad));
  const y0 = Math.max(0, Math.floor(box.y - pad));
  const x1 = Math.min(FULL_W, Math.ceil(box.x + box.w + pad));
  const y1 = Math.min(FULL_H, Math.ceil(box.y + box.h + pad));
  const w = x1 - x0;
  const h = y1 - y0;
  const rgb = new Float32Array(w * h * 3);
  const alpha = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = ((y0 + y) * FULL_W + x0 + x) * 3;
      let d = 0;
      for (let c = 0; c < 3; c++) {
        rgb[(y * w + x) * 3 + c] = frame[i + c];
        d = Math.max(d, Math.abs(frame[i + c] - bg[i + c]));
      }
      alpha[y * w + x] = Math.min(1, Math.max(0, (d - 18) / 30));
    }
  }
  blur(alpha, w, h, 1);
  // Fade out towards the crop border so no hard rectangle edge shows.
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) alpha[y * w + x] *= Math.min(1, Math.min(x, y, w - 1 - x, h - 1 - y) / 2);
  return { w, h, rgb, alpha };
}

/** The van: its box with a 2-pixel feathered edge (it is parked, so background difference cannot cut it). */
function vanSprite(frame: Buffer): Sprite {
  const { x: x0, y: y0, w, h } = VAN;
  const rgb = new Float32Array(w * h * 3);
  const alpha = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = ((y0 + y) * FULL_W + x0 + x) * 3;
      for (let c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = frame[i + c];
      alpha[y * w + x] = Math.min(1, (Math.min(x, y, w - 1 - x, h - 1 - y) + 0.5) / 2.5);
    }
  }
  return { w, h, rgb, alpha };
}

/** Blends a placement into a crop (RGB, scene coordinates) in place; returns the pasted rectangle in crop coordinates. */
function paste(
  crop: Buffer,
  cw: number,
  ch: number,
  sceneX0: number,
  p: Placement,
): { x: number; y: number; w: number; h: number } {
  const s = p.height / p.sprite.h;
  const w = Math.max(1, Math.round(p.sprite.w * s));
  const h = Math.max(1, Math.round(p.height));
  const left = Math.round(p.fx - sceneX0 - w / 2);
  const top = Math.round(p.fy - h);
  const { sprite } = p;
  for (let j = 0; j < h; j++) {
    const yy = top + j;
    if (yy < 0 || yy >= ch) continue;
    const sy = Math.min(sprite.h - 1, Math.max(0, ((j + 0.5) * sprite.h) / h - 0.5));
    const ya = Math.floor(sy);
    const yb = Math.min(sprite.h - 1, ya + 1);
    const fy = sy - ya;
    for (let i = 0; i < w; i++) {
      const xx = left + i;
      if (xx < 0 || xx >= cw) continue;
      let sx = Math.min(sprite.w - 1, Math.max(0, ((i + 0.5) * sprite.w) / w - 0.5));
      if (p.flip) sx = sprite.w - 1 - sx;
      const xa = Math.floor(sx);
      const xb = Math.min(sprite.w - 1, xa + 1);
      const fx = sx - xa;
      const wgt = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy];
      const idx = [ya * sprite.w + xa, ya * sprite.w + xb, yb * sprite.w + xa, yb * sprite.w + xb];
      let al = 0;
      for (let k = 0; k < 4; k++) al += wgt[k] * sprite.alpha[idx[k]];
      if (al <= 0.001) continue;
      const d = (yy * cw + xx) * 3;
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < 4; k++) v += wgt[k] * sprite.alpha[idx[k]] * sprite.rgb[idx[k] * 3 + c];
        // v is premultiplied by alpha.
        crop[d + c] = Math.max(0, Math.min(255, Math.round(v + (1 - al) * crop[d + c])));
      }
    }
  }
  return { x: left, y: top, w, h };
}

function cropOf(frame: Buffer, scene: Scene): Buffer {
  const out = Buffer.alloc(scene.width * FULL_H * 3);
  for (let y = 0; y < FULL_H; y++)
    frame.copy(out, y * scene.width * 3, (y * FULL_W + scene.x0) * 3, (y * FULL_W + scene.x0 + scene.width) * 3);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Caches so unchanged frames are detected and embedded once

class Cached implements FrameDetector, CropEmbedder {
  key: string | null = null;
  private readonly dets = new Map<string, Box[]>();
  private readonly embs = new Map<string, Float32Array>();
  detectMs: number[] = [];
  embedMs: number[] = [];
  constructor(
    private readonly detector: OnnxDetector,
    private readonly embedder: RgbCropEmbedder | null,
  ) {}
  async detect(img: DecodedImage): Promise<{ boxes: Box[] }> {
    const hit = this.key !== null ? this.dets.get(this.key) : undefined;
    if (hit) return { boxes: hit };
    const t0 = performance.now();
    const r = await this.detector.detect(img);
    this.detectMs.push(performance.now() - t0);
    if (this.key !== null) this.dets.set(this.key, r.boxes);
    return { boxes: r.boxes };
  }
  async embedCrops(
    frame: { rgb: Buffer; width: number; height: number },
    boxes: ReadonlyArray<{ x: number; y: number; w: number; h: number }>,
  ): Promise<Float32Array[]> {
    if (!this.embedder) throw new Error('no embedder (bug)');
    const keys = boxes.map((b) =>
      this.key !== null ? `${this.key}:${b.x.toFixed(2)},${b.y.toFixed(2)},${b.w.toFixed(2)},${b.h.toFixed(2)}` : null,
    );
    const missing = boxes.filter((_, i) => keys[i] === null || !this.embs.has(keys[i]!));
    const t0 = performance.now();
    const fresh = missing.length ? await this.embedder.embedCrops(frame, missing) : [];
    if (missing.length) this.embedMs.push((performance.now() - t0) / missing.length);
    let k = 0;
    return boxes.map((_, i) => {
      const key = keys[i];
      if (key !== null && this.embs.has(key)) return this.embs.get(key)!;
      const v = fresh[k++];
      if (key !== null) this.embs.set(key, v);
      return v;
    });
  }
  /** Boxes detected for a key (after a pass ran over it). */
  boxesOf(key: string): Box[] | undefined {
    return this.dets.get(key);
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics and plots

const COLORS: Record<string, string> = {
  overall: '#000000',
  'vehicle-driving': '#d62728',
  'vehicle-parked': '#ff7f0e',
  running: '#1f77b4',
  'wrong-direction': '#9467bd',
  loitering: '#2ca02c',
  'group-gathering': '#8c564b',
};

async function rocPng(
  file: string,
  panels: Array<{ title: string; curves: Array<{ name: string; auc: number; pts: Array<[number, number]> }> }>,
) {
  const PW = 430;
  const PH = 430;
  const m = { l: 55, t: 45, b: 50, r: 20 };
  const W = panels.length * (PW + m.l + m.r);
  const H = PH + m.t + m.b + 20 + 18 * 6;
  const parts = [`<rect width="${W}" height="${H}" fill="white"/>`];
  panels.forEach((p, k) => {
    const ox = k * (PW + m.l + m.r) + m.l;
    const X = (v: number) => ox + v * PW;
    const Y = (v: number) => m.t + (1 - v) * PH;
    parts.push(`<text x="${ox}" y="28" font-family="sans-serif" font-size="15">${p.title}</text>`);
    parts.push(`<rect x="${ox}" y="${m.t}" width="${PW}" height="${PH}" fill="none" stroke="#333"/>`);
    parts.push(`<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" stroke="#bbb" stroke-dasharray="4,4"/>`);
    for (let v = 0; v <= 1.0001; v += 0.2) {
      parts.push(
        `<text x="${X(v)}" y="${m.t + PH + 16}" font-family="sans-serif" font-size="11" text-anchor="middle">${v.toFixed(1)}</text>`,
      );
      parts.push(
        `<text x="${ox - 6}" y="${Y(v) + 4}" font-family="sans-serif" font-size="11" text-anchor="end">${v.toFixed(1)}</text>`,
      );
    }
    parts.push(
      `<text x="${ox + PW / 2}" y="${m.t + PH + 34}" font-family="sans-serif" font-size="12" text-anchor="middle">normal frames above threshold (false positive rate)</text>`,
    );
    parts.push(
      `<text x="${ox - 38}" y="${m.t + PH / 2}" font-family="sans-serif" font-size="12" text-anchor="middle" transform="rotate(-90 ${ox - 38} ${m.t + PH / 2})">anomalous frames above threshold</text>`,
    );
    p.curves.forEach((c, i) => {
      const col = COLORS[c.name] ?? '#777';
      parts.push(
        `<polyline fill="none" stroke="${col}" stroke-width="${c.name === 'overall' ? 2.5 : 1.5}" points="${c.pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`,
      );
      parts.push(
        `<line x1="${ox}" y1="${m.t + PH + 52 + i * 18}" x2="${ox + 22}" y2="${m.t + PH + 52 + i * 18}" stroke="${col}" stroke-width="2.5"/>`,
      );
      parts.push(
        `<text x="${ox + 28}" y="${m.t + PH + 56 + i * 18}" font-family="sans-serif" font-size="12">${c.name}: AUC ${Number.isFinite(c.auc) ? c.auc.toFixed(3) : 'n/a'}</text>`,
      );
    });
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${parts.join('')}</svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
}

async function annotatedJpeg(
  file: string,
  crop: Buffer,
  w: number,
  h: number,
  objects: ScoredFrame['objects'],
  title: string,
  threshold: number,
) {
  const esc = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const parts = objects.map((o) => {
    const col = o.abnormal ? '#ff2020' : '#20d040';
    return `<rect x="${o.x.toFixed(1)}" y="${o.y.toFixed(1)}" width="${o.w.toFixed(1)}" height="${o.h.toFixed(1)}" fill="none" stroke="${col}" stroke-width="${o.abnormal ? 2.5 : 1}"/><text x="${o.x.toFixed(1)}" y="${Math.max(10, o.y - 3).toFixed(1)}" font-family="sans-serif" font-size="11" fill="${col}">${esc(o.label)} ${o.score.toFixed(1)}</text>`;
  });
  const reasons = objects
    .filter((o) => o.abnormal)
    .flatMap((o) => o.reasons.map((r) => `${o.label}: ${r.text}`))
    .slice(0, 4);
  const lines = [title, `threshold ${threshold.toFixed(2)}`, ...reasons];
  const textBlock = lines
    .map(
      (l, i) =>
        `<text x="4" y="${14 + i * 13}" font-family="sans-serif" font-size="10" fill="white">${esc(l.length > 75 ? l.slice(0, 74) + '…' : l)}</text>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect x="0" y="0" width="${w}" height="${8 + lines.length * 13}" fill="black" fill-opacity="0.6"/>${textBlock}${parts.join('')}</svg>`;
  await sharp(crop, { raw: { width: w, height: h, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .jpeg({ quality: 85 })
    .toFile(file);
}

// ---------------------------------------------------------------------------------------------
// Anomaly construction

interface PersonTrack {
  /** Full-frame boxes of one person in consecutive frames, isolated from other boxes. */
  frames: Array<{ t: number; box: { x: number; y: number; w: number; h: number } }>;
  /** +1 walking right, -1 left. */
  heading: number;
}

/** Isolated, well-sized walking person tracks from the clean pass over the source frames. */
function personTracks(
  obsByScene: Map<string, FrameObservations[]>,
  range: [number, number],
  minRun: number,
): PersonTrack[] {
  const out: PersonTrack[] = [];
  for (const scene of SCENES) {
    const frames = (obsByScene.get(scene.name) ?? []).filter((f) => f.frame >= range[0] && f.frame <= range[1]);
    const runs = new Map<number, PersonTrack['frames']>();
    for (const f of frames) {
      for (const o of f.objects) {
        if (o.label !== 'person' || o.trackId === null || !o.confirmed) continue;
        const isolated = f.objects.every((p) => p === o || iou(p, o) === 0);
        const box = { x: o.x + scene.x0, y: o.y, w: o.w, h: o.h };
        const ok = isolated && o.h >= 45 && o.x > 2 && o.x + o.w < scene.width - 2;
        let run = runs.get(o.trackId);
        if (!ok) {
          if (run && run.length >= minRun) out.push({ frames: run, heading: 0 });
          runs.delete(o.trackId);
          continue;
        }
        if (run && run[run.length - 1].t !== f.frame - 1) {
          if (run.length >= minRun) out.push({ frames: run, heading: 0 });
          run = undefined;
        }
        if (!run) runs.set(o.trackId, (run = []));
        run.push({ t: f.frame, box });
      }
    }
    for (const run of runs.values()) if (run.length >= minRun) out.push({ frames: run, heading: 0 });
  }
  for (const tr of out) {
    const a = tr.frames[0].box;
    const b = tr.frames[tr.frames.length - 1].box;
    tr.heading = b.x + b.w / 2 >= a.x + a.w / 2 ? 1 : -1;
  }
  // Walkers only: at least ~0.02 heights per frame on average.
  return out.filter((tr) => {
    const a = tr.frames[0].box;
    const b = tr.frames[tr.frames.length - 1].box;
    return Math.abs(b.x - a.x) / (tr.frames.length * a.h) >= 0.02;
  });
}

function buildEpisodes(
  r: Ranges,
  limit: number | null,
  tracks: PersonTrack[],
  sprites: { person: (tr: PersonTrack, k: number) => Sprite; van: Sprite },
): Episode[] {
  const rand = seededRandom(r.seed);
  const U = (a: number, b: number) => a + rand() * (b - a);
  const [t0, t1] = r.test;
  const len = t1 - t0 + 1;
  const slots = limit !== null ? 1 : Math.max(1, Math.floor(len / 95));
  if (tracks.length === 0)
    throw new Error('no isolated walking person track found in the source frames: cannot cut people');
  const episodes: Episode[] = [];
  let trackPick = 0;
  const nextTrack = () => tracks[trackPick++ % tracks.length];
  for (const scene of SCENES) {
    const sx0 = scene.x0;
    const sx1 = scene.x0 + scene.width;
    for (const kind of KINDS) {
      // Loitering needs one long stay: a single episode over the whole range; the other kinds get `slots`.
      const kSlots =
        kind === 'loitering'
          ? 1
          : kind === 'group-gathering'
            ? limit !== null
              ? 1
              : Math.max(1, Math.floor(len / 145))
            : slots;
      const kSlotLen = Math.floor(len / kSlots);
      for (let s = 0; s < kSlots; s++) {
        const start = t0 + s * kSlotLen + 5;
        const maxLen = kSlotLen - 10;
        if (kind === 'vehicle-driving' || kind === 'running') {
          const dir = rand() < 0.5 ? 1 : -1;
          const xMid = U(sx0 + 60, sx1 - 60);
          const [wt, wb] = scene.walk(xMid);
          const fy = U(wt + 10, Math.min(wb, wt + 90));
          const ph = personHeightAt(fy);
          const isVan = kind === 'vehicle-driving';
          const speed = (isVan ? 0.15 : 4 * WALK) * ph; // px per frame
          const halfW = isVan ? (VAN.w / VAN.h) * VAN_TO_PERSON * ph * 0.5 : 0.2 * ph;
          const xStart = dir > 0 ? sx0 + halfW + 2 : sx1 - halfW - 2;
          const n = Math.min(maxLen, Math.floor((scene.width - 2 * halfW - 4) / speed));
          const tr = isVan ? null : nextTrack();
          episodes.push({
            kind,
            scene: scene.name,
            start,
            end: start + n - 1,
            labelFrom: start,
            describe: `${isVan ? 'van' : `person (track of frames ${tr!.frames[0].t}-${tr!.frames[tr!.frames.length - 1].t})`} ${dir > 0 ? 'rightwards' : 'leftwards'} at foot row ${fy.toFixed(0)}, ${(speed / ph).toFixed(2)} person heights/frame, ${n} frames`,
            place: (t) => {
              const k = t - start;
              if (k < 0 || k >= n) return null;
              if (isVan)
                return {
                  sprite: sprites.van,
                  fx: xStart + dir * speed * k,
                  fy,
                  height: VAN_TO_PERSON * ph,
                  flip: dir < 0,
                };
              // Gait frames of the real track played 4x faster, looping.
              const frames = tr!.frames.length;
              const idx = (4 * k) % (2 * frames - 2);
              const f = idx < frames ? idx : 2 * frames - 2 - idx;
              return {
                sprite: sprites.person(tr!, f),
                fx: xStart + dir * speed * k,
                fy,
                height: ph,
                flip: tr!.heading !== dir,
              };
            },
          });
        } else if (kind === 'vehicle-parked') {
          const fx = U(scene.grassX[0] + 60, scene.grassX[1] - 40);
          const fy = U(scene.grassTop(fx) + 50, 560);
          const ph = personHeightAt(fy);
          const n = Math.min(maxLen, 40);
          const flip = rand() < 0.5;
          episodes.push({
            kind,
            scene: scene.name,
            start,
            end: start + n - 1,
            labelFrom: start,
            describe: `van standing on the grass, foot point (${fx.toFixed(0)}, ${fy.toFixed(0)}), ${n} frames`,
            place: (t) =>
              t < start || t >= start + n ? null : { sprite: sprites.van, fx, fy, height: VAN_TO_PERSON * ph, flip },
          });
        } else if (kind === 'wrong-direction') {
          const fx = U(sx0 + 50, sx1 - 50);
          const [wt, wb] = scene.walk(fx);
          const down = rand() < 0.5;
          const tr = nextTrack();
          const n = Math.min(maxLen, 40);
          // Starts on the footpath and walks n frames at walking speed, straight down (towards the camera) or up.
          const fy0 = down ? wt + 5 : Math.min(wb + 60, 420);
          episodes.push({
            kind,
            scene: scene.name,
            start,
            end: start + n - 1,
            labelFrom: start,
            describe: `person (track of frames ${tr.frames[0].t}-${tr.frames[tr.frames.length - 1].t}) walking ${down ? 'down (towards the camera)' : 'up (away from the camera)'} at x ${fx.toFixed(0)} from foot row ${fy0.toFixed(0)}, ${n} frames`,
            place: (t) => {
              const k = t - start;
              if (k < 0 || k >= n) return null;
              let fy = fy0;
              for (let i = 0; i < k; i++) fy += (down ? 1 : -1) * WALK * personHeightAt(fy);
              const frames = tr.frames.length;
              const idx = k % (2 * frames - 2);
              const f = idx < frames ? idx : 2 * frames - 2 - idx;
              return { sprite: sprites.person(tr, f), fx, fy, height: personHeightAt(fy), flip: false };
            },
          });
        } else if (kind === 'group-gathering') {
          // Three walkers from the left, the right and below converge on one spot and stand side by side.
          const fx = U(sx0 + 90, sx1 - 90);
          const [wt, wb] = scene.walk(fx);
          const fy = U(wt + 15, Math.min(wb, wt + 70));
          const ph = personHeightAt(fy);
          const members = [-1, 1, 0].map((side, i) => {
            const tr = nextTrack();
            const goal = { x: fx + (i - 1) * 0.45 * ph, y: fy + (side === 0 ? 0.15 * ph : 0) };
            const from =
              side === 0
                ? { x: goal.x, y: Math.min(FULL_H - 5, goal.y + GATHER_WALK * WALK * ph * 0.8) }
                : { x: goal.x - side * GATHER_WALK * WALK * ph * U(0.7, 1), y: goal.y };
            const dist = Math.hypot(goal.x - from.x, goal.y - from.y);
            const steps = Math.max(1, Math.ceil(dist / (WALK * ph)));
            return { tr, goal, from, steps };
          });
          const arrive = Math.max(...members.map((m) => m.steps));
          const n = Math.min(maxLen, arrive + GATHER_STAND);
          episodes.push({
            kind,
            scene: scene.name,
            start,
            end: start + n - 1,
            labelFrom: start + Math.min(arrive, n - 1),
            describe: `three people (tracks of frames ${members.map((m) => `${m.tr.frames[0].t}-${m.tr.frames[m.tr.frames.length - 1].t}`).join(', ')}) walking to foot point (${fx.toFixed(0)}, ${fy.toFixed(0)}) from the left, the right and below, all there after ${arrive} frames, standing together until frame ${start + n - 1}`,
            place: (t) => {
              const k = t - start;
              if (k < 0 || k >= n) return null;
              return members.map((m) => {
                const a = Math.min(1, k / m.steps);
                const walking = k < m.steps;
                const frames = m.tr.frames.length;
                const idx = walking ? k % (2 * frames - 2) : Math.floor(k / 4) % Math.min(4, frames);
                const f = idx < frames ? idx : 2 * frames - 2 - idx;
                const x = m.from.x + a * (m.goal.x - m.from.x);
                const y = m.from.y + a * (m.goal.y - m.from.y);
                return {
                  sprite: sprites.person(m.tr, f),
                  fx: x,
                  fy: y,
                  height: personHeightAt(y),
                  flip: m.goal.x < m.from.x ? m.tr.heading > 0 : m.tr.heading < 0,
                };
              });
            },
          });
        } else {
          const fx = U(sx0 + 50, sx1 - 50);
          const [wt, wb] = scene.walk(fx);
          const fy = U(wt + 10, Math.min(wb, wt + 90));
          const tr = nextTrack();
          const n = Math.min(maxLen, LOITER_FRAMES);
          episodes.push({
            kind,
            scene: scene.name,
            start,
            end: start + n - 1,
            labelFrom: start + Math.min(LOITER_GRACE, Math.floor((2 * n) / 3)),
            describe: `person (track of frames ${tr.frames[0].t}-${tr.frames[tr.frames.length - 1].t}) standing at foot point (${fx.toFixed(0)}, ${fy.toFixed(0)}) for ${n} frames`,
            place: (t) => {
              const k = t - start;
              if (k < 0 || k >= n) return null;
              // Standing: a few frames of the real person cycled slowly (small body motion), 1-px sway.
              const f = Math.floor(k / 4) % Math.min(4, tr.frames.length);
              return {
                sprite: sprites.person(tr, f),
                fx: fx + (k % 6 < 3 ? 0 : 1),
                fy,
                height: personHeightAt(fy),
                flip: false,
              };
            },
          });
        }
      }
    }
  }
  return episodes;
}

// ---------------------------------------------------------------------------------------------
// Baseline: cctv-ocae features of one frame triplet, as methods/cctv-ocae/stages.ts embedObject does

interface OcaeModels {
  appearance: OnnxEmbedder;
  motion: OnnxEmbedder;
}

async function ocaeFeatures(
  m: OcaeModels,
  boxes: Box[],
  prev: Buffer,
  cur: Buffer,
  next: Buffer,
  w: number,
  h: number,
): Promise<Float32Array[]> {
  return Promise.all(
    boxes.slice(0, OCAE_MAX_OBJECTS).map(async (b) => {
      const crop = (img: Buffer) => cropGray(img, w, h, b, OCAE_CROP);
      const [a, p, n] = await Promise.all([
        m.appearance.embed(crop(cur).data),
        m.motion.embed(sobelMagnitude(crop(prev)).data),
        m.motion.embed(sobelMagnitude(crop(next)).data),
      ]);
      const v = new Float32Array(a.output.length + p.output.length + n.output.length);
      v.set(a.output, 0);
      v.set(p.output, a.output.length);
      v.set(n.output, a.output.length + p.output.length);
      return v;
    }),
  );
}

// ---------------------------------------------------------------------------------------------

/** The pose step with the same frame key as Cached (unchanged frames are estimated once), timed per call. */
class CachedPose implements PoseEstimator {
  private readonly memo = new Map<string, Array<{ x: number; y: number; score: number }>>();
  /** Milliseconds of every estimate() call that ran the model, and crops it ran. */
  callMs: number[] = [];
  crops = 0;
  constructor(
    private readonly cache: Cached,
    readonly estimator: OnnxPoseEstimator,
  ) {}
  async estimate(
    frame: { rgb: Buffer; width: number; height: number },
    boxes: ReadonlyArray<{ x: number; y: number; w: number; h: number }>,
  ) {
    const keys = boxes.map((b) =>
      this.cache.key !== null
        ? `${this.cache.key}:${b.x.toFixed(2)},${b.y.toFixed(2)},${b.w.toFixed(2)},${b.h.toFixed(2)}`
        : null,
    );
    const missing = boxes.filter((_, i) => keys[i] === null || !this.memo.has(keys[i]!));
    const t0 = performance.now();
    const fresh = missing.length ? await this.estimator.estimate(frame, missing) : [];
    if (missing.length) {
      this.callMs.push(performance.now() - t0);
      this.crops += missing.length;
    }
    let k = 0;
    return boxes.map((_, i) => {
      const key = keys[i];
      if (key !== null && this.memo.has(key)) return this.memo.get(key)!;
      const v = fresh[k++];
      if (key !== null) this.memo.set(key, v);
      return v;
    });
  }
}

/** What --dump-obs writes: everything the method's fit and scoring see, plus the labels. */
export interface ObsDump {
  ranges: Ranges;
  split: EvalOptions['split'];
  /** Smoke runs (--limit): other frames, not a read of the split. */
  limit?: number | null;
  frameSize: Record<string, { width: number; height: number }>;
  /** Per scene: every frame from the first fit frame to the last test frame, unmodified. */
  clean: Record<string, FrameObservations[]>;
  /** Per scene and kind: the test range with that kind's episodes pasted; rects = pasted boxes by frame; labelled = [from, to, episode]. */
  /** With --pose: the pose step's model and its cost in the clean passes (production cadence). */
  pose?: { model: string; cleanFrames: number; cleanPoseMs: number; cleanCrops: number; msPerCrop: number } | null;
  clips: Array<{
    scene: string;
    kind: string;
    obs: FrameObservations[];
    rects: Array<[number, { x: number; y: number; w: number; h: number }]>;
    labelled: Array<[number, number, number, number?]>;
  }>;
}

/** Fits one scene as the evaluation does: on the fit range with the calibration range held out, or, with cross-fitting, on both ranges. */
export function fitScene(
  obs: FrameObservations[],
  r: Ranges,
  frameSize: { width: number; height: number },
  opts: AttributeFitOptions,
): { model: AttributeModel; report: FitReport } {
  const fit = obs.filter((f) => f.frame >= r.fit[0] && f.frame <= r.fit[1]);
  const cal = obs.filter((f) => f.frame >= r.cal[0] && f.frame <= r.cal[1]);
  if ((opts.crossFitFolds ?? DEFAULT_FIT.crossFitFolds ?? DEFAULT_CROSS_FIT_FOLDS) >= 2)
    return fitAttributeModel([...fit, ...cal], frameSize, { ...DEFAULT_FIT, ...opts });
  return fitAttributeModel(fit, frameSize, { ...DEFAULT_FIT, ...opts, calibration: cal });
}

/**
 * Fit options of the evaluation beyond the method's own defaults: none today (the method's defaults are
 * what is evaluated); kept as the one place to change.
 */
const DEFAULT_FIT: AttributeFitOptions = {};

/**
 * Scores the clean range from the first calibration frame on, one continuous pass, carrying the smoother's and
 * the track scores' state; returns the state at the first evaluation frame for the anomaly clips.
 */
export function scoreClean(
  model: AttributeModel,
  obs: FrameObservations[],
  r: Ranges,
): { scored: ScoredFrame[]; frames: FrameScore[]; atTest: { smoother: SmootherState; tracks: TrackScoreState } } {
  const seq = obs.filter((f) => f.frame >= r.cal[0]);
  const tracks: TrackScoreState = { tracks: {} };
  const before = scoreObservations(
    model,
    seq.filter((f) => f.frame < r.test[0]),
    tracks,
  );
  const tracksAtTest = JSON.parse(JSON.stringify(tracks)) as TrackScoreState;
  const after = scoreObservations(
    model,
    seq.filter((f) => f.frame >= r.test[0]),
    tracks,
  );
  const scored = [...before, ...after];
  const fr = frameScores(model, before);
  return { scored, frames: frameScores(model, scored).frames, atTest: { smoother: fr.state, tracks: tracksAtTest } };
}

// ---------------------------------------------------------------------------------------------
// Episodes: alerts as operators count them (runtime/episodes.ts, the production code), over the scored frames

/** One scene's scored frames from the first test frame: the clean range and each kind's clip with its constructed episodes. */
export interface EpisodeInput {
  scene: string;
  threshold: number;
  clean: FrameScore[];
  clips: Array<{
    kind: string;
    frames: FrameScore[];
    episodes: Array<{ start: number; end: number; labelFrom: number; index: number }>;
  }>;
}

export interface EpisodeFigures {
  settings: EpisodeSettings;
  options: EpisodeOptions;
  overall: EpisodeSummary;
  perKind: Record<string, EpisodeSummary>;
  /** Alerts on the clean test frames (false alerts: nothing was constructed there), per scene. */
  normalAlerts: Record<string, Array<Pick<AlertEpisode, 'start' | 'end' | 'openedAt' | 'peakFrame'>>>;
  /** Per constructed episode: caught, time to alert. */
  episodes: Array<{ scene: string; kind: string; index: number; caught: boolean; latencyS: number | null }>;
  /** Alerts in the anomaly clips that overlap no constructed episode (the clips' normal frames). */
  clipFalseAlerts: number;
}

/** Levels on the threshold's scale: smoothed / threshold opens and closes, raw / threshold picks the peak (as in production). */
const levels = (frames: FrameScore[], threshold: number) =>
  frames.map((f) => ({ frame: f.frame, timeS: f.timeS, level: f.smoothed / threshold, peak: f.raw / threshold }));

export function episodeFigures(
  inputs: EpisodeInput[],
  settings: EpisodeSettings = DEFAULT_EPISODE_SETTINGS,
): EpisodeFigures {
  const opts = episodeOptionsAt(FPS, settings);
  const matches: Array<{ kind: string; m: EpisodeMatch }> = [];
  const normalAlerts: EpisodeFigures['normalAlerts'] = {};
  const episodes: EpisodeFigures['episodes'] = [];
  let normalSeconds = 0;
  let normalFalse = 0;
  let clipFalseAlerts = 0;
  for (const inp of inputs) {
    const clean = episodesOf(levels(inp.clean, inp.threshold), opts);
    normalAlerts[inp.scene] = clean.map((e) => ({
      start: e.start,
      end: e.end,
      openedAt: e.openedAt,
      peakFrame: e.peakFrame,
    }));
    normalFalse += clean.length;
    normalSeconds += inp.clean.length / FPS;
    for (const clip of inp.clips) {
      const alerts = episodesOf(levels(clip.frames, inp.threshold), opts);
      // Caught: an alert overlaps the labelled part; false: an alert overlapping nothing constructed (the whole pasted span).
      const m = matchEpisodes(
        alerts,
        clip.episodes.map((e) => ({ start: e.labelFrom, end: e.end })),
        FPS,
      );
      clipFalseAlerts += matchEpisodes(
        alerts,
        clip.episodes.map((e) => ({ start: e.start, end: e.end })),
        FPS,
      ).falseAlerts.length;
      matches.push({ kind: clip.kind, m });
      clip.episodes.forEach((e, i) =>
        episodes.push({ scene: inp.scene, kind: clip.kind, index: e.index, ...m.anomalies[i] }),
      );
    }
  }
  const normal = { falseAlerts: normalFalse, seconds: normalSeconds };
  const kinds = [...new Set(matches.map((x) => x.kind))];
  return {
    settings,
    options: opts,
    overall: summariseEpisodes(
      matches.map((x) => x.m),
      normal,
    ),
    perKind: Object.fromEntries(
      kinds.map((k) => [
        k,
        summariseEpisodes(
          matches.filter((x) => x.kind === k).map((x) => x.m),
          normal,
        ),
      ]),
    ),
    normalAlerts,
    episodes,
    clipFalseAlerts,
  };
}

/** The figures of bench/tune-cctv-attributes.ts from dumped observations: frame AUC per kind and overall, normal frames flagged. */
export function scoreDump(
  dump: ObsDump,
  opts: AttributeFitOptions,
  episodeSettings: EpisodeSettings = DEFAULT_EPISODE_SETTINGS,
): {
  auc: Record<string, number>;
  normalFlagged: number;
  thresholds: Record<string, number>;
  episodes: EpisodeFigures;
  episodeInputs: EpisodeInput[];
} {
  const epIn: EpisodeInput[] = [];
  const neg: number[] = [];
  let flagged = 0;
  const pos: Record<string, number[]> = {};
  const thresholds: Record<string, number> = {};
  for (const scene of Object.keys(dump.clean)) {
    const { model } = fitScene(dump.clean[scene], dump.ranges, dump.frameSize[scene], opts);
    thresholds[scene] = model.threshold;
    const scored = scoreScene(
      model,
      scene as Scene['name'],
      dump.clean[scene],
      dump.clips.filter((c) => c.scene === scene),
      dump.ranges,
    );
    epIn.push(scored.episodes);
    for (const it of scored.items) {
      if (it.kind === 'normal') {
        neg.push(it.score);
        if (it.flagged) flagged++;
        continue;
      }
      (pos[it.kind] ??= []).push(it.score);
      (pos.overall ??= []).push(it.score);
    }
  }
  const auc = Object.fromEntries(Object.entries(pos).map(([k, p]) => [k, rocAuc(p, neg)]));
  return {
    auc,
    normalFlagged: flagged / Math.max(1, neg.length),
    thresholds,
    episodes: episodeFigures(epIn, episodeSettings),
    episodeInputs: epIn,
  };
}

type SceneItem = Omit<FrameItem, 'baseline' | 'baselineFlagged'>;

/** The detection that overlaps a pasted object most, at IoU >= 0.3 ("detected"), or null. */
function injectedObject<O extends { x: number; y: number; w: number; h: number }>(
  objects: readonly O[],
  rect: { x: number; y: number; w: number; h: number },
): O | null {
  let best: O | null = null;
  let bestIou = 0.3;
  for (const o of objects) {
    const v = iou(o, rect);
    if (v >= bestIou) {
      bestIou = v;
      best = o;
    }
  }
  return best;
}

/** One scene scored as every figure of the evaluation sees it (see scoreScene). */
interface ScoredScene {
  /** Every normal test frame, then per clip every labelled frame that has the object pasted, with the detection matched to the pasted box. */
  items: SceneItem[];
  /** The clean range scored in one pass (from the first calibration frame) and the state at the first test frame. */
  clean: ReturnType<typeof scoreClean>;
  /** Per clip (in the order given): its scored objects and frame scores from the first test frame, and the frame shown as its example (the first pasted frame at or after the middle of one of its labelled spans, in episode order), or null. */
  clips: Array<{ scored: ScoredFrame[]; frames: FrameScore[]; example: number | null }>;
  /** What the alert-episode evaluation needs: the clean frames from the first test frame, each clip's frame scores and its episode spans. */
  episodes: EpisodeInput;
}

/**
 * Scores one scene as every figure of the evaluation does (the full run, the re-scoring from a dump and the
 * tuning all call this, so they cannot drift apart): the clean range in one pass, then each anomaly clip from
 * the clean state at the first test frame (track scores and smoother), the pasted object matched to a detection
 * by injectedObject().
 */
function scoreScene(
  model: AttributeModel,
  scene: Scene['name'],
  cleanObs: FrameObservations[],
  clips: ObsDump['clips'],
  r: Ranges,
): ScoredScene {
  const clean = scoreClean(model, cleanObs, r);
  const byFrame = new Map(clean.scored.map((f) => [f.frame, f]));
  const items: SceneItem[] = [];
  const episodes: EpisodeInput = {
    scene,
    threshold: model.threshold,
    clean: clean.frames.filter((f) => f.frame >= r.test[0]),
    clips: [],
  };
  for (const f of episodes.clean) {
    const reasons = byFrame
      .get(f.frame)!
      .objects.filter((o) => o.abnormal)
      .flatMap((o) => o.reasons.map((x) => x.text));
    items.push({
      scene,
      kind: 'normal',
      t: f.frame,
      episode: null,
      score: f.smoothed / model.threshold,
      raw: f.raw / model.threshold,
      flagged: f.abnormal,
      detected: null,
      injectedFlagged: null,
      injectedLabel: null,
      reasons,
    });
  }
  const scoredClips: ScoredScene['clips'] = [];
  for (const clip of clips) {
    const sc = scoreObservations(model, clip.obs, JSON.parse(JSON.stringify(clean.atTest.tracks)) as TrackScoreState);
    const fsK = frameScores(model, sc, clean.atTest.smoother).frames;
    episodes.clips.push({
      kind: clip.kind,
      frames: fsK,
      episodes: clip.labelled.map(([from, to, index, start]) => ({
        start: start ?? from,
        end: to,
        labelFrom: from,
        index,
      })),
    });
    const rects = new Map(clip.rects);
    let example: number | null = null;
    for (const [from, to, ei] of clip.labelled) {
      for (let t = from; t <= to; t++) {
        const rect = rects.get(t);
        if (!rect) continue;
        const k = t - r.test[0];
        const best = injectedObject(sc[k].objects, rect);
        const f = fsK[k];
        items.push({
          scene,
          kind: clip.kind as Kind,
          t,
          episode: ei,
          score: f.smoothed / model.threshold,
          raw: f.raw / model.threshold,
          flagged: f.abnormal,
          detected: best !== null,
          injectedFlagged: best ? best.abnormal : null,
          injectedLabel: best ? best.label : null,
          reasons: best ? best.reasons.map((x) => x.text) : [],
        });
        if (example === null && t >= Math.floor((from + to) / 2)) example = t;
      }
    }
    scoredClips.push({ scored: sc, frames: fsK, example });
  }
  return { items, clean, clips: scoredClips, episodes };
}

/** Abnormal objects' reasons of a scored frame, "label: reason", for the examples. */
const exampleReasons = (f: ScoredFrame) =>
  f.objects.filter((o) => o.abnormal).flatMap((o) => o.reasons.map((x) => `${o.label}: ${x.text}`));

interface FrameItem {
  scene: Scene['name'];
  kind: Kind | 'normal';
  t: number;
  episode: number | null;
  /** New method: smoothed score / threshold (1 = at the threshold); raw = unsmoothed frame score / threshold. */
  score: number;
  raw: number;
  flagged: boolean;
  /** Whether a detection overlaps the pasted object (IoU >= 0.3). */
  detected: boolean | null;
  /** Whether that detection was flagged abnormal, and its reasons. */
  injectedFlagged: boolean | null;
  injectedLabel: string | null;
  reasons: string[];
  baseline: number | null;
  baselineFlagged: boolean | null;
}

/** Per-kind AUCs, flagged shares, reason counts and (with `out`) the ROC PNG from the scored frame items. */
async function figures(items: FrameItem[], withBaseline: boolean, out: string | null | undefined) {
  const neg = items.filter((i) => i.kind === 'normal');
  const perKind: Record<string, Record<string, unknown>> = {};
  const curvesNew: Array<{ name: string; auc: number; pts: Array<[number, number]> }> = [];
  const curvesBase: typeof curvesNew = [];
  for (const k of [...KINDS, 'overall'] as const) {
    const pos = items.filter((i) => i.kind !== 'normal' && (k === 'overall' || i.kind === k));
    if (pos.length === 0) continue;
    const auc = rocAuc(
      pos.map((i) => i.score),
      neg.map((i) => i.score),
    );
    const det = pos.filter((i) => i.detected);
    const perScene = Object.fromEntries(
      SCENES.map((s) => [
        s.name,
        r4(
          rocAuc(
            pos.filter((i) => i.scene === s.name).map((i) => i.score),
            neg.filter((i) => i.scene === s.name).map((i) => i.score),
          ),
        ),
      ]),
    );
    const aucDet = rocAuc(
      det.map((i) => i.score),
      neg.map((i) => i.score),
    );
    const aucRaw = rocAuc(
      pos.map((i) => i.raw),
      neg.map((i) => i.raw),
    );
    const bAuc = withBaseline
      ? rocAuc(
          pos.map((i) => i.baseline!),
          neg.map((i) => i.baseline!),
        )
      : NaN;
    perKind[k] = {
      positives: pos.length,
      negatives: neg.length,
      auc: r4(auc),
      aucPerScene: perScene,
      aucUnsmoothed: r4(aucRaw),
      aucDetectedOnly: r4(aucDet),
      injectedDetected: r4(det.length / pos.length),
      injectedDetectedAs: det.reduce<Record<string, number>>(
        (m, i) => ((m[i.injectedLabel!] = (m[i.injectedLabel!] ?? 0) + 1), m),
        {},
      ),
      framesFlagged: r4(pos.filter((i) => i.flagged).length / pos.length),
      injectedObjectFlagged: r4(det.filter((i) => i.injectedFlagged).length / Math.max(1, det.length)),
      baseline: withBaseline
        ? { auc: r4(bAuc), framesFlagged: r4(pos.filter((i) => i.baselineFlagged).length / pos.length) }
        : null,
      what: k === 'overall' ? 'all anomalous frames' : KIND_TEXT[k],
    };
    curvesNew.push({
      name: k,
      auc,
      pts: rocCurve(
        pos.map((i) => i.score),
        neg.map((i) => i.score),
      ),
    });
    if (withBaseline)
      curvesBase.push({
        name: k,
        auc: bAuc,
        pts: rocCurve(
          pos.map((i) => i.baseline!),
          neg.map((i) => i.baseline!),
        ),
      });
  }
  const normalFlagged = neg.filter((i) => i.flagged).length / neg.length;
  const baselineNormalFlagged = withBaseline ? neg.filter((i) => i.baselineFlagged).length / neg.length : NaN;
  if (out)
    await rocPng(path.join(out, 'roc.png'), [
      { title: 'cctv-attributes (new default)', curves: curvesNew },
      ...(withBaseline ? [{ title: 'cctv-ocae (seed baseline)', curves: curvesBase }] : []),
    ]);

  // Reasons seen on the injected objects, counted by attribute.
  const reasonCounts: Record<string, Record<string, number>> = {};
  for (const it of items) {
    if (it.kind === 'normal' || !it.injectedFlagged) continue;
    const m = (reasonCounts[it.kind] ??= {});
    for (const t of it.reasons) {
      const a = t.split(' ')[0];
      m[a] = (m[a] ?? 0) + 1;
    }
  }
  const falseAlarmReasons: Record<string, number> = {};
  for (const it of neg)
    if (it.flagged)
      for (const t of it.reasons)
        falseAlarmReasons[t.replace(/[\d.]+/g, '#')] = (falseAlarmReasons[t.replace(/[\d.]+/g, '#')] ?? 0) + 1;

  return { perKind, normalFlagged, baselineNormalFlagged, reasonCounts, falseAlarmReasons };
}

export async function evaluate(args: EvalOptions): Promise<EvalResults> {
  const log = args.log ?? (() => undefined);
  const tStart = performance.now();
  const r = rangesFor(args);
  if (args.out) fs.mkdirSync(path.join(args.out, 'examples'), { recursive: true });
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const machine = `${cpu}, nproc ${os.availableParallelism()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.platform()} ${os.release()}, Node ${process.version}, onnxruntime-node ${onnxruntimeVersion()}`;
  log(`eval-cctv-attributes (${args.split}): ${machine}`);
  if (!fs.existsSync(VTEST)) throw new Error(`${VTEST} not found: install Debian's opencv-doc`);

  // Frames ----------------------------------------------------------------------------------------
  const first = r.fit[0];
  const last = r.test[1];
  const idx = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const frames = new Map<number, Buffer>();
  const tDec = performance.now();
  for await (const f of readFrames(VTEST, idx, { width: FULL_W, height: FULL_H })) frames.set(f.index, f.rgb);
  log(`decoded ${frames.size} frames in ${((performance.now() - tDec) / 1000).toFixed(1)} s`);
  const bgFrames = idx.filter((t) => t <= r.fit[1] && (t - first) % 10 === 0).map((t) => frames.get(t)!);
  const bg = medianBackground(bgFrames);

  // Models ----------------------------------------------------------------------------------------
  const repo = defaultModelRepo(ROOT);
  const detModel = loadLocalModel(repo, 'nanodet');
  const detectorSetting = args.detector ?? 'method';
  const onCrop = detectorSetting === 'method' ? sceneCropDetection(detModel.manifest) : undefined;
  const profileOnCrop = onCrop?.options;
  const detection =
    profileOnCrop && args.detectionOverride
      ? {
          ...profileOnCrop,
          ...args.detectionOverride,
          classScoreThresholds: {
            ...profileOnCrop.classScoreThresholds,
            ...args.detectionOverride.classScoreThresholds,
          },
        }
      : profileOnCrop;
  const detector = await OnnxDetector.load(detModel, {
    pool: 'cpu',
    threads: args.threads,
    batch: { maxBatchSize: 1, maxQueueDelayMs: 0 },
    detection,
  });
  const detThreshold = (detModel.manifest.decoding as { scoreThreshold?: number } | undefined)?.scoreThreshold ?? NaN;
  const detectorText = detection
    ? `${detModel.manifest.name} v${detModel.manifest.version} with the cctv-attributes pipeline's detection profile "${cctvAttributesMethod.detectionProfile}" (person >= ${detection.classScoreThresholds?.person ?? detection.scoreThreshold}, vehicles >= ${detection.classScoreThresholds?.car ?? detection.scoreThreshold}, ${detection.normalization ? `${detection.normalization.channels} mean/std normalisation, ` : ''}${args.detectionOverride ? `overridden by ${JSON.stringify(args.detectionOverride)}, ` : ''}input ${detection.inputSize!.width}x${detection.inputSize!.height} for the ${SCENES[0].width}x${FULL_H} crop: the same pixel scale as the profile's ${onCrop!.fullFrameInput.width}x${onCrop!.fullFrameInput.height} on the full ${FULL_W}x${FULL_H} frame); the cctv-ocae baseline gets the same boxes`
    : `${detModel.manifest.name} v${detModel.manifest.version} at score >= ${detThreshold}, the manifest's own decoding (not the production profile); the cctv-ocae baseline gets the same boxes`;
  log(`detector: ${detectorText}`);
  let embedder: RgbCropEmbedder | null = null;
  let appearanceModel: LocalModel | null = null;
  if (args.appearance) {
    const dir = args.appearance;
    appearanceModel = loadLocalModel(path.dirname(dir), path.basename(dir));
    embedder = new RgbCropEmbedder(
      await OnnxEmbedder.load(appearanceModel, {
        pool: 'cpu',
        threads: args.threads,
        batch: { maxBatchSize: 16, maxQueueDelayMs: 2 },
      }),
      0.1,
    );
    log(
      `appearance: ${appearanceModel.manifest.name} v${appearanceModel.manifest.version} (${appearanceModel.modelPath})`,
    );
  } else {
    log('appearance: none (no MobileNetV2 model given or found in models/mobilenetv2)');
  }
  const cache = new Cached(detector, embedder);
  // Appearance at production's cadence (methods/cctv-attributes/method.ts embedEvery: about twice a second, new
  // tracks at once), not every frame: the evaluation scores what production computes.
  const analyzerOpts = { fps: FPS, embedEvery: embedEvery(FPS) };
  let posed: CachedPose | null = null;
  if (args.pose) {
    const pm = loadLocalModel(repo, 'movenet');
    posed = new CachedPose(cache, await OnnxPoseEstimator.load(pm, { pool: 'cpu', threads: args.threads }));
    log(`pose: ${pm.manifest.name} v${pm.manifest.version} on person crops every ${embedEvery(FPS)} frames`);
  }
  const deps = { detector: cache, embedder: embedder ? cache : undefined, ...(posed ? { pose: posed } : {}) };

  // Clean pass per scene: fit, calibration and normal test frames in one continuous run ---------------
  const obsClean = new Map<string, FrameObservations[]>();
  const stateAtTest = new Map<string, AnalyzerState>();
  const tClean = performance.now();
  for (const scene of SCENES) {
    const an = new SegmentAnalyzer(deps, analyzerOpts);
    const out: FrameObservations[] = [];
    for (const t of idx) {
      if (t === r.test[0]) stateAtTest.set(scene.name, an.state());
      cache.key = `${scene.name}:clean:${t}`;
      out.push(
        await an.analyzeFrame({ index: t, rgb: cropOf(frames.get(t)!, scene), width: scene.width, height: FULL_H }),
      );
    }
    obsClean.set(scene.name, out);
    log(`clean pass ${scene.name}: ${out.length} frames, ${out.reduce((s, f) => s + f.objects.length, 0)} objects`);
  }
  const cleanS = (performance.now() - tClean) / 1000;
  const poseClean = posed
    ? {
        model: `${posed.estimator.name} v${posed.estimator.version}`,
        cleanFrames: idx.length * SCENES.length,
        cleanPoseMs: posed.callMs.reduce((a, b) => a + b, 0),
        cleanCrops: posed.crops,
        msPerCrop: 0,
      }
    : null;
  if (poseClean) {
    poseClean.msPerCrop = poseClean.cleanPoseMs / Math.max(1, poseClean.cleanCrops);
    log(
      `pose step in the clean passes: ${poseClean.cleanCrops} crops, ${(poseClean.cleanPoseMs / poseClean.cleanFrames).toFixed(1)} ms per frame`,
    );
  }

  /** Tracks over the fit frames as the manifest's detector sees them (the clean pass itself when that is the method's detector). */
  const constructionPass = async (): Promise<Map<string, FrameObservations[]>> => {
    if (!detection) return obsClean;
    const plain = await OnnxDetector.load(detModel, {
      pool: 'cpu',
      threads: args.threads,
      batch: { maxBatchSize: 1, maxQueueDelayMs: 0 },
    });
    const out = new Map<string, FrameObservations[]>();
    try {
      for (const scene of SCENES) {
        const an = new SegmentAnalyzer({ detector: plain }, analyzerOpts);
        const obs: FrameObservations[] = [];
        for (let t = first; t <= r.fit[1]; t++)
          obs.push(
            await an.analyzeFrame({ index: t, rgb: cropOf(frames.get(t)!, scene), width: scene.width, height: FULL_H }),
          );
        out.set(scene.name, obs);
      }
    } finally {
      await plain.close();
    }
    log(
      `construction pass (manifest detector, frames ${first}-${r.fit[1]}): ${[...out.values()].reduce((s, o) => s + o.reduce((n, f) => n + f.objects.length, 0), 0)} objects`,
    );
    return out;
  };

  // Fit ------------------------------------------------------------------------------------------
  const fitOpts: AttributeFitOptions = { seed: 7, createdAt: new Date(0) };
  const models = new Map<string, { model: AttributeModel; report: FitReport; fitS: number }>();
  for (const scene of SCENES) {
    const t0 = performance.now();
    const { model, report } = fitScene(
      obsClean.get(scene.name)!,
      r,
      { width: scene.width, height: FULL_H },
      { ...fitOpts, ...args.fit },
    );
    models.set(scene.name, { model, report, fitS: (performance.now() - t0) / 1000 });
    log(
      `fit ${scene.name}: ${report.fitObjects} objects, threshold ${model.threshold.toFixed(3)}, calibration frames flagged ${(100 * report.calibrationFramesFlagged).toFixed(1)} %`,
    );
    const png = args.out ? await embeddingPlotPng(report, `Appearance bank, scene ${scene.name} (PCA)`) : null;
    if (png && args.out) fs.writeFileSync(path.join(args.out, `embedding-${scene.name}.png`), png);
  }

  // Anomalies ------------------------------------------------------------------------------------
  // People are cut from the fit frames (never from frames that are evaluated), the van from the first frame.
  // The people to cut are found by the manifest's own detector, whatever detector the method is evaluated
  // with, so the constructed set (which person, which frames) stays the same when detector settings change.
  const tracks = personTracks(await constructionPass(), r.fit, args.limit !== null ? 6 : 24);
  const spriteCache = new Map<string, Sprite>();
  const personSpriteOf = (tr: PersonTrack, k: number) => {
    const f = tr.frames[Math.min(k, tr.frames.length - 1)];
    const key = `${f.t}:${f.box.x},${f.box.y}`;
    let s = spriteCache.get(key);
    if (!s) spriteCache.set(key, (s = personSprite(frames.get(f.t)!, bg, f.box)));
    return s;
  };
  const episodes = buildEpisodes(r, args.limit, tracks, { person: personSpriteOf, van: vanSprite(frames.get(first)!) });
  log(`${tracks.length} isolated walking person tracks to cut from; ${episodes.length} episodes`);

  const render = (
    scene: Scene,
    eps: Episode[],
    t: number,
  ): { crop: Buffer; rect: { x: number; y: number; w: number; h: number } | null; ep: number | null } => {
    const crop = cropOf(frames.get(Math.min(last, Math.max(first, t)))!, scene);
    for (const e of eps) {
      const p = e.place(t);
      if (!p) continue;
      // A group is pasted person by person (the last drawn in front); its rectangle is the union.
      const rects = (Array.isArray(p) ? [...p].sort((a, b) => a.fy - b.fy) : [p]).map((q) =>
        paste(crop, scene.width, FULL_H, scene.x0, q),
      );
      const x0 = Math.min(...rects.map((q) => q.x));
      const y0 = Math.min(...rects.map((q) => q.y));
      const rect = {
        x: x0,
        y: y0,
        w: Math.max(...rects.map((q) => q.x + q.w)) - x0,
        h: Math.max(...rects.map((q) => q.y + q.h)) - y0,
      };
      return { crop, rect, ep: episodes.indexOf(e) };
    }
    return { crop, rect: null, ep: null };
  };

  // Score: normal test frames, then each kind's clip (from the clean state at the first test frame) --
  const items: FrameItem[] = [];
  const epIn: EpisodeInput[] = [];
  const tScore = performance.now();
  const examples: Array<{ kind: string; scene: string; t: number; file: string; reasons: string[] }> = [];
  const dumped: ObsDump['clips'] = [];
  for (const scene of SCENES) {
    const { model } = models.get(scene.name)!;
    // Each kind's clip analysed from the clean analyser state at the first test frame (detection, tracks, appearance).
    const clips: ObsDump['clips'] = [];
    for (const kind of KINDS) {
      const eps = episodes.filter((e) => e.scene === scene.name && e.kind === kind);
      if (eps.length === 0) continue;
      const an = new SegmentAnalyzer(deps, analyzerOpts, stateAtTest.get(scene.name));
      const obs: FrameObservations[] = [];
      const rects = new Map<number, { x: number; y: number; w: number; h: number }>();
      for (let t = r.test[0]; t <= r.test[1]; t++) {
        const { crop, rect } = render(scene, eps, t);
        cache.key = rect ? `${scene.name}:${kind}:${t}` : `${scene.name}:clean:${t}`;
        if (rect) rects.set(t, rect);
        obs.push(await an.analyzeFrame({ index: t, rgb: crop, width: scene.width, height: FULL_H }));
      }
      clips.push({
        scene: scene.name,
        kind,
        obs,
        rects: [...rects.entries()],
        labelled: eps.map((e) => [e.labelFrom, e.end, episodes.indexOf(e), e.start]),
      });
      log(`analysed ${scene.name} ${kind}: ${eps.length} episodes`);
    }
    if (args.dumpObs) dumped.push(...clips);
    const scored = scoreScene(model, scene.name, obsClean.get(scene.name)!, clips, r);
    items.push(...scored.items.map((i) => ({ ...i, baseline: null, baselineFlagged: null })));
    epIn.push(scored.episodes);
    if (!args.out) continue;
    // A few annotated false alarms on normal frames, to see what the method complains about.
    const byFrame = new Map(scored.clean.scored.map((f) => [f.frame, f]));
    for (const f of scored.episodes.clean.filter((x) => x.abnormal).slice(0, 2)) {
      const file = path.join(args.out, 'examples', `${scene.name}-normal-${f.frame}.jpg`);
      const sf = byFrame.get(f.frame)!;
      await annotatedJpeg(
        file,
        cropOf(frames.get(f.frame)!, scene),
        scene.width,
        FULL_H,
        sf.objects,
        `${scene.name} normal frame ${f.frame} (false alarm)`,
        model.threshold,
      );
      examples.push({
        kind: 'normal (false alarm)',
        scene: scene.name,
        t: f.frame,
        file: path.relative(args.out, file),
        reasons: exampleReasons(sf),
      });
    }
    // One annotated example per kind and scene: the middle of the first episode.
    for (const [ci, clip] of clips.entries()) {
      const { scored: sc, frames: fsK, example: t } = scored.clips[ci];
      if (t === null) continue;
      const so = sc[t - r.test[0]];
      const eps = episodes.filter((e) => e.scene === scene.name && e.kind === clip.kind);
      const file = path.join(args.out, 'examples', `${scene.name}-${clip.kind}-${t}.jpg`);
      await annotatedJpeg(
        file,
        render(scene, eps, t).crop,
        scene.width,
        FULL_H,
        so.objects,
        `${scene.name} ${clip.kind} frame ${t}: smoothed ${fsK[t - r.test[0]].smoothed.toFixed(2)}`,
        model.threshold,
      );
      examples.push({
        kind: clip.kind,
        scene: scene.name,
        t,
        file: path.relative(args.out, file),
        reasons: exampleReasons(so),
      });
    }
  }
  const scoreS = (performance.now() - tScore) / 1000;
  if (args.dumpObs) {
    const dump: ObsDump = {
      ranges: r,
      split: args.split,
      limit: args.limit,
      frameSize: Object.fromEntries(SCENES.map((s) => [s.name, { width: s.width, height: FULL_H }])),
      clean: Object.fromEntries(obsClean),
      pose: poseClean,
      clips: dumped,
    };
    fs.mkdirSync(path.dirname(args.dumpObs), { recursive: true });
    fs.writeFileSync(args.dumpObs, v8.serialize(dump));
    log(`observations written to ${args.dumpObs}`);
  }

  // Baseline (cctv-ocae) on the very same frames ---------------------------------------------------
  let baselineInfo: Record<string, unknown> | null = null;
  let baselineS = 0;
  if (args.baseline) {
    const tB = performance.now();
    const m: OcaeModels = {
      appearance: await OnnxEmbedder.load(loadLocalModel(repo, 'ae-appearance'), {
        pool: 'cpu',
        threads: args.threads,
      }),
      motion: await OnnxEmbedder.load(loadLocalModel(repo, 'ae-motion'), { pool: 'cpu', threads: args.threads }),
    };
    baselineInfo = {};
    for (const scene of SCENES) {
      // Fit as the seed does: triplets t-3, t, t+3 every 5 frames over the whole normal range (fit + calibration
      // frames of the new method), k 10, seed 7, quantile 0.99, 20 % of objects held out for the threshold.
      const fitTs: number[] = [];
      for (let t = r.fit[0] + 3; t + 3 <= r.cal[1]; t += 5) fitTs.push(t);
      const feats: Float32Array[] = [];
      for (const t of fitTs) {
        const boxes = cache.boxesOf(`${scene.name}:clean:${t}`) ?? [];
        const c = (u: number) => cropOf(frames.get(u)!, scene);
        feats.push(...(await ocaeFeatures(m, boxes, c(t - 3), c(t), c(t + 3), scene.width, FULL_H)));
      }
      const k = Math.min(10, Math.max(2, Math.floor(feats.length / 20)));
      const model = fitSceneModel(feats, {
        k,
        seed: 7,
        quantile: 0.99,
        calibrationFraction: 0.2,
        createdAt: new Date(0),
      });
      (baselineInfo as Record<string, unknown>)[scene.name] = {
        fitFrames: fitTs.length,
        objects: feats.length,
        k: model.k,
        threshold: r4(model.threshold),
      };
      for (const it of items.filter((i) => i.scene === scene.name)) {
        const eps = it.kind === 'normal' ? [] : episodes.filter((e) => e.scene === scene.name && e.kind === it.kind);
        const boxes =
          cache.boxesOf(it.kind === 'normal' ? `${scene.name}:clean:${it.t}` : `${scene.name}:${it.kind}:${it.t}`) ??
          [];
        const c = (u: number) => render(scene, eps, u).crop;
        const s = ocaeFrameScore(
          ocaeScoreObjects(model, await ocaeFeatures(m, boxes, c(it.t - 3), c(it.t), c(it.t + 3), scene.width, FULL_H)),
        );
        // Frames without objects get the lowest score; scores are offset by the scene's threshold so the two scenes pool.
        it.baseline = s === null ? -1e9 : s - model.threshold;
        it.baselineFlagged = s !== null && s > model.threshold;
      }
      log(`baseline ${scene.name}: fitted on ${feats.length} objects, k ${model.k}`);
    }
    await m.appearance.close();
    await m.motion.close();
    baselineS = (performance.now() - tB) / 1000;
  }

  // Figures --------------------------------------------------------------------------------------
  const { perKind, normalFlagged, baselineNormalFlagged, reasonCounts, falseAlarmReasons } = await figures(
    items,
    args.baseline,
    args.out,
  );
  const episodeFig = episodeFigures(epIn, args.episodes ?? DEFAULT_EPISODE_SETTINGS);

  const totalS = (performance.now() - tStart) / 1000;
  const results = {
    command: args.command,
    machine,
    createdAt: new Date().toISOString(),
    split: args.split,
    ranges: r,
    limit: args.limit,
    design: {
      video: VTEST,
      fps: FPS,
      scenes: SCENES.map((s) => ({ name: s.name, crop: { x: s.x0, y: 0, w: s.width, h: FULL_H } })),
      detector: {
        model: `${detModel.manifest.name} v${detModel.manifest.version}`,
        setting: detectorSetting,
        scoreThreshold: detection ? null : detThreshold,
        options: detection ?? null,
        text: detectorText,
      },
      appearance: appearanceModel ? `${appearanceModel.manifest.name} v${appearanceModel.manifest.version}` : null,
      kinds: KIND_TEXT,
      episodes: episodes.map((e) => ({
        kind: e.kind,
        scene: e.scene,
        start: e.start,
        end: e.end,
        labelFrom: e.labelFrom,
        describe: e.describe,
      })),
      negatives: 'every frame of the test range of both scenes, unmodified',
      calibration:
        (args.fit?.crossFitFolds ?? DEFAULT_FIT.crossFitFolds ?? DEFAULT_CROSS_FIT_FOLDS) >= 2
          ? `cross-fitted: frames ${r.fit[0]}-${r.cal[1]} cut into ${args.fit?.crossFitFolds ?? DEFAULT_FIT.crossFitFolds ?? DEFAULT_CROSS_FIT_FOLDS} contiguous blocks, each block scored by a model fitted on the other blocks; part normalisers and threshold from those held-out scores; the final model fitted on all of ${r.fit[0]}-${r.cal[1]}`
          : `held out: fitted on frames ${r.fit[0]}-${r.fit[1]}, part normalisers and threshold from frames ${r.cal[0]}-${r.cal[1]}`,
      pooling:
        "scores of the two scenes are pooled after dividing by each scene model's threshold (new method) or subtracting it (baseline: SVM margins can be negative)",
    },
    fit: Object.fromEntries(
      SCENES.map((s) => {
        const { model, report, fitS } = models.get(s.name)!;
        const { appearance, ...rest } = report;
        return [
          s.name,
          {
            ...rest,
            threshold: r4(model.threshold),
            fitS: r4(fitS),
            appearance: appearance
              ? {
                  ...appearance,
                  embedding2d: {
                    points: appearance.embedding2d.points.length,
                    explainedVariance: appearance.embedding2d.explainedVariance.map(r4),
                    totalVariance: r4(appearance.embedding2d.totalVariance),
                  },
                }
              : null,
            options: model.options,
          },
        ];
      }),
    ),
    auc: perKind,
    normalFramesFlagged: {
      new: r4(normalFlagged),
      baseline: r4(baselineNormalFlagged),
      of: items.filter((i) => i.kind === 'normal').length,
    },
    alertEpisodes: episodeFig,
    baseline: baselineInfo,
    reasonsOnFlaggedInjectedObjects: reasonCounts,
    falseAlarmReasons,
    examples,
    timings: {
      cleanPassS: r4(cleanS),
      scoringS: r4(scoreS),
      baselineS: r4(baselineS),
      totalS: r4(totalS),
      detectP50Ms: r4(percentile(cache.detectMs, 50)),
      embedPerCropP50Ms: r4(percentile(cache.embedMs, 50)),
    },
    items,
  };
  if (args.out) {
    fs.writeFileSync(path.join(args.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
    fs.writeFileSync(path.join(args.out, 'evaluation.md'), markdown(results, args.limit));
  }
  await detector.close();
  if (embedder) await embedder.embedder.close();
  if (posed) await posed.estimator.close();
  return results;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the results object is built above and only read here */
export function markdown(res: any, limit: number | null): string {
  const f = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : 'n/a');
  const p = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : 'n/a');
  const rows = Object.entries(res.auc).map(
    ([k, v]: [string, any]) =>
      `| ${k} | ${v.positives} | **${f(v.auc)}** | ${f(v.aucPerScene.left)} / ${f(v.aucPerScene.right)} | ${f(v.aucUnsmoothed)} | ${p(v.framesFlagged)} | ${p(v.injectedDetected)} | ${f(v.aucDetectedOnly)} | ${v.baseline ? `**${f(v.baseline.auc)}**` : 'n/a'} | ${v.baseline ? p(v.baseline.framesFlagged) : 'n/a'} |`,
  );
  const fitRows = Object.entries(res.fit).map(
    ([s, v]: [string, any]) =>
      `| ${s} | ${v.fitFrames} / ${v.calibrationFrames} | ${v.fitObjects} (${Object.entries(v.objectsPerGroup)
        .map(([g, n]) => `${g} ${n}`)
        .join(
          ', ',
        )}) | ${v.tracks} | ${v.appearance ? `${v.appearance.bankSize} of ${v.appearance.sourceVectors}` : '—'} | ${v.appearance ? `${v.appearance.clusters.conditionalEntropyBits.toFixed(2)} of ${v.appearance.clusters.classEntropyBits.toFixed(2)} bits` : '—'} | ${f(v.threshold)} | ${p(v.calibrationFramesFlagged)} |`,
  );
  return [
    `### cctv-attributes: constructed-anomaly evaluation on vtest.avi (${res.split} split)`,
    ``,
    `Command: \`${res.command}\`${res.rescoredFrom ? ` (re-scored with the current defaults from the observations dumped by \`${res.rescoredFrom.command}\` of ${res.rescoredFrom.createdAt.slice(0, 10)}; timings are that run's)` : ''}. Machine: ${res.machine}. Total ${res.timings.totalS.toFixed(0)} s (clean pass ${res.timings.cleanPassS.toFixed(0)} s, anomaly clips ${res.timings.scoringS.toFixed(0)} s, baseline ${res.timings.baselineS.toFixed(0)} s; detector p50 ${f(res.timings.detectP50Ms)} ms per crop, appearance ${f(res.timings.embedPerCropP50Ms)} ms per object). Written ${res.createdAt.slice(0, 10)}.${limit !== null ? ` **Smoke run (--limit ${limit}): figures not comparable.**` : ''}`,
    ``,
    `**Design.** Two scenes from one real fixed camera: non-overlapping 384×576 crops of vtest.avi's 768×576 view, *left* (x 0–383: footpath, car park with cones, grass) and *right* (x 384–767: paved area and road, the parked van, grass). Per scene the method uses the normal frames ${res.ranges.fit[0]}–${res.ranges.cal[1]} only; calibration ${res.design.calibration ?? `held out: fitted on frames ${res.ranges.fit[0]}–${res.ranges.fit[1]}, part normalisers and threshold from frames ${res.ranges.cal[0]}–${res.ranges.cal[1]}`}. It is evaluated on frames ${res.ranges.test[0]}–${res.ranges.test[1]}, which neither fitting nor calibration sees. Every frame is analysed (10 fps), tracks carried from one frame to the next; appearance is embedded as production does it (each track about twice a second, new tracks at once). Detector: ${res.design.detector.text ?? `${res.design.detector.model} at score ≥ ${res.design.detector.scoreThreshold}, as is (detection work is elsewhere)`}. Appearance: ${res.design.appearance ?? '**none** (no MobileNetV2 model available to this run: the appearance attribute is off)'}.`,
    ``,
    `**Anomalies** (seed ${res.ranges.seed}; ${res.design.episodes.length} episodes, each in its own copy of the test range so kinds never mix; negatives = all ${res.normalFramesFlagged.of} unmodified test frames of both scenes). Objects are cut from real frames of the fit range (people: alpha from the difference to a per-pixel median background of the fit frames, blurred, faded at the edges; the van parked top right: its box with feathered edges), scaled to the local person height (0.25 · foot row + 15 px) and blended:`,
    ...Object.entries(res.design.kinds).map(([k, v]) => `- *${k}*: ${v}`),
    ``,
    `A frame is positive while the object is pasted in it, whether or not the detector finds it (an anomaly the detector misses is a miss of the system); "detected" = a box with IoU ≥ 0.3 on the pasted object.`,
    ``,
    `| kind | anomalous frames | **frame AUC** (new) | AUC left / right | AUC unsmoothed | anomalous frames flagged | injected object detected | AUC, detected frames only | **frame AUC baseline** | baseline frames flagged |`,
    `|---|---|---|---|---|---|---|---|---|---|`,
    ...rows,
    ``,
    ...episodeMarkdown(res.alertEpisodes),
    `**Normal frames flagged at the default threshold**: new method **${p(res.normalFramesFlagged.new)}**, baseline ${p(res.normalFramesFlagged.baseline)} (of ${res.normalFramesFlagged.of} normal test frames). The new method's threshold is the ${res.fit.left.options.thresholdQuantile} quantile of its smoothed frame scores on the held-out (cross-fitted) calibration frames; the baseline's is its own (0.99 quantile of held-out object scores).`,
    ``,
    `![ROC](roc.png)`,
    ``,
    `Scores of the two scenes are pooled after dividing by each scene model's threshold (baseline: subtracting it). Fit per scene:`,
    ``,
    `| scene | fit / calibration frames | fit objects | tracks | appearance bank (coreset of) | H(class \\| cluster) of H(class), 8 k-means clusters of the bank | threshold | calibration frames flagged |`,
    `|---|---|---|---|---|---|---|---|`,
    ...fitRows,
    ``,
    ...(res.fit.left.appearance
      ? [`![embedding left](embedding-left.png) ![embedding right](embedding-right.png)`, ``]
      : []),
    `Reasons given on the flagged injected objects (counted by the attribute the text starts with): ${
      Object.entries(res.reasonsOnFlaggedInjectedObjects)
        .map(
          ([k, v]) =>
            `*${k}*: ${Object.entries(v as Record<string, number>)
              .map(([a, n]) => `${a} ${n}`)
              .join(', ')}`,
        )
        .join('; ') || 'none'
    }.`,
    ``,
    `Most frequent reasons on falsely flagged normal frames: ${
      Object.entries(res.falseAlarmReasons as Record<string, number>)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([t, n]) => `"${t}" ×${n}`)
        .join('; ') || 'none'
    }.`,
    ``,
    res.rescoredFrom ? `Examples (re-scored reasons; images not redrawn):` : `Annotated examples (examples/):`,
    ...res.examples.map(
      (e: any) =>
        `- ${e.scene} ${e.kind}, frame ${e.t}: ${e.file}${
          e.reasons.length
            ? ` — ${e.reasons
                .slice(0, 3)
                .map((x: string) => `"${x}"`)
                .join('; ')}`
            : ' — no object flagged'
        }`,
    ),
    ``,
    `Episodes: ${res.design.episodes.map((e: any) => `${e.scene}/${e.kind} ${e.start}–${e.end}: ${e.describe}`).join('; ')}.`,
    ``,
  ].join('\n');
}

/** The alert-episode section of evaluation.md: the goals of issue 29 first, then per kind. */
function episodeMarkdown(e: EpisodeFigures | undefined): string[] {
  if (!e) return [];
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const pc = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)} %` : 'n/a');
  const o = e.overall;
  const missed = e.episodes.filter((x) => !x.caught);
  return [
    `**Alert episodes** (what an operator reviews; runtime/episodes.ts, the production code, on the same frame scores: an alert opens when the smoothed score / threshold stays above ${e.settings.high} for ${e.options.openFrames} frames (${e.settings.openS} s), ends below ${e.settings.low}, episodes closer than ${e.options.mergeGapFrames} frames (${e.settings.mergeGapS} s) are one alert; an anomaly episode is caught when an alert overlaps its labelled frames; time to alert = from its first labelled frame to the alert's opening frame):`,
    ``,
    `| figure | value | goal (issue 29) |`,
    `|---|---|---|`,
    `| false alerts per 10 min of normal footage | **${f1(o.falseAlertsPer10Min)}** (${o.falseAlerts} alerts in ${o.normalSeconds} s of unmodified test frames, both scenes) | ≤ 1 |`,
    `| anomaly episodes caught | **${pc(o.caughtShare)}** (${o.caught} of ${o.anomalyEpisodes}) | ≥ 90 % |`,
    `| median time from anomaly start to alert | **${f1(o.medianTimeToAlertS)} s** | ≤ 2 s |`,
    `| alerts in the anomaly clips overlapping nothing constructed | ${e.clipFalseAlerts} | |`,
    ``,
    `| kind | caught | median time to alert |`,
    `|---|---|---|`,
    ...Object.entries(e.perKind).map(
      ([k, v]) => `| ${k} | ${v.caught} of ${v.anomalyEpisodes} | ${f1(v.medianTimeToAlertS)} s |`,
    ),
    ``,
    `Missed episodes: ${missed.map((x) => `${x.scene}/${x.kind} (episode ${x.index})`).join(', ') || 'none'}. False alerts on the normal frames: ${Object.entries(
      e.normalAlerts,
    )
      .map(([sc, a]) => `${sc}: ${a.length ? a.map((x) => `frames ${x.start}–${x.end}`).join(', ') : 'none'}`)
      .join('; ')}.`,
    ``,
  ];
}

/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * Re-scores a finished evaluation from its dumped observations with other fit options (by default the
 * method's current defaults): detection, tracking and appearance vectors do not depend on the scoring, so
 * the new method's figures, ROC PNG and embedding plots are exactly what a full run with these options
 * would give, in seconds instead of the full run's minutes. Kept from the full run: the episodes, the
 * baseline's scores (it does not depend on these options) and the timings; the annotated example images
 * are not redrawn (their frames are not in the dump), so examples list the re-scored reasons only.
 */
export async function rescoreFromDump(
  prev: EvalResults,
  dump: ObsDump,
  opts: AttributeFitOptions,
  out: string | null,
  command: string,
): Promise<EvalResults> {
  const r = dump.ranges;
  if (JSON.stringify(r) !== JSON.stringify(prev.ranges))
    throw new Error(
      `dump ranges ${JSON.stringify(r)} differ from the results' ${JSON.stringify(prev.ranges)}: not the same run`,
    );
  const prevItems = prev.items as FrameItem[];
  const baselineOf = new Map(prevItems.map((i) => [`${i.scene}:${i.kind}:${i.t}`, i]));
  const items: FrameItem[] = [];
  const epIn: EpisodeInput[] = [];
  const fitInfo: Record<string, unknown> = {};
  const examples: Array<{ kind: string; scene: string; t: number; file: string; reasons: string[] }> = [];
  for (const scene of SCENES) {
    const obs = dump.clean[scene.name];
    const t0 = performance.now();
    const { model, report } = fitScene(obs, r, dump.frameSize[scene.name], {
      seed: 7,
      createdAt: new Date(0),
      ...opts,
    });
    const fitS = (performance.now() - t0) / 1000;
    const { appearance, ...rest } = report;
    fitInfo[scene.name] = {
      ...rest,
      threshold: r4(model.threshold),
      fitS: r4(fitS),
      appearance: appearance
        ? {
            ...appearance,
            embedding2d: {
              points: appearance.embedding2d.points.length,
              explainedVariance: appearance.embedding2d.explainedVariance.map(r4),
              totalVariance: r4(appearance.embedding2d.totalVariance),
            },
          }
        : null,
      options: model.options,
    };
    if (out) {
      const png = await embeddingPlotPng(report, `Appearance bank, scene ${scene.name} (PCA)`);
      if (png) fs.writeFileSync(path.join(out, `embedding-${scene.name}.png`), png);
    }
    const clips = dump.clips.filter((c) => c.scene === scene.name);
    const scored = scoreScene(model, scene.name, obs, clips, r);
    epIn.push(scored.episodes);
    for (const it of scored.items) {
      const b = baselineOf.get(`${it.scene}:${it.kind}:${it.t}`);
      items.push({ ...it, baseline: b?.baseline ?? null, baselineFlagged: b?.baselineFlagged ?? null });
    }
    const byFrame = new Map(scored.clean.scored.map((f) => [f.frame, f]));
    for (const f of scored.episodes.clean.filter((x) => x.abnormal).slice(0, 2)) {
      examples.push({
        kind: 'normal (false alarm)',
        scene: scene.name,
        t: f.frame,
        file: '(not redrawn)',
        reasons: exampleReasons(byFrame.get(f.frame)!),
      });
    }
    for (const [ci, clip] of clips.entries()) {
      const { scored: sc, example: t } = scored.clips[ci];
      if (t !== null)
        examples.push({
          kind: clip.kind,
          scene: scene.name,
          t,
          file: '(not redrawn)',
          reasons: exampleReasons(sc[t - r.test[0]]),
        });
    }
  }
  const withBaseline = items.every((i) => i.baseline !== null);
  const { perKind, normalFlagged, baselineNormalFlagged, reasonCounts, falseAlarmReasons } = await figures(
    items,
    withBaseline,
    out,
  );
  const res: EvalResults = {
    ...prev,
    command,
    rescoredFrom: { command: prev.command, createdAt: prev.createdAt, options: opts },
    createdAt: new Date().toISOString(),
    fit: fitInfo,
    auc: perKind,
    normalFramesFlagged: {
      new: r4(normalFlagged),
      baseline: r4(baselineNormalFlagged),
      of: items.filter((i) => i.kind === 'normal').length,
    },
    alertEpisodes: episodeFigures(epIn),
    reasonsOnFlaggedInjectedObjects: reasonCounts,
    falseAlarmReasons,
    examples,
    items,
  };
  if (out) {
    fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify(res, null, 2) + '\n');
    fs.writeFileSync(path.join(out, 'evaluation.md'), markdown(res, prev.limit as number | null));
  }
  return res;
}
