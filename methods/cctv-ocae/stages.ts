/**
 * Stages of the object-centric anomaly method (cctv-ocae, the seed baseline), after
 * Ionescu et al., CVPR 2019:
 *  extract: crops of the detected boxes at t-3, t, t+3 -> 64x64 grayscale;
 *           appearance encoder on t, motion encoder on the Sobel gradient
 *           magnitude of t-3 and t+3 -> 3 x 1024 latent per object, stored by
 *           reference (features/...), never in workflow history;
 *  score:   scene model (k-means clusters + one-vs-rest linear classifiers),
 *           object score = -max_i g_i(x), frame score = max over objects;
 *           abnormal boxes drawn on an annotated JPEG under results/;
 *  splitVideo: a video object becomes frame triplets in the bucket;
 *  fitScene:   k-means + classifiers fitted on the features of normal footage.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { fitSceneModel, frameScore, isAbnormal, scoreObjects, serializeSceneModel } from './scene-model';
import { BadInputError, SetupError, TransientError } from '../../core/errors';
import type { DecodedImage } from '../../media/image';
import type { OnnxEmbedder } from '../../runtime/embedder';
import type { ObjectStore } from '../../io/objectstore';
import type { SceneStore } from '../../io/scenes';
import type { SceneModel } from './scene-model';
import { neighbourNames } from '../../media/triplets';
import type {
  AnalyzeInput,
  Box,
  DetectOutput,
  ExtractOutput,
  FeaturesRef,
  ObjectRef,
  ScoreOutput,
  SplitResult,
} from '../../core/types';
import { probeVideo, sampleTriplets, frameTriplets } from '../../media/video';
import { cropGray, sobelMagnitude } from '../../media/vision';
import { annotate } from '../../media/annotate';

export { annotate };

export const CROP = 64;
/** At most this many objects per frame are embedded (the most confident). */
export const MAX_OBJECTS = 50;

export interface CctvDeps {
  store: ObjectStore;
  encoders: { appearance: OnnxEmbedder; motion: OnnxEmbedder };
  scenes: SceneStore<SceneModel>;
  /** Bucket for derived data: frames, features, annotated results, scene models. */
  resultsBucket: string;
  maxObjectBytes: number;
  loadImage: (o: Pick<ObjectRef, 'bucket' | 'name' | 'generation' | 'size' | 'contentType'>) => Promise<DecodedImage>;
  /** Tells Temporal a long step is alive (no-op outside an activity). */
  heartbeat: (details?: unknown) => void;
}

const DERIVED = (kind: string) => ({ 'lookout-derived': kind });

function safeKey(s: string): string {
  return s.replace(/[^A-Za-z0-9._/-]+/g, '_');
}

export function featuresName(key: string): string {
  return `features/${safeKey(key)}-${crypto.createHash('sha1').update(key).digest('hex').slice(0, 8)}.f32`;
}

/** Encodes one object: appearance latent of t, motion latents of t-3 and t+3, concatenated. */
async function embedObject(
  deps: CctvDeps,
  frames: { prev: DecodedImage; cur: DecodedImage; next: DecodedImage },
  b: Box,
): Promise<{ vector: Float32Array; inferenceMs: number; batch: number }> {
  const crop = (img: DecodedImage) => cropGray(img.data, img.width, img.height, b, CROP);
  const [a, mPrev, mNext] = await Promise.all([
    deps.encoders.appearance.embed(crop(frames.cur).data),
    deps.encoders.motion.embed(sobelMagnitude(crop(frames.prev)).data),
    deps.encoders.motion.embed(sobelMagnitude(crop(frames.next)).data),
  ]);
  const v = new Float32Array(a.output.length + mPrev.output.length + mNext.output.length);
  v.set(a.output, 0);
  v.set(mPrev.output, a.output.length);
  v.set(mNext.output, a.output.length + mPrev.output.length);
  return {
    vector: v,
    inferenceMs: Math.max(a.inferenceMs, mPrev.inferenceMs, mNext.inferenceMs),
    batch: Math.max(a.batchSize, mPrev.batchSize, mNext.batchSize),
  };
}

export async function readFeatures(store: ObjectStore, ref: FeaturesRef, maxBytes: number): Promise<Float32Array[]> {
  if (ref.count === 0) return [];
  const buf = await store.download({ bucket: ref.bucket, name: ref.name, generation: '0' }, maxBytes);
  if (buf.length !== ref.count * ref.dim * 4)
    throw new TransientError(
      'FeaturesCorrupt',
      `gs://${ref.bucket}/${ref.name} has ${buf.length} bytes, expected ${ref.count * ref.dim * 4}`,
    );
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  return Array.from({ length: ref.count }, (_, i) => all.subarray(i * ref.dim, (i + 1) * ref.dim));
}

