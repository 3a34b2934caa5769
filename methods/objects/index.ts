/**
 * objects: single images (satellite tiles, CCTV stills) and videos.
 *  detect:  COCO object detection (NanoDet);
 *  extract: per-object crop statistics (appearance mean/std, gradient, shape, position, detector score);
 *  score:   a per-image summary: the most confident object and counts per class.
 * Videos are analysed in segments of consecutive frames: detection on every frame (a few frames in flight
 * so the detector's dynamic batcher fills its batches), one row per frame with the same summary.
 */
import type { Box } from '../../core/types';
import type { MethodDefinition, MethodRuntime } from '../method';

export const OBJECT_FEATURES = ['mean', 'std', 'gradient', 'aspect', 'area', 'cx', 'cy', 'det_score'] as const;

export const objectsMethod: MethodDefinition = {
  name: 'objects',
  description: 'COCO object detection, per-object crop features, per-image summary score',
  accepts: { images: true, videos: 'segments', triplets: false },
  defaultVideoEvery: 1,
  models: { detect: 'nanodet' },
  rowFields: {
    objects: 'number of detected objects',
    'count_<label>': 'detected objects of that class',
  },
  async load(ctx): Promise<MethodRuntime> {
    // Required here, not at the top: the dispatcher reads this definition without loading onnxruntime and sharp.
    const { detectionWork } = require('../../runtime/detector') as typeof import('../../runtime/detector');
    const { cropGray, meanStd, sobelMagnitude } = require('../../media/vision') as typeof import('../../media/vision');
    const detector = await ctx.models.detector(this.models.detect);
    const summarise = (boxes: Box[]) => {
      const counts: Record<string, number> = {};
      for (const b of boxes) counts[b.label] = (counts[b.label] ?? 0) + 1;
      const top = boxes.reduce<Box | undefined>((best, b) => (!best || b.score > best.score ? b : best), undefined);
      const details: Record<string, number | string> = { objects: boxes.length };
      for (const [k, v] of Object.entries(counts)) details[`count_${k}`] = v;
      return { label: top?.label ?? 'none', score: top?.score ?? 0, objects: boxes, details };
    };
    return {
      loadedModels: () => [`${detector.name} v${detector.version} (${detector.executionProvider})`],

      async detect(input) {
        return detectionWork(detector, await ctx.loadImage(input.object));
      },

      async extract(input, detect) {
        const t0 = performance.now();
        const img = await ctx.loadImage(input.object);
        const features = detect.boxes.map((b, i) => {
          const crop = cropGray(img.data, img.width, img.height, b, 64);
          const app = meanStd(crop.data);
          const grad = meanStd(sobelMagnitude(crop).data);
          const vector = [
            app.mean,
            app.std,
            grad.mean,
            b.w / Math.max(1, b.h),
            (b.w * b.h) / (img.width * img.height),
            (b.x + b.w / 2) / img.width,
            (b.y + b.h / 2) / img.height,
            b.score,
          ];
          return { box: i, vector: vector.map((v) => Math.round(v * 1e5) / 1e5) };
        });
        return { value: { featureNames: [...OBJECT_FEATURES], features }, inferenceMs: performance.now() - t0 };
      },

      async score(_input, detect) {
        return { value: summarise(detect.boxes), inferenceMs: 0 };
      },

      async analyzeSegment(_seg, frames, _state, emit) {
        // Up to IN_FLIGHT frames are detected at once (their order kept), so concurrent requests share a batch.
        const IN_FLIGHT = 4;
        const pending: Array<Promise<{ frame: number; t0: number; r: Awaited<ReturnType<typeof detector.detect>> }>> =
          [];
        const flush = async () => {
          const { frame, t0, r } = await pending.shift()!;
          const s = summarise(r.boxes);
          await emit({
            frame,
            ...s,
            ms: { detect: performance.now() - t0, extract: 0, score: 0, inference: r.inferenceMs },
            model: { name: detector.name, version: detector.version },
            executionProvider: detector.executionProvider,
            batchSize: r.batchSize,
          });
        };
        try {
          for await (const f of frames) {
            const t0 = performance.now();
            pending.push(
              detector
                .detect({ data: f.rgb, width: f.width, height: f.height, format: 'raw' })
                .then((r) => ({ frame: f.index, t0, r })),
            );
            if (pending.length >= IN_FLIGHT) await flush();
          }
          while (pending.length) await flush();
        } finally {
          // A decode error leaves detections in flight: settle them, so none rejects unobserved.
          await Promise.allSettled(pending);
        }
        return { state: null };
      },
    };
  },
};
