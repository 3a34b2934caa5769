import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { defaultModelRepo, loadLocalModel } from '../../runtime/manifest';

// Models converted offline from registry packages (models/tools/convert-*.sh): each manifest passes
// validateManifest (via loadLocalModel) and its ONNX runs once in onnxruntime-node on a tiny input.
const REPO = defaultModelRepo(path.resolve(__dirname, '../..'));

function seeded(n: number, seed: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

interface Case {
  name: string;
  task: string;
  batch: number;
  /** value range of the seeded input */
  range: [number, number];
  outputs: Record<string, number[]>;
  check?: (out: Record<string, Float32Array>) => void;
}

const cases: Case[] = [
  ...['mobilenetv2', 'mobilenetv2-fp16', 'mobilenetv2-int8'].map((name): Case => ({
    name,
    task: 'embedding',
    batch: 2,
    range: [-2, 2],
    outputs: { features: [2, 1280] },
    // pooled ReLU6 activations
    check: (out) => expect(out.features.every((v) => v >= 0 && v <= 6)).toBe(true),
  })),
  {
    name: 's2cloudless',
    task: 'pixel-classification',
    batch: 4,
    // 4 pixels x 10 bands of TOA reflectance
    range: [0, 0.8],
    outputs: { cloud_probability: [4] },
    check: (out) => expect(out.cloud_probability.every((v) => v >= 0 && v <= 1)).toBe(true),
  },
];

describe('converted models', () => {
  for (const c of cases) {
    it(`${c.name}: manifest validates and the ONNX runs (batch ${c.batch})`, async () => {
      const model = loadLocalModel(REPO, c.name);
      const m = model.manifest;
      expect(m.task).toBe(c.task);
      expect(m.inputs).toHaveLength(1);
      expect(m.outputs.map((o) => o.name).sort()).toEqual(Object.keys(c.outputs).sort());
      const session = await ort.InferenceSession.create(model.modelPath, {
        executionProviders: ['cpu'],
        intraOpNumThreads: 1,
      });
      try {
        expect(session.inputNames).toEqual([m.inputs[0].name]);
        const dims = m.inputs[0].dims.map((d) => (d < 0 ? c.batch : d));
        const n = dims.reduce((a, b) => a * b, 1);
        const res = await session.run({
          [m.inputs[0].name]: new ort.Tensor('float32', seeded(n, 7, c.range[0], c.range[1]), dims),
        });
        const out: Record<string, Float32Array> = {};
        for (const spec of m.outputs) {
          const t = res[spec.name] as ort.Tensor;
          expect(t.type).toBe(spec.dtype);
          expect(t.dims).toEqual(c.outputs[spec.name]);
          // the manifest's dims agree with the run (dynamic dims = batch)
          expect(spec.dims.map((d) => (d < 0 ? c.batch : d))).toEqual(c.outputs[spec.name]);
          const data = t.data as Float32Array;
          expect(data.every((v) => Number.isFinite(v))).toBe(true);
          out[spec.name] = data;
        }
        c.check?.(out);
      } finally {
        await session.release();
      }
    });
  }
});
