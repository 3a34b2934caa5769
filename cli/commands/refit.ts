/** `lookout refit` */
import type { RefitScenesResult } from '../../core/workflows';
import type { Command } from '../command';

export const refitCommand: Command = {
  spec: {
    name: 'refit',
    summary:
      "learn a CCTV scene's normal from the footage analysed since its last version (a new version; drift-guarded)",
    usage:
      'refit (SCENE... | --all) [--min-age-s S] [--max-frames N] [--schedule EVERY | --unschedule] [--json]\n       refit SCENE --rollback VERSION | --versions [--json]',
    positionals: { min: 0, max: 1000, name: 'SCENE...' },
    description: `Footage a cctv-attributes worker analysed for a scene is kept as observations, one chunk per segment. A refit joins to
the scene's normal set the chunks that raised no alert, or whose every alert an operator dismissed in \`lookout ui\`,
once they are --min-age-s old (a confirmed alert never joins; an alert not judged yet, or an episode still open,
waits); the normal set keeps the first fit's footage and a bounded sample (--max-frames) of joined footage, the scene
is fitted on it as \`lookout fit\` fits and stored as a new version (LATEST moves; analyses name it in scene_version).
No footage may join: no new version. Runs as the Temporal workflow refitScenes on the workers; --schedule 6h makes a
Temporal schedule that runs it every 6 hours (--unschedule removes it). One refit of a scene at a time: a scene
whose refit is running already (another \`lookout refit\`, a schedule's run) is skipped and said so; that refit
does the work. Exit 1 when a scene's refit failed or every scene asked for was skipped. --rollback points LATEST
back at a stored version (every version stays); --versions lists them. \`lookout fit\` remains the first fit.
docs/cctv-alerts.md.`,
    options: {
      all: { type: 'boolean', help: 'every scene with a model of the pipeline' },
      pipeline: { type: 'string', default: 'cctv-anomaly', help: 'pipeline whose scene models learn (cctv-anomaly)' },
      'min-age-s': {
        type: 'number',
        help: 'footage joins only once this old, in seconds (default LOOKOUT_REFIT_MIN_AGE_S)',
      },
      'max-frames': {
        type: 'number',
        help: 'joined frames the normal set keeps at most (default LOOKOUT_REFIT_MAX_FRAMES)',
      },
      seed: { type: 'number', default: 7, help: 'random seed of the fit' },
      schedule: {
        type: 'string',
        arg: 'EVERY',
        help: 'create a Temporal schedule running this refit every EVERY (e.g. 6h, 1d)',
      },
      unschedule: { type: 'boolean', help: 'delete the schedule of this refit (same scenes or --all)' },
      rollback: { type: 'number', arg: 'VERSION', help: 'point the scene back at a stored version' },
      versions: { type: 'boolean', help: "list the scene's stored versions and which one analyses use" },
      json: { type: 'boolean', help: 'print the result as JSON' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    // A usage error found here (not by the parser) is exit 2 too.
    const usage = (msg: string) => {
      console.error(`lookout refit: ${msg} (lookout refit --help)`);
      return 2;
    };
    const scenes = positionals;
    const out = (x: unknown, text: string) => console.log(opts.json ? JSON.stringify(x, null, 2) : text);
    if (opts.rollback !== undefined || opts.versions) {
      if (scenes.length !== 1 || opts.all) return usage('--rollback and --versions take one SCENE');
      const { methodOfPipeline } = require('../../methods/registry') as typeof import('../../methods/registry');
      const { SceneStore, checkScene } = require('../../io/scenes') as typeof import('../../io/scenes');
      const { storageClient } = require('../../io/clients') as typeof import('../../io/clients');
      const format = methodOfPipeline(String(opts.pipeline)).fit?.sceneFormat;
      if (!format) throw new Error(`pipeline ${opts.pipeline} has no versioned scene models`);
      const scene = checkScene(scenes[0]);
      const store = new SceneStore(storageClient(cfg), cfg.gcs.resultsBucket, format);
      if (opts.rollback !== undefined) await store.setLatest(scene, Number(opts.rollback));
      const versions = await store.versions(scene);
      const latest = (await store.latestVersion(scene)) ?? null;
      out(
        { scene, latest, versions },
        opts.rollback !== undefined
          ? `scene ${scene}: LATEST is v${latest} now (stored: ${versions.join(', ')})`
          : `scene ${scene}: versions ${versions.join(', ') || 'none'}; analyses use v${latest ?? '-'}`,
      );
      return versions.length ? 0 : 1;
    }
    if (!opts.all && scenes.length === 0) return usage('name one SCENE or more, or --all');
    if (opts.all && scenes.length) return usage('--all takes no SCENE');
    const { refitInput, runRefit } = require('../scene') as typeof import('../scene');
    const o = {
      pipeline: String(opts.pipeline),
      minAgeS: opts['min-age-s'] === undefined ? cfg.refit.minAgeS : Number(opts['min-age-s']),
      maxFrames: opts['max-frames'] === undefined ? cfg.refit.maxFrames : Number(opts['max-frames']),
      seed: Number(opts.seed),
    };
    if (!(o.minAgeS >= 0) || !(Number.isInteger(o.maxFrames) && o.maxFrames >= 1))
      return usage('--min-age-s must be ≥ 0 and --max-frames a positive integer');
    if (opts.schedule !== undefined || opts.unschedule) {
      const { temporalClient } = require('../../io/clients') as typeof import('../../io/clients');
      const { WorkflowStarter } = require('../../io/starter') as typeof import('../../io/starter');
      const input = refitInput(cfg, scenes, o);
      const { client, connection } = await temporalClient(cfg);
      try {
        const starter = new WorkflowStarter(client, cfg);
        if (opts.unschedule) {
          const had = await starter.unscheduleRefit(input.pipeline.name, scenes);
          out({ unscheduled: had }, had ? 'refit schedule deleted' : 'no such refit schedule');
          return had ? 0 : 1;
        }
        const id = await starter.scheduleRefit(input, String(opts.schedule));
        out({ scheduleId: id, every: String(opts.schedule) }, `refit schedule ${id}: every ${opts.schedule}`);
        return 0;
      } finally {
        await connection.close();
      }
    }
    const r = await runRefit(cfg, scenes, o);
    out(r, refitLines(r).join('\n') || 'no scenes to refit');
    return refitExitCode(r);
  },
};

/** What `lookout refit` prints for a refitScenes result: one line per scene (refitted, failed, skipped). */
export function refitLines(r: RefitScenesResult): string[] {
  return [
    ...r.refits.map((x) =>
      x.version === null
        ? `scene ${x.scene}: stays at v${x.from} (nothing joined; ${x.waiting} chunk(s) waiting, ${x.refused} refused)`
        : `scene ${x.scene}: v${x.from} -> v${x.version}: ${x.joined} chunk(s), ${x.joinedFrames} frames joined; normal set ${x.normalFrames} frames (${x.firstFitFrames} first fit + at most ${x.maxFrames}), ${x.normalObjects} objects; ${x.waiting} waiting, ${x.refused} refused, ${x.dropped} left out by the bound; threshold ${x.threshold?.toFixed(4)} -> ${x.uri}`,
    ),
    ...r.failed.map((f) => `scene ${f.scene}: refit failed: ${f.error}`),
    ...(r.skipped ?? []).map((s) => `scene ${s.scene}: skipped: ${s.reason}`),
  ];
}

/**
 * The exit status of a refit: 1 when a scene's refit failed (it needs an operator, as before skipping existed), or
 * when scenes were asked for and every one was skipped (this run refitted nothing: another refit of each is
 * running); else 0, also when some scenes were skipped beside refitted ones (their running refit does the work) and
 * when `--all` found no scene.
 */
export function refitExitCode(r: RefitScenesResult): 0 | 1 {
  if (r.failed.length) return 1;
  return r.refits.length === 0 && (r.skipped ?? []).length > 0 ? 1 : 0;
}
