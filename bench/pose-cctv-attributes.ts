/**
 * `node -r tsx/cjs bench/pose-cctv-attributes.ts OBS.v8...`: the pose attribute of cctv-attributes, on vs off, on
 * the tuning splits of the constructed CCTV set (never the test split: a test dump is refused). Each OBS.v8 is
 * written by `bench/eval-cctv-attributes.ts --split validation|shift --pose --dump-obs OBS.v8`, so both settings
 * score the very same detections, tracks, appearance vectors and poses: "off" fits and scores without the pose and
 * limbs parts (what production does without LOOKOUT_CCTV_POSE), "on" with them. Writes
 * docs/eval/cctv-attributes/pose.json and pose.md (or --out DIR) with the machine, frame AUC overall and per kind,
 * normal frames flagged, alert episodes, and the pose step's CPU time per frame measured in the dump's clean passes.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { PARTS, type AttributeFitOptions, type Part } from '../methods/cctv-attributes';
import { scoreDump, type ObsDump } from './cctv-attributes-eval';
import { recordRead, setId } from './split-reads';
import { machineInfo } from '../runtime/machine';
import { onnxruntimeVersion } from '../runtime/session';

const USAGE = `Usage: node -r tsx/cjs bench/pose-cctv-attributes.ts OBS.v8... [--out DIR] [--json]

OBS.v8: bench/eval-cctv-attributes.ts --split validation|shift --pose --dump-obs OBS.v8 (test dumps are refused).
Writes pose.json and pose.md into --out (default docs/eval/cctv-attributes).`;

const OFF: Part[] = PARTS.filter((p) => p !== 'pose' && p !== 'limbs');
const CANDIDATES: Record<string, AttributeFitOptions> = { off: { parts: OFF }, on: {} };

function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(USAGE);
    return;
  }
  const oi = argv.indexOf('--out');
  const out = oi >= 0 ? path.resolve(argv[oi + 1]) : path.resolve(__dirname, '..', 'docs', 'eval', 'cctv-attributes');
  const files = argv.filter((a, i) => !a.startsWith('--') && i !== oi + 1);
  if (files.length === 0 || (oi >= 0 && !argv[oi + 1])) {
    console.error(USAGE);
    process.exit(2);
  }
  const command = `node -r tsx/cjs bench/pose-cctv-attributes.ts ${argv.join(' ')}`;
  const m = machineInfo();
  const splits: Record<string, unknown> = {};
  const lines: string[] = [];
  for (const f of files) {
    const dump = v8.deserialize(fs.readFileSync(f)) as ObsDump;
    if (dump.split === 'test') {
      console.error(`${f}: a test-split dump; the pose attribute is measured on the tuning splits only`);
      process.exit(2);
    }
    if (!dump.pose) {
      console.error(`${f}: no pose step in this dump (run bench/eval-cctv-attributes.ts with --pose)`);
      process.exit(2);
    }
    const smoke = dump.limit != null;
    if (!smoke) recordRead(setId(dump.ranges.seed, [...new Set(dump.clips.map((c) => c.kind))]), dump.split, command);
    const res: Record<string, ReturnType<typeof scoreDump> & { fitAndScoreS: number }> = {};
    for (const [name, opts] of Object.entries(CANDIDATES)) {
      const t0 = performance.now();
      const r = scoreDump(dump, { seed: 7, createdAt: new Date(0), ...opts });
      res[name] = { ...r, fitAndScoreS: (performance.now() - t0) / 1000 };
      process.stderr.write(`${dump.split} ${name}: overall AUC ${r.auc.overall?.toFixed(3)}\n`);
    }
    const people = Object.values(dump.clean)
      .flat()
      .flatMap((fr) => fr.objects)
      .filter((o) => o.label === 'person');
    const withPose = people.filter((o) => o.pose).length;
    splits[dump.split] = {
      dump: path.relative(process.cwd(), f),
      smoke,
      ranges: dump.ranges,
      poseStep: {
        ...dump.pose,
        msPerFrame: dump.pose.cleanPoseMs / dump.pose.cleanFrames,
        peopleWithPose: withPose,
        people: people.length,
      },
      candidates: Object.fromEntries(Object.entries(res).map(([k, v]) => [k, { ...v, episodeInputs: undefined }])),
    };
    const kinds = Object.keys(res.off.auc);
    lines.push(
      `## ${dump.split} split (seed ${dump.ranges.seed}; fit ${dump.ranges.fit.join('-')}, calibration ${dump.ranges.cal.join('-')}, evaluated ${dump.ranges.test.join('-')})${smoke ? ' — SMOKE RUN, not comparable' : ''}`,
      '',
      `| figure | pose off | pose on |`,
      `|---|---|---|`,
      ...kinds.map((k) => `| frame AUC, ${k} | ${res.off.auc[k].toFixed(3)} | ${res.on.auc[k].toFixed(3)} |`),
      `| normal frames flagged | ${(100 * res.off.normalFlagged).toFixed(1)} % | ${(100 * res.on.normalFlagged).toFixed(1)} % |`,
      ...[
        `| anomaly episodes caught | ${res.off.episodes.overall.caught}/${res.off.episodes.overall.anomalyEpisodes} | ${res.on.episodes.overall.caught}/${res.on.episodes.overall.anomalyEpisodes} |`,
        `| median time to alert | ${res.off.episodes.overall.medianTimeToAlertS.toFixed(1)} s | ${res.on.episodes.overall.medianTimeToAlertS.toFixed(1)} s |`,
        `| false alerts per 10 min of normal footage | ${res.off.episodes.overall.falseAlertsPer10Min.toFixed(1)} | ${res.on.episodes.overall.falseAlertsPer10Min.toFixed(1)} |`,
      ],
      '',
      `Pose step in the clean passes (production cadence: people measured every 5 frames at 10 fps and when a track is new, ` +
        `boxes ≥ 40 px): ${dump.pose.cleanCrops} crops over ${dump.pose.cleanFrames} scene frames = ` +
        `**${(dump.pose.cleanPoseMs / dump.pose.cleanFrames).toFixed(1)} ms CPU per frame** (${dump.pose.msPerCrop.toFixed(1)} ms per crop, 1 onnxruntime thread); ` +
        `${withPose} of ${people.length} person observations carry a pose.`,
      '',
    );
  }
  const result = {
    command,
    createdAt: new Date().toISOString(),
    machine: `${m.cpuModel}, ${m.cores} cores, ${Math.round(m.memoryTotalMb / 1024)} GiB, Node ${m.nodeVersion}, onnxruntime-node ${onnxruntimeVersion()}`,
    note: 'Measured on the shared 2-core VM while other jobs ran (timings are upper bounds); fit and scoring run from the dumps, so both settings score the same observations.',
    candidates: { off: `parts ${OFF.join(', ')} (production default)`, on: 'all parts, pose and limbs included' },
    splits,
  };
  const md = [
    '# cctv-attributes: the pose attribute, on vs off',
    '',
    `Generated by \`${command}\` on ${result.createdAt.slice(0, 10)}. Machine: ${result.machine}. ${result.note}`,
    '',
    'Tuning splits only (validation, shift); the test split was not read. Each dump comes from',
    '`node -r tsx/cjs bench/eval-cctv-attributes.ts --split <split> --pose --no-baseline --dump-obs <file>`.',
    '"off" is the method as production runs it by default; "on" adds the pose and limbs parts (LOOKOUT_CCTV_POSE=1).',
    '',
    ...lines,
  ].join('\n');
  if (argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else console.log(md);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'pose.json'), JSON.stringify(result, null, 2) + '\n');
  fs.writeFileSync(path.join(out, 'pose.md'), md + '\n');
}

main();
