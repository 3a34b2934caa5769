/** `lookout fit` */
import type { Command } from '../command';
import { fitSceneFromCli } from '../scene';

export const fitCommand: Command = {
  spec: {
    name: 'fit',
    summary: 'fit a scene model (cctv-anomaly) on normal footage, as a Temporal workflow on the workers',
    usage: 'fit --scene NAME [--pipeline cctv-anomaly] [--every N] [--k K] SOURCE...',
    positionals: { min: 1, max: 1000, name: 'SOURCE... (gs://bucket/video or local video files)' },
    description: `Each video is split into frame triplets (t-3, t, t+3) every N frames; detection and feature extraction fan out
over the workers; k-means + one-vs-rest classifiers are fitted in an activity and stored as a new version at
gs://<results bucket>/models/scenes/<NAME>/<version>/scene.lksm (LATEST points at it). Analyses whose object
metadata says lookout-scene=<NAME> use it from then on.`,
    options: {
      scene: { type: 'string', help: 'scene name (lowercase letters, digits, - and _)' },
      pipeline: { type: 'string', default: 'cctv-anomaly', help: 'pipeline (only cctv-anomaly fits scenes)' },
      every: { type: 'number', default: 5, help: 'use every Nth frame' },
      k: { type: 'number', default: 10, help: 'normality clusters' },
      seed: { type: 'number', default: 7, help: 'random seed of k-means and the classifiers' },
      quantile: { type: 'number', default: 0.99, help: 'threshold = this quantile of held-out normal scores' },
      parallelism: { type: 'number', default: 4, help: 'frames analysed at once' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    if (!opts.scene) throw new Error('--scene is required');
    if (opts.pipeline !== 'cctv-anomaly') throw new Error(`pipeline ${opts.pipeline} has no scene models (only cctv-anomaly)`);
    await fitSceneFromCli(cfg, String(opts.scene), positionals, { every: Number(opts.every), k: Number(opts.k), seed: Number(opts.seed), quantile: Number(opts.quantile), parallelism: Number(opts.parallelism) });
  },
};
