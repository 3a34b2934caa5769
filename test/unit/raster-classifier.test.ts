/**
 * A user's chip classifier plugged into the raster pipeline by its manifest alone (task "chip-classifier"),
 * and two-stage placement (backbone on one pool, head on another): manifest validation, the placement policy,
 * the float16 transport of the head's inputs, pixel-head inputs, and the raster method run on an in-memory
 * store with the repository's real models (models/mobilenetv2 + the example head models/burn-scar-head), in one
 * stage and in two, giving the same classifier scores.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rasterPlacement, resolvePipeline } from '../../core/pipelines';
import type { AnalysisSummary, AnalyzeInput, ObjectRef, RasterPlan } from '../../core/types';
import type { ObjectStore } from '../../io/objectstore';
import { blocksFromBands, epsgGeoKeys, writeTiffBuffer } from '../../media/tiff-writer';
import type { MethodRuntime } from '../../methods/method';
import {
  chipToChannels01,
  classifierChannels,
  classifierSummary,
  fromHalf,
  packFloat16,
  toHalf,
  unpackFloat16,
} from '../../methods/raster-change/classifier';
import { rasterChangeMethod } from '../../methods/raster-change/method';
import { decide, OnnxChipClassifier, scoreOf } from '../../runtime/classifier';
import { CachingModelLoader } from '../../runtime/loader';
import { chipClassifiersFor, loadLocalModel, ManifestError, validateManifest } from '../../runtime/manifest';

const REPO = path.resolve(__dirname, '..', '..', 'models');
const HEAD = 'burn-scar-head';

function headManifest(over: Record<string, unknown> = {}, cls: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'my-head',
    version: 1,
    task: 'chip-classifier',
    platform: 'onnxruntime',
    file: 'model.onnx',
    inputs: [{ name: 'features', dtype: 'float32', dims: [-1, 1280] }],
    outputs: [{ name: 'probability', dtype: 'float32', dims: [-1, 1] }],
    classifier: {
      pipelines: ['raster'],
      input: 'embedding',
      backbone: 'mobilenetv2',
      output: 'probability',
      threshold: 0.5,
      labels: ['no', 'yes'],
      ...cls,
    },
    maxBatchSize: 64,
    provenance: {},
    license: 'test',
    ...over,
  };
}

describe('chip classifier manifests', () => {
  it('a chip-classifier manifest is validated: input kind, backbone or bands and size, output, threshold, labels, placement', () => {
    expect(validateManifest(headManifest(), 'm').classifier?.backbone).toBe('mobilenetv2');
    expect(
      validateManifest(headManifest({}, { input: 'pixels', bands: ['gray'], size: 128, backbone: undefined }), 'm')
        .classifier?.size,
    ).toBe(128);
    expect(
      validateManifest(headManifest({}, { placement: { backbone: 'cpu', head: 'gpu' } }), 'm').classifier?.placement,
    ).toEqual({ backbone: 'cpu', head: 'gpu' });
    const bad: Array<[Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      [{ classifier: undefined }, {}, /needs a "classifier" object/],
      [{}, { input: 'tiles' }, /classifier.input/],
      [{}, { backbone: undefined }, /classifier.backbone/],
      [{}, { input: 'pixels', size: 128 }, /classifier.bands/],
      [{}, { input: 'pixels', bands: ['red'], size: 3 }, /classifier.size/],
      [{}, { output: 'softmax' }, /classifier.output/],
      [{}, { threshold: '0.5' }, /classifier.threshold/],
      [{}, { labels: ['only-one'] }, /classifier.labels/],
      [{}, { pipelines: [] }, /classifier.pipelines/],
      [{}, { placement: { backbone: 'cpu', head: 'tpu' } }, /classifier.placement/],
      [{ task: 'embedding' }, {}, /belongs to task "chip-classifier"/],
    ];
    for (const [over, cls, msg] of bad) {
      const m = headManifest(over, cls);
      if ('classifier' in over && over.classifier === undefined) delete m.classifier;
      expect(() => validateManifest(m, 'm'), JSON.stringify([over, cls])).toThrow(msg);
    }
  });

  it('the repository declares the example head for the raster pipeline, and a broken classifier manifest fails loudly', () => {
    const found = chipClassifiersFor(REPO, 'raster').map((m) => m.manifest.name);
    expect(found).toContain(HEAD);
    expect(chipClassifiersFor(REPO, 'objects').map((m) => m.manifest.name)).not.toContain(HEAD);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-cls-'));
    try {
      fs.mkdirSync(path.join(tmp, 'broken', '1'), { recursive: true });
      fs.writeFileSync(
        path.join(tmp, 'broken', 'manifest.json'),
        JSON.stringify(headManifest({ name: 'broken' }, { labels: ['x'] })),
      );
      fs.writeFileSync(path.join(tmp, 'broken', '1', 'model.onnx'), '');
      expect(() => chipClassifiersFor(tmp, 'raster')).toThrow(ManifestError);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('scores and decisions follow the manifest: positive index, sigmoid of a logit, threshold and labels', () => {
    expect(scoreOf({ output: 'probability', positiveIndex: 1 }, [0.2, 0.8])).toBe(0.8);
    expect(scoreOf({ output: 'logit' }, [0])).toBe(0.5);
    expect(scoreOf({ output: 'logit' }, [Math.log(3)])).toBeCloseTo(0.75, 12);
    expect(() => scoreOf({ output: 'probability', positiveIndex: 2 }, [0.1, 0.2])).toThrow(RangeError);
    expect(decide({ threshold: 0.5, labels: ['no', 'yes'] }, 0.5)).toEqual({
      score: 0.5,
      label: 'yes',
      positive: true,
    });
    expect(decide({ threshold: 0.5, labels: ['no', 'yes'] }, 0.49).label).toBe('no');
    expect(
      classifierSummary({ model: 'h', version: 2 }, { threshold: 0.5, labels: ['no', 'yes'] }, [0.1, null, 0.7, 0.5]),
    ).toEqual({ model: 'h', version: 2, maxScore: 0.7, positives: 2, label: 'yes' });
  });
});

describe('two-stage placement', () => {
  const spec = resolvePipeline('raster', { gpuStages: [], gpuFallbackMs: 1500 });
  it('no placement: one activity on the pipeline CPU queue (also when extract is a GPU stage)', () => {
    expect(rasterPlacement(spec, null)).toEqual({
      block: { pool: 'cpu', taskQueue: 'raster-cpu', startToCloseMs: 120_000 },
      head: null,
    });
    expect(
      rasterPlacement(resolvePipeline('raster', { gpuStages: ['extract'], gpuFallbackMs: 1500 }), undefined).block
        .taskQueue,
    ).toBe('raster-cpu');
  });
  it('backbone cpu, head gpu: the head gets its own activity on the GPU queue, falling back to the CPU queue after the pipeline wait', () => {
    const p = rasterPlacement(spec, { backbone: 'cpu', head: 'gpu' });
    expect(p.block).toEqual({ pool: 'cpu', taskQueue: 'raster-cpu', startToCloseMs: 120_000 });
    expect(p.head).toEqual({
      pool: 'gpu',
      taskQueue: 'raster-gpu',
      fallback: { taskQueue: 'raster-cpu', scheduleToStartMs: 1500 },
      startToCloseMs: 60_000,
    });
  });
  it('backbone gpu, head cpu: the block goes to the GPU queue with fallback, the head to the CPU queue; one pool for both: one activity there', () => {
    const p = rasterPlacement(spec, { backbone: 'gpu', head: 'cpu' });
    expect(p.block.taskQueue).toBe('raster-gpu');
    expect(p.block.fallback?.taskQueue).toBe('raster-cpu');
    expect(p.head).toEqual({ pool: 'cpu', taskQueue: 'raster-cpu', startToCloseMs: 60_000 });
    expect(rasterPlacement(spec, { backbone: 'gpu', head: 'gpu' })).toMatchObject({
      block: { pool: 'gpu', taskQueue: 'raster-gpu' },
      head: null,
    });
    // A spec from an older version without the wait: the default.
    const { gpuFallbackMs: _omit, ...old } = spec;
    expect(rasterPlacement(old, { backbone: 'cpu', head: 'gpu' }).head?.fallback?.scheduleToStartMs).toBe(10_000);
  });
});

describe('float16 transport of head inputs', () => {
  it('binary16 encoding: exact values, rounding, overflow, subnormals', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(1e6)).toBe(0x7c00);
    expect(toHalf(0)).toBe(0);
    expect(fromHalf(toHalf(2 ** -24))).toBe(2 ** -24);
    expect(fromHalf(toHalf(1e-9))).toBe(0);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
    expect(fromHalf(toHalf(1 + 2 ** -11))).toBe(1); // tie to even
    expect(fromHalf(toHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
  });
  it('vectors round-trip within float16 precision (relative 2^-11) and their size is 2 bytes per value', () => {
    const v = [
      Float32Array.from({ length: 1280 }, (_, i) => ((i * 37) % 600) / 100),
      Float32Array.from({ length: 1280 }, (_, i) => Math.sin(i) * 3),
    ];
    const b64 = packFloat16(v, 1280);
    expect(Buffer.from(b64, 'base64').length).toBe(2 * 1280 * 2);
    const back = unpackFloat16(b64, 1280);
    for (let k = 0; k < 2; k++)
      for (let i = 0; i < 1280; i++)
        expect(Math.abs(back[k][i] - v[k][i])).toBeLessThanOrEqual(Math.abs(v[k][i]) * 2 ** -11 + 2 ** -24);
  });
});

describe('pixel heads', () => {
  it('channels by role, band name or gray; missing bands named', () => {
    const roles = { red: 2, green: 1, blue: 0, nir: 3 };
    expect(classifierChannels({ bands: ['gray'] }, ['B02', 'B03', 'B04', 'B08'], roles, [2, 1, 0])).toEqual({
      channels: [-1],
      missing: [],
    });
    expect(classifierChannels({ bands: ['nir', 'B04'] }, ['B02', 'B03', 'B04', 'B08'], roles, [2, 1, 0])).toEqual({
      channels: [3, 2],
      missing: [],
    });
    expect(classifierChannels({ bands: ['swir2', 'gray'] }, ['a'], {}, null)).toEqual({
      channels: null,
      missing: ['swir2', 'gray'],
    });
  });
  it('a chip becomes [C, size, size] in [0, 1]: stretched per channel, gray = mean of stretched RGB, resized', () => {
    const w = 4;
    const h = 4;
    const band = (v: (i: number) => number) => Float64Array.from({ length: w * h }, (_, i) => v(i));
    const chip = {
      width: w,
      height: h,
      bands: [band(() => 10), band(() => 20), band(() => 30), band((i) => (i % 2 ? 100 : 0))],
      nodata: null,
    };
    const out = chipToChannels01(chip, { channels: [3, -1], stretch: { min: [0, 0], max: [100, 1] } }, 2, [0, 1, 2], {
      min: [0, 0, 0],
      max: [40, 40, 40],
    });
    expect(out.length).toBe(2 * 2 * 2);
    // nir stripes (0, 100) averaged by the 2x downsize: 0.5; gray: (10 + 20 + 30) / 3 / 40 = 0.5.
    for (let i = 0; i < 4; i++) expect(out[i]).toBeCloseTo(0.5, 6);
    for (let i = 4; i < 8; i++) expect(out[i]).toBeCloseTo(0.5, 6);
  });
});

// ------------------------------------------------------------------------------------------------
// The raster method on an in-memory store with the repository's models: one stage vs two stages.

function memoryStore(): ObjectStore & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  const gens = new Map<string, string>();
  let gen = 1;
  const key = (b: string, n: string) => `${b}/${n}`;
  return {
    objects,
    async download(ref) {
      const b = objects.get(key(ref.bucket, ref.name));
      if (!b) throw new Error(`no ${ref.name}`);
      return b;
    },
    async upload(bucket, name, data) {
      objects.set(key(bucket, name), Buffer.from(data));
      gens.set(key(bucket, name), String(gen++));
    },
    async rangeSource(ref) {
      const b = objects.get(key(ref.bucket, ref.name))!;
      return {
        size: b.length,
        name: ref.name,
        generation: ref.generation,
        read: async (o: number, l: number) => b.subarray(o, Math.min(b.length, o + l)),
      };
    },
    async uploadIfGeneration(bucket, name, data, generation) {
      const g = gens.get(key(bucket, name)) ?? '0';
      if (g !== generation) return false;
      objects.set(key(bucket, name), Buffer.from(data));
      gens.set(key(bucket, name), String(gen++));
      return true;
    },
    async stat(bucket, name) {
      const b = objects.get(key(bucket, name));
      return b
        ? {
            generation: gens.get(key(bucket, name))!,
            size: b.length,
            timeCreated: new Date(0).toISOString(),
            contentType: 'image/tiff',
          }
        : null;
    },
  };
}

/** A 3-band uint8 RGB scene, 256 x 192 (2 x 2 blocks of 2 x 2 chips of 64 px, edge chips clipped): textured, a dark patch in one chip. */
function rgbTiff(): Buffer {
  const w = 224;
  const h = 160;
  const bands = [0, 1, 2].map(() => new Array<number>(w * h));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = ((x * 7 + y * 13) % 17) * 4 + ((x >> 3) % 2) * 30;
      const dark = x >= 70 && x < 125 && y >= 5 && y < 60;
      const i = y * w + x;
      bands[0][i] = dark ? 30 + t / 4 : 90 + t;
      bands[1][i] = dark ? 25 + t / 4 : 120 + t;
      bands[2][i] = dark ? 20 + t / 4 : 70 + t;
    }
  }
  return writeTiffBuffer({
    width: w,
    height: h,
    bands: 3,
    type: 'uint8',
    tileSize: 64,
    compression: 'deflate',
    geo: { tiepoint: [0, 0, 0, 500000, 4000000, 0], pixelScale: [1, 1, 0], geoKeys: epsgGeoKeys(32611) },
    block: blocksFromBands(bands, w, h, 'uint8'),
  });
}

