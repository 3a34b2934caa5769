/**
 * `node -r tsx/cjs bench/probe-aspect.ts [--json]`: does a fixed 4:3 model input hurt a 16:9 camera? Cuts two
 * 768x432 (16:9) views out of the hand-labelled vtest.avi frames (rows 100-531 and 144-575; bench/eval-cctv-
 * groundtruth.json, people whose box centre lies in the view, boxes clipped to it) and detects people with the
 * manifest's `cctv` profile as it was chosen (512x384 whatever the frame: the view squeezed to 4:3), with its
 * `keepAspect` budget (the view fed at 576x320), and at 512x288 (its aspect at fewer pixels). Matching as in
 * bench/eval-detector.ts (IoU >= 0.3, greedy by score). All 20 frames count: the profile's scores were chosen on
 * 12 of them (full 4:3 frames), so this compares input shapes, not a held-out recall.
 */
import path from 'node:path';
import type { Box } from '../core/types';
import { readFrames } from '../media/video';
import { detectionProfile, OnnxDetector, type DetectorOptions } from '../runtime/detector';
import { defaultModelRepo, loadLocalModel } from '../runtime/manifest';
import { loadGroundTruth, match } from './eval-detector';

const ROOT = path.resolve(__dirname, '..');
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const W = 768;
const VIEW_H = 432;
const VIEWS = [100, 144];
const SCORES = [0.4, 0.5, 0.55];
type Rect = [number, number, number, number];

async function main() {
  const json = process.argv.includes('--json');
  if (process.argv.includes('--help')) {
    console.log(
      'Usage: node -r tsx/cjs bench/probe-aspect.ts [--json]\n\nPerson recall/precision on 16:9 views of the hand-labelled vtest frames: fixed 4:3 input vs keepAspect.',
    );
    return;
  }
  const gt = loadGroundTruth();
  const idx = Object.keys(gt)
    .map(Number)
    .sort((a, b) => a - b);
  const full = new Map<number, Buffer>();
  for await (const f of readFrames(VTEST, idx, { width: W, height: 576 })) full.set(f.index, f.rgb);
  const model = loadLocalModel(defaultModelRepo(ROOT), 'nanodet');
  const profile = detectionProfile(model.manifest, 'cctv');
  const person = { ...profile.classScoreThresholds, person: Math.min(...SCORES) };
  const options: Array<[string, DetectorOptions]> = [
    [
      'cctv profile, fixed 512x384 (squeezed to 4:3)',
      { ...profile, classScoreThresholds: person, inputSize: { width: 512, height: 384 } },
    ],
    [
      'cctv profile, keepAspect (576x320 for 16:9)',
      { ...profile, classScoreThresholds: person, inputSize: { width: 512, height: 384, keepAspect: true } },
    ],
    [
      'cctv profile, 512x288 (16:9, fewer pixels)',
      { ...profile, classScoreThresholds: person, inputSize: { width: 512, height: 288 } },
    ],
  ];
  const rows: Array<{ option: string; view: number; score: number; found: number; people: number; boxes: number }> = [];
  for (const [name, opts] of options) {
    const det = await OnnxDetector.load(model, {
      pool: 'cpu',
      threads: 1,
      batch: { maxBatchSize: 1, maxQueueDelayMs: 0 },
      detection: opts,
    });
    for (const y0 of VIEWS) {
      const boxesOf = new Map<number, Box[]>();
      for (const t of idx) {
        const data = Buffer.from(full.get(t)!.subarray(y0 * W * 3, (y0 + VIEW_H) * W * 3));
        boxesOf.set(
          t,
          (await det.detect({ data, width: W, height: VIEW_H, format: 'raw' })).boxes.filter(
            (b) => b.label === 'person',
          ),
        );
      }
      const inView = (r: Rect) => r[1] + r[3] / 2 >= y0 && r[1] + r[3] / 2 < y0 + VIEW_H;
      const clip = (r: Rect): Rect => [
        r[0],
        Math.max(r[1], y0) - y0,
        r[2],
        Math.min(r[1] + r[3], y0 + VIEW_H) - Math.max(r[1], y0),
      ];
      for (const score of SCORES) {
        let found = 0;
        let people = 0;
        let boxes = 0;
        for (const t of idx) {
          const g = gt[String(t)];
          const m = match(
            boxesOf.get(t)!.filter((b) => b.score >= score),
            g.people.filter(inView).map(clip),
            (g.ignore ?? []).filter(inView).map(clip),
          );
          found += m.counts.tp;
          people += m.counts.truth;
          boxes += m.counts.boxes;
        }
        rows.push({ option: name, view: y0, score, found, people, boxes });
      }
    }
    await det.close();
  }
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  console.log(`| option | view (rows) | ${SCORES.map((s) => `person R / P at ${s}`).join(' | ')} |`);
  console.log(`|---|---|${SCORES.map(() => '---').join('|')}|`);
  for (const [name] of options) {
    for (const y0 of VIEWS) {
      const cells = SCORES.map((s) => {
        const r = rows.find((x) => x.option === name && x.view === y0 && x.score === s)!;
        return `${(r.found / r.people).toFixed(3)} / ${(r.found / Math.max(1, r.boxes)).toFixed(3)} (${r.found}/${r.people})`;
      });
      console.log(`| ${name} | ${y0}-${y0 + VIEW_H - 1} | ${cells.join(' | ')} |`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
