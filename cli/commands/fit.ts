/** `lookout fit` */
import type { Command } from '../command';
import { fitSceneFromCli } from '../scene';

export const fitCommand: Command = {
  spec: {
    name: 'fit',
    summary: 'fit a CCTV scene model on normal footage, as a Temporal workflow on the workers',
    usage:
      'fit --scene NAME [--pipeline cctv-anomaly|cctv-ocae] [--every N] [--k K] [--with-dismissed] [--report-dir DIR] [--json] SOURCE...',
    positionals: { min: 1, max: 1000, name: 'SOURCE... (gs://bucket/video or local video files)' },
    description: `cctv-anomaly (the default, method cctv-attributes): each video is observed in segments of consecutive frames on the
workers (detection, tracks, appearance features); per-region statistics and an appearance bank are fitted in one
activity, calibrated cross-fitted (the footage cut into 5 time blocks, each scored by a model of the other four),
and stored as a new version at gs://<results bucket>/models/scenes/<NAME>/cctv-attributes/<version>/scene.lkam.
The fit report is printed (objects, tracks, appearance bank and cluster sizes, H(class | cluster), threshold) and
written with the bank's 2-D embedding plot to the report folder: fit.json, embedding.png.
cctv-ocae (the seed baseline): frame triplets every N frames, auto-encoder features, k-means + one-vs-rest classifiers,
stored at gs://<results bucket>/models/scenes/<NAME>/<version>/scene.lksm.
LATEST points at the newest version; analyses whose object metadata says lookout-scene=<NAME> use it from then on.`,
    options: {
      scene: { type: 'string', help: 'scene name (lowercase letters, digits, - and _)' },
      pipeline: {
        type: 'string',
        default: 'cctv-anomaly',
        help: 'pipeline whose method is fitted (cctv-anomaly, cctv-attributes, cctv-ocae)',
      },
      every: {
        type: 'number',
        help: "use every Nth frame (default: the method's, 1 for cctv-attributes, 5 for cctv-ocae)",
      },
      k: {
        type: 'number',
        help: 'clusters (cctv-ocae: normality clusters, default 10; cctv-attributes: appearance clusters of the fit report, default 8)',
      },
      seed: { type: 'number', default: 7, help: 'random seed' },
      quantile: {
        type: 'number',
        help: "threshold = this quantile of held-out normal scores (default: the method's, 0.99 cctv-ocae, 0.97 cctv-attributes)",
      },
      parallelism: { type: 'number', default: 4, help: 'frames analysed at once' },
      'with-dismissed': {
        type: 'boolean',
        help: 'also fit clips around the alerts of this scene dismissed in `lookout ui` (BigQuery <table>_feedback)',
      },
      'report-dir': {
        type: 'string',
        help: 'folder for the fit report (fit.json, embedding.png; default <LOOKOUT_HOME>/fit-reports/<scene>/v<version>)',
      },
      json: { type: 'boolean', help: 'print the fit result and its report as JSON' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    if (!opts.scene) throw new Error('--scene is required');
    const { methodOfPipeline } = require('../../methods/registry') as typeof import('../../methods/registry');
    const method = methodOfPipeline(String(opts.pipeline));
    if (!method.fit) throw new Error(`pipeline ${opts.pipeline} (method ${method.name}) has no scene model to fit`);
    const d = method.fit.defaults;
    let sources = positionals;
    if (opts['with-dismissed']) {
      const { dismissedClips } = require('../scene') as typeof import('../scene');
      const path = require('node:path') as typeof import('node:path');
      const clips = await dismissedClips(cfg, String(opts.scene), path.join(cfg.home, 'dismissed', String(opts.scene)));
      (opts.json ? console.error : console.log)(
        `fit: ${clips.length} clip(s) around dismissed alerts of scene ${opts.scene} added to the normal footage`,
      );
      sources = [...positionals, ...clips];
    }
    await fitSceneFromCli(cfg, String(opts.scene), sources, {
      pipeline: String(opts.pipeline),
      every: opts.every === undefined ? undefined : Number(opts.every),
      k: opts.k === undefined ? d.k : Number(opts.k),
      seed: Number(opts.seed),
      quantile: opts.quantile === undefined ? d.quantile : Number(opts.quantile),
      parallelism: Number(opts.parallelism),
      reportDir: opts['report-dir'] === undefined ? undefined : String(opts['report-dir']),
      json: opts.json === true,
    });
  },
};