type Row = Omit<AnalysisSummary, 'input' | 'runId' | 'workflowStartedAt'>;

describe('the raster method with the example chip classifier', () => {
  let store: ReturnType<typeof memoryStore>;
  let loader: CachingModelLoader;
  let method: MethodRuntime;
  let input: AnalyzeInput;
  let plan: RasterPlan;
  beforeAll(async () => {
    store = memoryStore();
    await store.upload('inbox', 'area/scene.tif', rgbTiff(), 'image/tiff');
    const s = await store.stat!('inbox', 'area/scene.tif');
    const object: ObjectRef = {
      bucket: 'inbox',
      name: 'area/scene.tif',
      generation: s!.generation,
      size: s!.size,
      timeCreated: s!.timeCreated,
      contentType: 'image/tiff',
      metadata: { 'lookout-chip-size': '64', 'lookout-classifier': HEAD },
    };
    input = {
      pipeline: resolvePipeline('raster', { gpuStages: [], gpuFallbackMs: 1500 }),
      object,
      trace: { source: 'backfill', publishedAt: new Date(0).toISOString(), dispatchedAt: new Date(0).toISOString() },
    } as AnalyzeInput;
    loader = new CachingModelLoader({ repo: REPO, pool: 'cpu', threads: 1 });
    method = await rasterChangeMethod.load({
      models: loader,
      store,
      sceneStore: () => {
        throw new Error('unused');
      },
      resultsBucket: 'results',
      maxObjectBytes: 2 ** 30,
      loadImage: () => {
        throw new Error('unused');
      },
      heartbeat: () => {},
    });
    plan = await method.planRaster!(input, { chipSize: 128, chipOverlap: 0, blockChips: 2 });
  }, 120_000);
  afterAll(async () => {
    await loader?.close();
  });

  it('planning: metadata lookout-classifier names the chip classifier (the example heads are byDefault false: not run unless named; none turns it off; an unknown name is bad input)', async () => {
    const m = loadLocalModel(REPO, HEAD).manifest;
    expect(m.classifier?.byDefault).toBe(false);
    expect(plan.classifier).toEqual({
      model: HEAD,
      version: m.version,
      input: 'embedding',
      channels: null,
      stretch: null,
      placement: m.classifier?.placement ?? null,
    });
    expect(method.loadedModels().some((l) => l.startsWith(`${HEAD} v${m.version}`))).toBe(true);
    const { 'lookout-classifier': _named, ...unnamed } = input.object.metadata!;
    const plain = await method.planRaster!(
      { ...input, object: { ...input.object, metadata: unnamed } },
      { chipSize: 128, chipOverlap: 0, blockChips: 2 },
    );
    expect(plain.classifier).toBeNull();
    const off = await method.planRaster!(
      { ...input, object: { ...input.object, metadata: { ...input.object.metadata, 'lookout-classifier': 'none' } } },
      { chipSize: 128, chipOverlap: 0, blockChips: 2 },
    );
    expect(off.classifier).toBeNull();
    await expect(
      method.planRaster!(
        { ...input, object: { ...input.object, metadata: { 'lookout-classifier': 'nope' } } },
        { chipSize: 128, chipOverlap: 0, blockChips: 2 },
      ),
    ).rejects.toMatchObject({ errorClass: 'UnknownClassifier' });
  }, 60_000);

  it('an engine variant of the backbone per raster (metadata lookout-backbone): planned, run and named in the rows; an unknown one is bad input', async () => {
    expect(plan.backbone).toEqual({ name: 'mobilenetv2', version: 1 });
    const meta = { ...input.object.metadata, 'lookout-backbone': 'mobilenetv2-int8' };
    const vin = { ...input, object: { ...input.object, metadata: meta } };
    const vplan = await method.planRaster!(vin, { chipSize: 128, chipOverlap: 0, blockChips: 2 });
    expect(vplan.backbone).toEqual({ name: 'mobilenetv2-int8', version: 1 });
    const got: Row[] = [];
    await method.analyzeRasterBlock!(
      { input: vin, plan: vplan, block: 0 },
      { workflowId: 'raster:v', taskQueue: 'raster-cpu', attempt: 1, pool: 'cpu' },
      async (row) => void got.push(row),
    );
    expect(got).toHaveLength(4);
    for (const row of got) {
      expect(row.extract?.report.model).toEqual({ name: 'mobilenetv2-int8', version: 1 });
      expect(row.raster!.backbone).toBe('mobilenetv2-int8');
      expect(row.raster!.classifier_score).not.toBeNull();
    }
    for (const bad of ['nanodet', 'no-such-model', '../x']) {
      await expect(
        method.planRaster!(
          { ...input, object: { ...input.object, metadata: { 'lookout-backbone': bad } } },
          { chipSize: 128, chipOverlap: 0, blockChips: 2 },
        ),
        bad,
      ).rejects.toMatchObject({ errorClass: 'UnknownBackbone' });
    }
  }, 120_000);

  it("one stage: every chip row carries the head's score and label; two stages: the rows wait for the head, which gives the same scores (float16 inputs) and reports its own queue and pool", async () => {
    expect(plan.chips).toBe(12);
    const one: Row[] = [];
    const r1 = await method.analyzeRasterBlock!(
      { input, plan, block: 0 },
      { workflowId: 'raster:w', taskQueue: 'raster-cpu', attempt: 1, pool: 'cpu' },
      async (row) => void one.push(row),
    );
    expect(r1.pendingHead).toBeUndefined();
    expect(one).toHaveLength(4);
    const head = await OnnxChipClassifier.load(loadLocalModel(REPO, HEAD), { pool: 'cpu', threads: 1 });
    const spec = head.spec;
    await head.close();
    for (const row of one) {
      const r = row.raster!;
      expect(r.classifier_model).toBe(HEAD);
      expect(r.classifier_score).toBeGreaterThanOrEqual(0);
      expect(r.classifier_score).toBeLessThanOrEqual(1);
      expect(r.classifier_label).toBe(spec.labels[r.classifier_score! >= spec.threshold ? 1 : 0]);
      expect(row.score?.report.model).toEqual({ name: HEAD, version: 1 });
      expect(row.score?.report.taskQueue).toBe('raster-cpu');
    }
    // Two stages: nothing emitted by the block; the head activity (another queue, pool gpu) emits the rows.
    const held: Row[] = [];
    const r2 = await method.analyzeRasterBlock!(
      { input, plan, block: 0, deferHead: true },
      { workflowId: 'raster:w', taskQueue: 'raster-cpu', attempt: 1, pool: 'cpu' },
      async (row) => void held.push(row),
    );
    expect(r2.pendingHead).toBe(true);
    expect(held).toHaveLength(0);
    const pending = store.objects.get(`results/${plan.prefix}/blocks/0.head.json`);
    expect(pending).toBeDefined();
    const two: Row[] = [];
    const r3 = await method.classifyRasterBlock!(
      { input, plan, block: 0 },
      { workflowId: 'raster:w', taskQueue: 'raster-gpu', attempt: 1, pool: 'gpu', fellBack: false },
      async (row) => void two.push(row),
    );
    expect(r3).toMatchObject({ ok: 4, failed: 0 });
    expect(two).toHaveLength(4);
    for (const row of two) {
      const same = one.find((o) => o.workflowId === row.workflowId)!;
      expect(Math.abs(row.raster!.classifier_score! - same.raster!.classifier_score!)).toBeLessThan(2e-3);
      expect(row.raster!.change_score).toBe(same.raster!.change_score);
      expect(row.extract?.report.taskQueue).toBe('raster-cpu');
      expect(row.extract?.report.pool).toBe('cpu');
      expect(row.score?.report).toMatchObject({
        taskQueue: 'raster-gpu',
        pool: 'gpu',
        model: { name: HEAD, version: 1 },
      });
      expect(row.score!.report.startedAt).toBeGreaterThanOrEqual(row.extract!.report.completedAt);
    }
    // The summary counts the chips at or above the threshold from the stored block records.
    for (let b = 1; b < plan.blocks; b++)
      await method.analyzeRasterBlock!(
        { input, plan, block: b },
        { workflowId: 'raster:w', taskQueue: 'raster-cpu', attempt: 1, pool: 'cpu' },
        async () => {},
      );
    const fin = await method.finishRaster!(input, plan);
    expect(fin.classifier).toMatchObject({ model: HEAD, label: spec.labels[1] });
    expect(fin.classifier!.maxScore).toBeGreaterThanOrEqual(
      Math.max(...two.map((r) => r.raster!.classifier_score!)) - 2e-3,
    );
    expect(fin.classifier!.positives).toBeGreaterThanOrEqual(0);
  }, 120_000);
});
