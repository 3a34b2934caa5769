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
import { DEFAULT_EPISODE_SETTINGS, type EpisodeSettings } from '../runtime/episodes';
import { episodeFigures, scoreDump, type ObsDump } from './cctv-attributes-eval';
import { recordRead, setId } from './split-reads';
import { machineInfo } from '../runtime/machine';

const USAGE = `Usage: node -r tsx/cjs bench/tune-cctv-attributes.ts OBS.v8 [CANDIDATES.json] [--json]

OBS.v8: written by bench/eval-cctv-attributes.ts --dump-obs (use --split validation or --split shift).
CANDIDATES.json: {"name": AttributeFitOptions & {"episodes"?: partial EpisodeSettings}, ...}; default: {"defaults": {}}.
Prints per candidate: overall and per-kind frame AUC, normal frames flagged at the threshold, and the alert
episodes (runtime/episodes.ts): anomaly episodes caught, median time to alert, false alerts per 10 minutes.`;

function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.length === 0) {
    console.log(USAGE);
    process.exit(argv.length === 0 ? 2 : 0);
  }
  const json = argv.includes('--json');
  const files = argv.filter((a) => !a.startsWith('--'));
  const dump = v8.deserialize(fs.readFileSync(files[0])) as ObsDump;
  if (dump.split === 'test')
    console.error('warning: tuning on the test split: its figures would no longer be held out (this read is counted)');
  if (dump.limit == null)
    recordRead(
      setId(dump.ranges.seed, [...new Set(dump.clips.map((c) => c.kind))]),
      dump.split,
      `node -r tsx/cjs bench/tune-cctv-attributes.ts ${argv.join(' ')}`,
    );
  const cands = files[1]
    ? (JSON.parse(fs.readFileSync(files[1], 'utf8')) as Record<
        string,
        AttributeFitOptions & { episodes?: Partial<EpisodeSettings> }
      >)
    : { defaults: {} };
  const m = machineInfo();
  if (!json)
    console.log(
      `# ${`node -r tsx/cjs bench/tune-cctv-attributes.ts ${argv.join(' ')}`} — ${dump.split} split (seed ${dump.ranges.seed}), ${new Date().toISOString()}, ${m.cpuModel}, ${m.cores} cores, Node ${m.nodeVersion}`,
    );
  const out: Record<string, unknown> = {};
  const fitted: Record<string, ReturnType<typeof scoreDump>> = {};
  for (const [name, cand] of Object.entries(cands)) {
    const t0 = performance.now();
    const { episodes, ...opts } = cand as AttributeFitOptions & { episodes?: Partial<EpisodeSettings> };
    // Fitting and scoring depend on the fit options only: candidates that differ in episode settings alone share them.
    const key = JSON.stringify(opts);
    const scored = (fitted[key] ??= scoreDump(dump, { seed: 7, createdAt: new Date(0), ...opts }));
    const res = {
      ...scored,
      episodes: episodeFigures(scored.episodeInputs, { ...DEFAULT_EPISODE_SETTINGS, ...episodes }),
    };
    out[name] = { ...res, episodeInputs: undefined };
    if (!json) {
      const kinds = Object.entries(res.auc)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ');
      const e = res.episodes.overall;
      console.log(
        `${name.padEnd(28)} flagged ${(100 * res.normalFlagged).toFixed(1).padStart(5)} %  ${kinds}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
      console.log(
        `${''.padEnd(28)} episodes: caught ${e.caught}/${e.anomalyEpisodes}, median time to alert ${e.medianTimeToAlertS.toFixed(1)} s, false alerts ${e.falseAlerts} in ${e.normalSeconds} s (${e.falseAlertsPer10Min.toFixed(1)} per 10 min), in clips ${res.episodes.clipFalseAlerts}; missed: ${
          res.episodes.episodes
            .filter((x) => !x.caught)
            .map((x) => `${x.scene}/${x.kind}`)
            .join(', ') || 'none'
        }`,
      );
    }
  }
  if (json) console.log(JSON.stringify(out, null, 2));
}

main();
