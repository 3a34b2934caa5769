/**
 * A model repository in a bucket (runtime/remote.ts) on the embedded fake-gcs-server: `lookout models publish`
 * and `lookout models list` as a user runs them, and what a worker started with --model-repo gs://… copies:
 * the models its pipelines name and the chip classifiers published for them (a user plugs one in by its manifest
 * alone, so a bucket repository must be searched by manifest, not only by the names the code knows).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelsForPipelines } from '../../methods/registry';
import { chipClassifierNames, syncPipelineModels } from '../../runtime/remote';
import { ensureBucket, SIDE_BUCKET, storage, uniqueRun } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'lookout');
const lookout = (...args: string[]) =>
  execFileSync('node', [BIN, ...args], { encoding: 'utf8', env: process.env, cwd: ROOT });

describe('model repository in a bucket', () => {
  it('models list shows the local repository with its tasks', () => {
    const out = lookout('models', 'list');
    expect(out).toMatch(/^nanodet\s+v\d+\s+detection/m);
    expect(out).toMatch(/^burn-scar-head\s+v\d+\s+chip-classifier/m);
  });

  it('publish, then a raster worker copies its pipeline models and the published chip classifiers, nothing else', async () => {
    await ensureBucket(SIDE_BUCKET);
    const uri = `gs://${SIDE_BUCKET}/${uniqueRun('models')}`;
    const rasterModels = modelsForPipelines(['raster']);
    for (const name of [...rasterModels, 'burn-scar-head', 'nanodet'])
      expect(lookout('models', 'publish', name, '--to', uri)).toContain('published');
    // The classifier is found by its manifest (task chip-classifier, pipelines: raster); the detector is not a classifier.
    expect(await chipClassifierNames(storage, uri, ['raster'])).toEqual(['burn-scar-head']);
    expect(await chipClassifierNames(storage, uri, ['objects'])).toEqual([]);
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-model-cache-'));
    // The worker's own call (workers/worker.ts) for a raster worker.
    const synced = await syncPipelineModels(storage, uri, ['raster'], rasterModels, cache);
    expect(synced.dir).toBe(cache);
    expect(fs.readdirSync(cache).sort()).toEqual([...rasterModels, 'burn-scar-head'].sort());
    expect(fs.readdirSync(cache)).not.toContain('nanodet');
    const manifest = JSON.parse(fs.readFileSync(path.join(cache, 'burn-scar-head', 'manifest.json'), 'utf8')) as {
      task: string;
      version: number;
      file: string;
    };
    expect(manifest.task).toBe('chip-classifier');
    const local = path.join(cache, 'burn-scar-head', String(manifest.version), manifest.file);
    expect(
      fs
        .readFileSync(local)
        .equals(fs.readFileSync(path.join(ROOT, 'models', 'burn-scar-head', String(manifest.version), manifest.file))),
    ).toBe(true);
  });

  it('publish without --to is a usage error with a non-zero exit', () => {
    let code = 0;
    try {
      lookout('models', 'publish', 'nanodet');
    } catch (err) {
      code = (err as { status: number }).status;
    }
    expect(code).not.toBe(0);
  });
});
