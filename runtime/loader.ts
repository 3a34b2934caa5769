/**
 * Loads models from a repository folder once per worker process and shares them between the methods
 * that ask for the same model (two CCTV methods using one detector load it once).
 */
import type { Pool } from '../core/pipelines';
import type { BatchOptions } from './batcher';
import { OnnxDetector, type Detector } from './detector';
import { OnnxChipClassifier } from './classifier';
import { OnnxEmbedder } from './embedder';
import { OnnxPoseEstimator } from './pose';
import { chipClassifiersFor, loadLocalModel } from './manifest';

export interface ModelLoadOptions {
  repo: string;
  pool: Pool;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  /** Override of the manifests' dynamic batching (maxBatchSize 1 = off). */
  batch?: Partial<BatchOptions>;
}

export class CachingModelLoader {
  private readonly detectors = new Map<string, Promise<OnnxDetector>>();
  private readonly embedders = new Map<string, Promise<OnnxEmbedder>>();
  private readonly classifiers = new Map<string, Promise<OnnxChipClassifier>>();
  private readonly poses = new Map<string, Promise<OnnxPoseEstimator>>();

  constructor(private readonly opts: ModelLoadOptions) {}

  /** `profile`: a `detectionProfiles` entry of the model's manifest (thresholds, input size, NMS tuned for a use). */
  detector(name: string, profile?: string): Promise<Detector> {
    const key = `${name}\u0000${profile ?? ''}`;
    let d = this.detectors.get(key);
    if (!d) {
      d = OnnxDetector.load(loadLocalModel(this.opts.repo, name), {
        pool: this.opts.pool,
        threads: this.opts.threads,
        batch: this.opts.batch,
        detection: profile,
      });
      this.detectors.set(key, d);
    }
    return d;
  }

  embedder(name: string): Promise<OnnxEmbedder> {
    let e = this.embedders.get(name);
    if (!e) {
      e = (async () =>
        OnnxEmbedder.load(loadLocalModel(this.opts.repo, name), {
          pool: this.opts.pool,
          threads: this.opts.threads,
        }))();
      // A model that failed to load is not cached: asked again, it is tried again (and close() skips it).
      e.catch(() => this.embedders.delete(name));
      this.embedders.set(name, e);
    }
    return e;
  }

  /** A pose model (task "pose", e.g. movenet), loaded once. */
  pose(name: string): Promise<OnnxPoseEstimator> {
    let p = this.poses.get(name);
    if (!p) {
      p = OnnxPoseEstimator.load(loadLocalModel(this.opts.repo, name), {
        pool: this.opts.pool,
        threads: this.opts.threads,
      });
      p.catch(() => this.poses.delete(name));
      this.poses.set(name, p);
    }
    return p;
  }

  /** Every chip classifier of the repository that `pipeline` runs (manifests with task "chip-classifier"), loaded once. */
  async chipClassifiers(pipeline: string): Promise<OnnxChipClassifier[]> {
    return Promise.all(
      chipClassifiersFor(this.opts.repo, pipeline).map((m) => {
        let c = this.classifiers.get(m.manifest.name);
        if (!c) {
          c = OnnxChipClassifier.load(m, { pool: this.opts.pool, threads: this.opts.threads });
          this.classifiers.set(m.manifest.name, c);
        }
        return c;
      }),
    );
  }

  modelPath(name: string): string {
    return loadLocalModel(this.opts.repo, name).modelPath;
  }

  async close(): Promise<void> {
    for (const p of [
      ...this.detectors.values(),
      ...this.embedders.values(),
      ...this.classifiers.values(),
      ...this.poses.values(),
    ]) {
      const m = await p.catch(() => null);
      if (m) await m.close();
    }
  }
}
