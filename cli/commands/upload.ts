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
      pipeline: {
        type: 'string',
        help: 'pipeline for these objects (metadata lookout-pipeline; default $LOOKOUT_PIPELINE)',
      },
      scene: { type: 'string', help: 'CCTV scene model for these objects (metadata lookout-scene)' },
      every: { type: 'number', help: 'videos: analyse every Nth frame (metadata lookout-video-every)' },
      wait: { type: 'boolean', help: 'wait for the rows and print them' },
      'timeout-s': { type: 'number', default: 300, help: 'with --wait: give up after this long' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    const fs = require('node:fs') as typeof import('node:fs');
    for (const f of positionals) if (!fs.existsSync(f)) throw new Error(`no such file: ${f}`);
    const { uploadMetadata, defaultUploadRun } = require('../../io/uploads') as typeof import('../../io/uploads');
    const run = (opts.run as string | undefined) ?? defaultUploadRun();
    const metadata = uploadMetadata({
      run,
      pipeline: opts.pipeline as string | undefined,
      scene: opts.scene as string | undefined,
      every: opts.every === undefined ? undefined : Number(opts.every),
    });
    const names = await uploadFiles(
      cfg,
      positionals.map((file) => ({ file })),
      String(opts.prefix),
      metadata,
    );
    console.log(`uploaded ${names.length} objects (run ${run})`);
    if (!opts.wait) return;
    const n = await waitForRows(cfg, run, names.length, Number(opts['timeout-s']) * 1000);
    await printRun(cfg, run);
    return n >= names.length ? 0 : 4;
  },
};
