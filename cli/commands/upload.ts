/** `lookout upload` */
import type { Command } from '../command';
import { uploadFiles, waitForRows, printRun } from '../runs';

export const uploadCommand: Command = {
  spec: {
    name: 'upload',
    summary: 'upload files to the inbox bucket (any GCS client works the same; this one tags a run)',
    usage: 'upload FILE... [--prefix P] [--run TAG] [--pipeline NAME] [--scene NAME] [--every N] [--wait]',
    positionals: { min: 1, max: 100000, name: 'FILE...' },
    options: {
      prefix: { type: 'string', default: 'uploads/', help: 'object name prefix' },
      run: { type: 'string', help: 'run tag written to object metadata lookout-run (and to the rows)' },
      pipeline: { type: 'string', help: 'pipeline for these objects (metadata lookout-pipeline; default $LOOKOUT_PIPELINE)' },
      scene: { type: 'string', help: 'CCTV scene model for these objects (metadata lookout-scene)' },
      every: { type: 'number', help: 'videos: analyse every Nth frame (metadata lookout-video-every)' },
      wait: { type: 'boolean', help: 'wait for the rows and print them' },
      'timeout-s': { type: 'number', default: 300, help: 'with --wait: give up after this long' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    const fs = require('node:fs') as typeof import('node:fs');
    for (const f of positionals) if (!fs.existsSync(f)) throw new Error(`no such file: ${f}`);
    const run = (opts.run as string | undefined) ?? `upload-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`;
    const metadata: Record<string, string> = { 'lookout-run': run };
    if (opts.pipeline) metadata['lookout-pipeline'] = String(opts.pipeline);
    if (opts.scene) metadata['lookout-scene'] = String(opts.scene);
    if (opts.every !== undefined) metadata['lookout-video-every'] = String(opts.every);
    const names = await uploadFiles(cfg, positionals.map((file) => ({ file })), String(opts.prefix), metadata);
    console.log(`uploaded ${names.length} objects (run ${run})`);
    if (!opts.wait) return;
    const n = await waitForRows(cfg, run, names.length, Number(opts['timeout-s']) * 1000);
    await printRun(cfg, run);
    return n >= names.length ? 0 : 4;
  },
};