export function createOcaeStages(deps: CctvDeps) {
  async function neighbours(o: ObjectRef): Promise<{ prev: DecodedImage; next: DecodedImage }> {
    const n = neighbourNames(o.name);
    const get = async (name: string) => {
      try {
        // Neighbours: the current generation of KEY_d3 / KEY_p3 (generation 0 = latest).
        return await deps.loadImage({ bucket: o.bucket, name, generation: '0', size: 1, contentType: 'image/jpeg' });
      } catch (err) {
        if (err instanceof BadInputError && err.errorClass === 'ObjectNotFound') {
          // The neighbour may still be uploading: a passing fault, retried with backoff.
          throw new TransientError(
            'NeighbourFrameMissing',
            `gs://${o.bucket}/${name} (frame t${name.includes('_d3') ? '-3' : '+3'}) not found: upload KEY, KEY_d3 and KEY_p3`,
            err,
          );
        }
        throw err;
      }
    };
    const [prev, next] = await Promise.all([get(n.d3), get(n.p3)]);
    return { prev, next };
  }

  return {
    async extract(input: AnalyzeInput, detect: DetectOutput, featuresKey: string) {
      const cur = await deps.loadImage(input.object);
      const { prev, next } = await neighbours(input.object);
      for (const [label, img] of [
        ['t-3', prev],
        ['t+3', next],
      ] as const) {
        if (img.width !== cur.width || img.height !== cur.height) {
          throw new BadInputError(
            'CorruptImage',
            `frame ${label} is ${img.width}x${img.height} but frame t is ${cur.width}x${cur.height}: a triplet must come from one camera`,
          );
        }
      }
      deps.heartbeat('frames loaded');
      const boxes = detect.boxes.slice(0, MAX_OBJECTS);
      const vecs = await Promise.all(boxes.map((b) => embedObject(deps, { prev, cur, next }, b)));
      const dim = vecs[0]?.vector.length ?? deps.encoders.appearance.latentSize + 2 * deps.encoders.motion.latentSize;
      const buf = Buffer.alloc(vecs.length * dim * 4);
      vecs.forEach((v, i) =>
        Buffer.from(v.vector.buffer, v.vector.byteOffset, v.vector.byteLength).copy(buf, i * dim * 4),
      );
      const ref: FeaturesRef = { bucket: deps.resultsBucket, name: featuresName(featuresKey), count: vecs.length, dim };
      if (vecs.length > 0)
        await deps.store.upload(ref.bucket, ref.name, buf, 'application/octet-stream', DERIVED('features'));
      const out: Omit<ExtractOutput, 'report'> = {
        featureNames: [
          `appearance_t[${deps.encoders.appearance.latentSize}]`,
          `motion_t-3[${deps.encoders.motion.latentSize}]`,
          `motion_t+3[${deps.encoders.motion.latentSize}]`,
        ],
        features: [],
        featuresRef: ref,
        models: [
          { name: deps.encoders.appearance.name, version: deps.encoders.appearance.version },
          { name: deps.encoders.motion.name, version: deps.encoders.motion.version },
        ],
      };
      return {
        value: out,
        inferenceMs: vecs.reduce((n, v) => n + v.inferenceMs, 0),
        batchSize: vecs.reduce((m, v) => Math.max(m, v.batch), 0) || undefined,
        executionProvider: deps.encoders.appearance.executionProvider,
        model: { name: deps.encoders.appearance.name, version: deps.encoders.appearance.version },
      };
    },

    async score(input: AnalyzeInput, detect: DetectOutput, extract: ExtractOutput) {
      const t0 = performance.now();
      const scene = input.scene ?? 'default';
      const { model, version } = await deps.scenes.load(scene);
      if (!extract.featuresRef) throw new SetupError('FeaturesMissing', 'extract stage returned no features reference');
      const feats = await readFeatures(deps.store, extract.featuresRef, 64 * 2 ** 20);
      const scores = scoreObjects(model, feats);
      const objects = detect.boxes
        .slice(0, feats.length)
        .map((b, i) => ({ ...b, anomalyScore: scores[i], abnormal: isAbnormal(model, scores[i]) }));
      const fs_ = frameScore(scores);
      const abnormal = objects.filter((o) => o.abnormal);
      const inferenceMs = performance.now() - t0;
      const cur = await deps.loadImage(input.object);
      const title = `${input.object.name.split('/').pop()}  score ${fs_ === null ? 'n/a' : fs_.toFixed(3)}  threshold ${model.threshold.toFixed(3)}  abnormal ${abnormal.length}`;
      const jpeg = await annotate(cur, objects, title);
      const annotatedName = `results/${input.object.bucket}/${input.object.name.replace(/\.[A-Za-z0-9]+$/, '')}.annotated.jpg`;
      await deps.store.upload(deps.resultsBucket, annotatedName, jpeg, 'image/jpeg', DERIVED('annotated'));
      const out: Omit<ScoreOutput, 'report'> = {
        label: fs_ === null ? 'no-objects' : abnormal.length > 0 ? 'abnormal' : 'normal',
        score: fs_,
        objects: objects.map(({ abnormal: _a, ...o }) => o),
        details: {
          scene,
          scene_version: version,
          threshold: model.threshold,
          abnormal_objects: abnormal.length,
          annotated: `gs://${deps.resultsBucket}/${annotatedName}`,
          ...(input.video
            ? {
                video: `gs://${input.video.bucket}/${input.video.name}#${input.video.generation}`,
                frame: input.video.frame,
                time_s: Math.round((input.video.frame / input.video.fps) * 1000) / 1000,
              }
            : {}),
        },
      };
      return { value: out, inferenceMs, model: { name: `scene-${scene}`, version } };
    },

    /** Video object -> JPEG frame triplets (t, t-3, t+3) in the results bucket, every `every` frames. */
    async splitVideo(video: ObjectRef, every: number): Promise<SplitResult> {
      const buf = await deps.store.download(video, deps.maxObjectBytes);
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-video-'));
      const file = path.join(tmp, path.basename(video.name) || 'video');
      fs.writeFileSync(file, buf);
      try {
        const info = await probeVideo(file);
        const ts = sampleTriplets(info.frames, every);
        if (ts.length === 0)
          throw new BadInputError(
            'UnsupportedMedia',
            `video has ${info.frames} frames: too short for triplets t-3, t, t+3`,
          );
        const base = `frames/${video.bucket}/${video.name}#${video.generation}/`;
        const frames: SplitResult['frames'] = [];
        for await (const tr of frameTriplets(file, ts)) {
          const enc = (rgb: Buffer) =>
            sharp(rgb, { raw: { width: tr.cur.width, height: tr.cur.height, channels: 3 } })
              .jpeg({ quality: 95 })
              .toBuffer();
          const name = `${base}f${String(tr.t).padStart(6, '0')}.jpg`;
          const n = neighbourNames(name);
          const [cur, prev, next] = await Promise.all([enc(tr.cur.rgb), enc(tr.prev.rgb), enc(tr.next.rgb)]);
          const meta = {
            ...DERIVED('frame'),
            'lookout-video': `${video.bucket}/${video.name}#${video.generation}`,
            'lookout-frame': String(tr.t),
          };
          // Neighbours first: the frame's own analysis must find them.
          await deps.store.upload(deps.resultsBucket, n.d3, prev, 'image/jpeg', meta);
          await deps.store.upload(deps.resultsBucket, n.p3, next, 'image/jpeg', meta);
          await deps.store.upload(deps.resultsBucket, name, cur, 'image/jpeg', meta);
          frames.push({ t: tr.t, name, generation: '0', size: cur.length });
          deps.heartbeat({ framesDone: frames.length, of: ts.length });
        }
        return {
          bucket: deps.resultsBucket,
          frames,
          fps: info.fps,
          totalFrames: info.frames,
          width: info.width,
          height: info.height,
        };
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    },

    /** Fits the scene model on the features of normal footage and stores a new version. */
    async fitScene(scene: string, refs: FeaturesRef[], opts: { k: number; seed: number; quantile: number }) {
      const feats: Float32Array[] = [];
      for (const r of refs) {
        feats.push(...(await readFeatures(deps.store, r, 64 * 2 ** 20)));
        deps.heartbeat({ loaded: feats.length });
      }
      if (feats.length < opts.k * 5)
        throw new BadInputError(
          'UnsupportedMedia',
          `only ${feats.length} objects were found in the normal footage: too few to fit ${opts.k} clusters`,
        );
      const t0 = Date.now();
      const model = fitSceneModel(feats, {
        k: opts.k,
        seed: opts.seed,
        quantile: opts.quantile,
        calibrationFraction: 0.2,
        featureSpec: 'appearance_t[1024]+motion_t-3[1024]+motion_t+3[1024] (ae-appearance, ae-motion)',
      });
      const saved = await deps.scenes.save(scene, serializeSceneModel(model));
      return {
        scene,
        version: saved.version,
        uri: saved.uri,
        samples: feats.length,
        threshold: model.threshold,
        k: model.k,
        fitMs: Date.now() - t0,
        report: model.report,
      };
    },
  };
}

export type OcaeStages = ReturnType<typeof createOcaeStages>;
