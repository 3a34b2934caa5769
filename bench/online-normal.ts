/**
 * `node -r tsx/cjs bench/online-normal.ts --obs OBS.v8 [--out DIR] [--loops N] [--chunk-s S] [--min-age-s S]`: does
 * learning normal as footage flows cut false alerts? From the observations a tuning run of
 * bench/eval-cctv-attributes.ts dumped (--dump-obs; default the shift split: fitted on frames 0-199, whose
 * frames 200-499 hold people and paths the fit never saw), per scene:
 *  - the footage the fit did not use (the unmodified evaluation frames, no anomaly in them) is played as one
 *    long clip, looped N times (people and paths come back, as they do at a real camera);
 *  - *static*: the first fit's model scores all of it;
 *  - *online*: the clip goes by in chunks; after each chunk the footage old enough joins the normal footage
 *    under methods/cctv-attributes/online.ts's policy (alert-free, or every alert over it dismissed; never a
 *    confirmed one) and the scene is refitted (fitAttributeModel, as a new version would be);
 *    run twice: the operator dismisses the false alerts, or judges none (alerted footage then never joins).
 * Alerts are runtime/episodes.ts's episodes with the default settings; every alert here is false (normal footage).
 * Writes online-normal.json and online-normal.md to --out (default docs/eval/cctv-attributes).
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { fitAttributeModel, frameScores, scoreObservations, type FrameObservations } from '../methods/cctv-attributes';
import { refitNormal, type NormalChunk, type PendingChunk } from '../methods/cctv-attributes/online';
import { DEFAULT_EPISODE_SETTINGS, EpisodeTracker, episodeOptionsAt } from '../runtime/episodes';
import { machineInfo } from '../runtime/machine';
import { benchArgs } from './args';
import type { ObsDump } from './cctv-attributes-eval';
import { falseAlertsPer10Min } from './metrics/episodes';
import { recordRead, setId } from './split-reads';

const ROOT = path.resolve(__dirname, '..');
const FPS = 10;
const USAGE = `Usage: node -r tsx/cjs bench/online-normal.ts --obs OBS.v8 [--out DIR] [--loops N] [--chunk-s S] [--min-age-s S] [--max-frames N]

OBS.v8: observations dumped by bench/eval-cctv-attributes.ts --dump-obs (a tuning split: --split shift).
Compares false alerts per 10 minutes of normal footage the fit did not use, looped, with the first fit's model
(static) and with the scene refitted as footage flows (online). Writes online-normal.json / .md to --out.`;

interface Variant {
  name: string;
  alerts: number;
  alertsLastLoop: number;
  refits: number;
  joinedFrames: number;
  normalFrames: number;
  dropped: number;
  notJoined: Record<string, number>;
}

function run(
  dump: ObsDump,
  scene: string,
  o: {
    loops: number;
    chunkFrames: number;
    minAgeS: number;
    maxFrames: number;
    mode: 'static' | 'dismiss' | 'unjudged';
  },
): Variant {
  const r = dump.ranges;
  const all = dump.clean[scene];
  const base = all.filter((f) => f.frame >= r.fit[0] && f.frame <= r.cal[1]);
  const once = all.filter((f) => f.frame >= r.test[0] && f.frame <= r.test[1]);
  const L = r.test[1] - r.test[0] + 1;
  const stream: FrameObservations[] = [];
  for (let k = 0; k < o.loops; k++)
    for (const f of once) stream.push({ ...f, frame: f.frame + k * L, timeS: f.timeS + (k * L) / FPS });
  const size = dump.frameSize[scene];
  const fit = (frames: FrameObservations[]) =>
    fitAttributeModel(frames, size, { seed: 7, createdAt: new Date(0) }).model;
  let model = fit(base);
  const tracker = new EpisodeTracker(episodeOptionsAt(FPS, DEFAULT_EPISODE_SETTINGS));
  let smoother;
  const opened: number[] = [];
  // The production refit step (methods/cctv-attributes/online.ts refitNormal, as method.ts's refitScene runs it):
  // the normal set starts as the first fit's footage; chunks wait in `pending` until they join or are refused.
  let normal: NormalChunk[] = [{ id: 'fit', endS: 0, frames: base }];
  let pending: PendingChunk[] = [];
  const notJoined: Record<string, number> = {};
  let refits = 0;
  let joinedFrames = 0;
  let dropped = 0;
  let whyWaiting = new Map<string, string>();
  for (let i = 0; i < stream.length; i += o.chunkFrames) {
    const chunk = stream.slice(i, i + o.chunkFrames);
    const fr = frameScores(model, scoreObservations(model, chunk), smoother);
    smoother = fr.state;
    let alerted = false;
    for (const f of fr.frames) {
      const step = tracker.push({
        frame: f.frame,
        timeS: f.timeS,
        level: f.smoothed / model.threshold,
        peak: f.raw / model.threshold,
      });
      if (step.opened) opened.push(step.opened.openedAt);
      alerted ||= step.active;
    }
    if (o.mode === 'static') continue;
    const endS = chunk[chunk.length - 1].timeS;
    // Every alert here is false (normal footage): the operator dismisses it, or nobody judges it.
    pending.push({
      id: String(i),
      endS,
      alerts: alerted ? [{ verdict: o.mode === 'dismiss' ? 'dismissed' : null }] : [],
      frames: chunk,
    });
    const out = refitNormal(normal, pending, endS, o, size, {
      seed: 7,
      thresholdQuantile: model.options.thresholdQuantile,
    });
    // What waits stays; what joined or was refused is let go of (as refitScene deletes its stored chunks).
    const waiting = new Map(out.waiting.map((w) => [w.id, w.why]));
    for (const c of pending)
      if (out.refused.includes(c.id))
        notJoined['confirmed-alert'] = (notJoined['confirmed-alert'] ?? 0) + c.frames.length;
    pending = pending.filter((c) => waiting.has(c.id));
    whyWaiting = waiting;
    if (out.normal && out.fitted) {
      normal = out.normal;
      model = out.fitted.model;
      refits++;
      joinedFrames += out.joinedFrames;
      dropped = out.dropped.length;
    }
  }
  // Still waiting at the end of the clip, by why (an unjudged alert waits for good here).
  for (const c of pending) {
    const k = `waiting: ${whyWaiting.get(c.id)}`;
    notJoined[k] = (notJoined[k] ?? 0) + c.frames.length;
  }
  const lastLoopFrom = (o.loops - 1) * L + r.test[0];
  return {
    name: o.mode,
    alerts: opened.length,
    alertsLastLoop: opened.filter((f) => f >= lastLoopFrom).length,
    refits,
    joinedFrames,
    normalFrames: normal.reduce((s, c) => s + c.frames.length, 0),
    dropped,
    notJoined,
  };
}

async function main(): Promise<number> {
  const args = benchArgs(
    {
      obs: { type: 'string' },
      out: { type: 'string', default: path.join(ROOT, 'docs', 'eval', 'cctv-attributes') },
      loops: { type: 'string', default: '2' },
      'chunk-s': { type: 'string', default: '10' },
      'min-age-s': { type: 'string', default: '10' },
      'max-frames': { type: 'string', default: '3000' },
    },
    USAGE,
  );
  const file = args.obs;
  if (!file) {
    console.error(USAGE);
    return 2;
  }
  const dump = v8.deserialize(fs.readFileSync(file)) as ObsDump;
  if (dump.split === 'test') {
    console.error('online-normal: refusing the test split (choices about online learning are made on tuning splits)');
    return 2;
  }
  const command = `node -r tsx/cjs bench/online-normal.ts ${process.argv.slice(2).join(' ')}`;
  if (dump.limit == null)
    recordRead(setId(dump.ranges.seed, [...new Set(dump.clips.map((c) => c.kind))]), dump.split, command);
  const o = {
    loops: Number(args.loops),
    chunkFrames: Math.round(Number(args['chunk-s']) * FPS),
    minAgeS: Number(args['min-age-s']),
    maxFrames: Number(args['max-frames']),
  };
  const t0 = performance.now();
  const scenes: Record<string, Variant[]> = {};
  for (const scene of Object.keys(dump.clean)) {
    scenes[scene] = (['static', 'dismiss', 'unjudged'] as const).map((mode) => run(dump, scene, { ...o, mode }));
    process.stderr.write(
      `${scene}: ${scenes[scene].map((v) => `${v.name} ${v.alerts} alerts (${v.refits} refits)`).join(', ')}\n`,
    );
  }
  const L = dump.ranges.test[1] - dump.ranges.test[0] + 1;
  const seconds = (Object.keys(dump.clean).length * o.loops * L) / FPS;
  const lastSeconds = (Object.keys(dump.clean).length * L) / FPS;
  const total = (name: string, k: 'alerts' | 'alertsLastLoop') =>
    Object.values(scenes).reduce((s, vs) => s + vs.find((v) => v.name === name)![k], 0);
  const m = machineInfo();
  const res = {
    command,
    createdAt: new Date().toISOString(),
    machine: `${m.cpuModel}, ${m.cores} cores, ${Math.round(m.memoryTotalMb / 1024)} GiB RAM, Node ${m.nodeVersion}`,
    split: dump.split,
    ranges: dump.ranges,
    options: o,
    episodes: DEFAULT_EPISODE_SETTINGS,
    normalSeconds: seconds,
    lastLoopSeconds: lastSeconds,
    perScene: scenes,
    falseAlertsPer10Min: Object.fromEntries(
      ['static', 'dismiss', 'unjudged'].map((n) => [
        n,
        {
          all: falseAlertsPer10Min(total(n, 'alerts'), seconds),
          lastLoop: falseAlertsPer10Min(total(n, 'alertsLastLoop'), lastSeconds),
        },
      ]),
    ),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  fs.mkdirSync(args.out, { recursive: true });
  fs.writeFileSync(path.join(args.out, 'online-normal.json'), JSON.stringify(res, null, 2) + '\n');
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const md = [
    `### Learning normal as footage flows: false alerts before and after (${dump.split} split)`,
    ``,
    `Command: \`${command}\`. Machine: ${res.machine}. Written ${res.createdAt.slice(0, 10)}, ${res.seconds} s.`,
    ``,
    `Each scene was fitted on frames ${dump.ranges.fit[0]}–${dump.ranges.cal[1]} of vtest.avi; frames ${dump.ranges.test[0]}–${dump.ranges.test[1]}, which the fit did not use and which hold people and paths it never saw, are played ${o.loops} times in a row (${seconds} s of normal footage over both scenes). *Static*: the first fit scores all of it. *Online*: after every ${o.chunkFrames / FPS} s chunk, footage at least ${o.minAgeS} s old joins the normal footage under methods/cctv-attributes/online.ts (alert-free, or every alert over it dismissed; a confirmed alert never; at most ${o.maxFrames} joined frames) and the scene is refitted — *dismiss*: the operator dismisses every alert (they are all false here); *unjudged*: nobody judges them, so alerted footage never joins. Alerts: runtime/episodes.ts with the default settings. The minimum age is scaled to this short clip (a deployment would use hours).`,
    ``,
    `| model | false alerts per 10 min, all ${o.loops} loops | in the last loop | alerts per scene | refits | frames joined | normal set at the end (frames) |`,
    `|---|---|---|---|---|---|---|`,
    ...['static', 'dismiss', 'unjudged'].map(
      (n) =>
        `| ${n} | **${f(res.falseAlertsPer10Min[n].all)}** | ${f(res.falseAlertsPer10Min[n].lastLoop)} | ${Object.entries(
          scenes,
        )
          .map(([s, vs]) => `${s} ${vs.find((v) => v.name === n)!.alerts}`)
          .join(
            ', ',
          )} | ${Object.values(scenes).reduce((s, vs) => s + vs.find((v) => v.name === n)!.refits, 0)} | ${Object.values(scenes).reduce((s, vs) => s + vs.find((v) => v.name === n)!.joinedFrames, 0)} | ${Object.entries(
          scenes,
        )
          .map(([s, vs]) => `${s} ${vs.find((v) => v.name === n)!.normalFrames}`)
          .join(', ')} |`,
    ),
    ``,
    `Each refit is the production step, methods/cctv-attributes/online.ts refitNormal — what \`lookout refit\` runs (method.ts refitScene) on the chunks a worker stored, with the verdicts from the review UI: drift guard, coreset of the normal set (the first fit plus at most ${o.maxFrames} joined frames; ${Object.values(scenes).reduce((s, vs) => s + vs.find((v) => v.name === 'dismiss')!.dropped, 0)} joined chunk(s) left out by the bound at the end of the dismiss run), fit. Only the storage and the clock differ: here the chunk's footage time, there the time it was analysed.`,
    ``,
  ].join('\n');
  fs.writeFileSync(path.join(args.out, 'online-normal.md'), md);
  console.log(md);
  return 0;
}

main().then(
  (c) => process.exit(c),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
