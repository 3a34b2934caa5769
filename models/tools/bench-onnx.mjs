// CPU timing of models in the repository with onnxruntime-node (the worker's runtime), e.g.
//   node models/tools/bench-onnx.mjs mobilenetv2 mobilenetv2-fp16 mobilenetv2-int8
//   node models/tools/bench-onnx.mjs s2cloudless --batch 65536 --runs 10
// Options: --threads 1,2  --batch 1,8 (items per run: images, or pixels for s2cloudless)  --runs N (timed runs after
// 3 warm-up runs)  --spin (allow intra-op thread spinning; default off, as runtime/session.ts creates sessions).
// Input: seeded uniform random values shaped by the manifest (dynamic dims = batch). Prints p50 / min ms per run
// and p50 ms per item, and a JSON line per model.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(REPO, 'package.json'));
const ort = require('onnxruntime-node');

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(name);
  if (i < 0) return def;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const flag = (name) => {
  const i = argv.indexOf(name);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
};
if (flag('--help') || flag('-h')) {
  console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}
const threadsList = opt('--threads', '1,2').split(',').map(Number);
const batches = opt('--batch', '1,8').split(',').map(Number);
const RUNS = Number(opt('--runs', '20'));
const SPIN = flag('--spin');
const names = argv;
if (names.length === 0) {
  console.error('usage: node models/tools/bench-onnx.mjs MODEL... [--threads 1,2] [--batch 1,8] [--runs N] [--spin]');
  process.exit(2);
}

function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ortVersion = require(path.join(REPO, 'node_modules/onnxruntime-node/package.json')).version;
console.log(`onnxruntime-node ${ortVersion}, ${os.cpus().length} CPUs (${os.cpus()[0].model}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, spinning ${SPIN ? 'on' : 'off'}, ${RUNS} runs after 3 warm-up`);
for (const name of names) {
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'models', name, 'manifest.json'), 'utf8'));
  const file = path.join(REPO, 'models', name, String(manifest.version), manifest.file);
  const spec = manifest.inputs[0];
  const result = { model: name, runs: RUNS, spinning: SPIN, timings: [] };
  for (const threads of threadsList) {
    const session = await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      extra: SPIN ? {} : { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    for (const batch of batches) {
      const dims = spec.dims.map((d) => (d < 0 ? batch : d));
      const n = dims.reduce((a, b) => a * b, 1);
      const rnd = mulberry32(42);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = rnd();
      const feed = { [spec.name]: new ort.Tensor('float32', data, dims) };
      for (let i = 0; i < 3; i++) await session.run(feed);
      const t = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        await session.run(feed);
        t.push(performance.now() - t0);
      }
      t.sort((a, b) => a - b);
      const p50 = t[Math.floor(t.length / 2)];
      result.timings.push({ threads, batch, p50Ms: +p50.toFixed(2), minMs: +t[0].toFixed(2), p50MsPerItem: +(p50 / batch).toFixed(4) });
      console.log(`${name}  threads=${threads} batch=${batch}: p50 ${p50.toFixed(2)} ms/run (min ${t[0].toFixed(2)}), ${(p50 / batch).toFixed(3)} ms/item`);
    }
    await session.release();
  }
  console.log(`JSON ${JSON.stringify(result)}`);
}
