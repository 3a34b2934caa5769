/**
 * cctv-ocae: object-centric auto-encoders + scene model (Ionescu et al., CVPR 2019), the seed's CCTV
 * method, kept as the named baseline. Frame t is analysed with the same boxes cropped from t-3 and t+3.
 *  detect:  NanoDet on frame t;
 *  extract: appearance encoder on the 64x64 gray crop at t, motion encoder on the Sobel magnitude of
 *           the crops at t-3 and t+3 -> 3 x 1024 per object, stored by reference;
 *  score:   k-means clusters + one-vs-rest linear classifiers of the scene, object score = -max g_i,
 *           frame score = max over objects; annotated JPEG in the results bucket;
 *  fit:     `lookout fit --scene NAME <normal footage>` (fitScene workflow).
 * Figures and where it fails: docs/eval/cctv-evaluation.md.
 */
import type { SceneFormat } from '../../io/scenes';
import type { MethodDefinition, MethodRuntime } from '../method';
import { parseSceneModel, type SceneModel } from './scene-model';

/** Where the seed method's scene models live (the layout predates other methods: no sub-folder). */
export const OCAE_SCENE_FORMAT: SceneFormat<SceneModel> = { dir: '', file: 'scene.lksm', parse: parseSceneModel };

export const cctvOcaeMethod: MethodDefinition = {
  name: 'cctv-ocae',
  description:
    'object-centric auto-encoders + k-means / one-vs-rest scene model (Ionescu et al., CVPR 2019): the CCTV baseline',
  accepts: { images: false, videos: 'frames', triplets: true },
  defaultVideoEvery: 5,
  models: { detect: 'nanodet', appearance: 'ae-appearance', motion: 'ae-motion' },
  rowFields: {
    scene: 'scene model used',
    scene_version: 'its version',
    threshold: 'object score above which an object is abnormal',
    abnormal_objects: 'objects above the threshold',
    annotated: 'gs:// URI of the annotated JPEG',
    video: 'source video (frames cut from a video)',
    frame: 'frame index in the video',
    time_s: 'frame time in seconds',
  },
  fit: {
    description:
      'k-means (Lloyd) into k clusters + k one-vs-rest linear SVMs on the features of normal footage; threshold = quantile of held-out scores',
    defaults: { k: 10, seed: 7, quantile: 0.99 },
  },
  async load(ctx): Promise<MethodRuntime> {
    // Required here, not at the top: the dispatcher reads this definition without loading onnxruntime and sharp.
    const { detectionWork } = require('../../runtime/detector') as typeof import('../../runtime/detector');
    const { createOcaeStages } = require('./stages') as typeof import('./stages');
    const detector = await ctx.models.detector(this.models.detect);
    const appearance = await ctx.models.embedder(this.models.appearance);
    const motion = await ctx.models.embedder(this.models.motion);
    const stages = createOcaeStages({
      store: ctx.store,
      encoders: { appearance, motion },
      scenes: ctx.sceneStore(OCAE_SCENE_FORMAT),
      resultsBucket: ctx.resultsBucket,
      maxObjectBytes: ctx.maxObjectBytes,
      loadImage: ctx.loadImage,
      heartbeat: ctx.heartbeat,
    });
    return {
      loadedModels: () => [detector, appearance, motion].map((m) => `${m.name} v${m.version} (${m.executionProvider})`),
      detect: async (input) => detectionWork(detector, await ctx.loadImage(input.object)),
      extract: (input, detect, featuresKey) => stages.extract(input, detect, featuresKey),
      score: (input, detect, extract) => stages.score(input, detect, extract),
      splitVideo: (video, every) => stages.splitVideo(video, every),
      fitScene: (scene, refs, opts) => stages.fitScene(scene, refs, opts),
    };
  },
};
