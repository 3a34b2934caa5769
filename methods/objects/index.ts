/**
 * objects: single images (satellite tiles, CCTV stills).
 *  detect:  COCO object detection (NanoDet);
 *  extract: per-object crop statistics (appearance mean/std, gradient, shape, position, detector score);
 *  score:   a per-image summary: the most confident object and counts per class.
 */
import type { MethodDefinition, MethodRuntime } from '../method';

export const OBJECT_FEATURES = ['mean', 'std', 'gradient', 'aspect', 'area', 'cx', 'cy', 'det_score'] as const;

export const objectsMethod: MethodDefinition = {
  name: 'objects',
  description: 'COCO object detection, per-object crop features, per-image summary score',
  accepts: { images: true, videos: false, triplets: false },
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
          const vector = [app.mean, app.std, grad.mean, b.w / Math.max(1, b.h), (b.w * b.h) / (img.width * img.height), (b.x + b.w / 2) / img.width, (b.y + b.h / 2) / img.height, b.score];
          return { box: i, vector: vector.map((v) => Math.round(v * 1e5) / 1e5) };
        });
        return { value: { featureNames: [...OBJECT_FEATURES], features }, inferenceMs: performance.now() - t0 };
      },

      async score(_input, detect) {
        const counts: Record<string, number> = {};
        for (const b of detect.boxes) counts[b.label] = (counts[b.label] ?? 0) + 1;
        const top = detect.boxes.reduce<(typeof detect.boxes)[number] | undefined>((best, b) => (!best || b.score > best.score ? b : best), undefined);
        const details: Record<string, number | string> = { objects: detect.boxes.length };
        for (const [k, v] of Object.entries(counts)) details[`count_${k}`] = v;
        return { value: { label: top?.label ?? 'none', score: top?.score ?? 0, objects: detect.boxes, details }, inferenceMs: 0 };
      },
    };
  },
};
