/**
 * `node -r tsx/cjs bench/tune-cctv-attributes.ts OBS.v8 [CANDIDATES.json]`: compares fit options of the
 * cctv-attributes method offline on the observations that `bench/eval-cctv-attributes.ts --dump-obs`
 * wrote (detections, tracks and appearance vectors are computed once there; fitting and scoring here take
 * about a minute per candidate with the appearance bank). Meant for the tuning splits inside frames 0-499
 * (--split validation and --split shift): settings are chosen here, and the test split is then run once with
 * the chosen defaults. Figures follow the evaluation's recipe (smoothed frame score
 * over the scene's threshold, scenes pooled, normal frames = unmodified evaluation range).
 */
import fs from 'node:fs';
import v8 from 'node:v8';
import type { AttributeFitOptions } from '../methods/cctv-attributes';
import { scoreDump, type ObsDump } from './cctv-attributes-eval';

const USAGE = `Usage: node -r tsx/cjs bench/tune-cctv-attributes.ts OBS.v8 [CANDIDATES.json] [--json]

OBS.v8: written by bench/eval-cctv-attributes.ts --dump-obs (use --split validation or --split shift).
CANDIDATES.json: {"name": AttributeFitOptions, ...}; default: {"defaults": {}}.
Prints per candidate: overall and per-kind frame AUC, normal frames flagged at the threshold.`;

function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.length === 0) {
    console.log(USAGE);
    process.exit(argv.length === 0 ? 2 : 0);
  }
  const json = argv.includes('--json');
  const files = argv.filter((a) => !a.startsWith('--'));
  const dump = v8.deserialize(fs.readFileSync(files[0])) as ObsDump;
  const cands = files[1] ? (JSON.parse(fs.readFileSync(files[1], 'utf8')) as Record<string, AttributeFitOptions>) : { defaults: {} };
  const out: Record<string, unknown> = {};
  for (const [name, opts] of Object.entries(cands)) {
    const t0 = performance.now();
    const res = scoreDump(dump, { seed: 7, createdAt: new Date(0), ...opts });
    out[name] = res;
    if (!json) {
      const kinds = Object.entries(res.auc).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ');
      console.log(`${name.padEnd(28)} flagged ${(100 * res.normalFlagged).toFixed(1).padStart(5)} %  ${kinds}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  if (json) console.log(JSON.stringify(out, null, 2));
}

main();
