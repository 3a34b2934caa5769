/** `lookout models` */
import type { Command } from '../command';

export const modelsCommand: Command = {
  spec: {
    name: 'models',
    summary: 'list the model repository, or publish a model folder to a bucket repository',
    usage: 'models [list] | models publish NAME --to gs://BUCKET/models',
    positionals: { min: 0, max: 2, name: 'ACTION [NAME]' },
    options: {
      to: { type: 'string', arg: 'gs://…', help: 'bucket repository for publish' },
      repo: { type: 'string', arg: 'DIR', help: 'local repository (default models/)' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    const path = require('node:path') as typeof import('node:path');
    const { listLocalModels, loadLocalModel, defaultModelRepo } =
      require('../../runtime/manifest') as typeof import('../../runtime/manifest');
    const repo = (opts.repo as string | undefined) ?? defaultModelRepo(cfg.projectRoot);
    const [action = 'list', name] = positionals;
    if (action === 'list') {
      for (const n of listLocalModels(repo)) {
        const m = loadLocalModel(repo, n);
        console.log(
          `${n.padEnd(16)} v${m.manifest.version}  ${m.manifest.task.padEnd(10)} ${m.manifest.inputs.map((i) => `${i.name}[${i.dims.join(',')}]`).join(' ')} -> ${m.manifest.outputs.map((o) => o.name).join(', ')}  ${path.relative(process.cwd(), m.modelPath)}`,
        );
      }
      return;
    }
    if (action !== 'publish' || !name || !opts.to)
      throw new Error('usage: lookout models publish NAME --to gs://BUCKET/models');
    const { publishModel } = require('../../runtime/remote') as typeof import('../../runtime/remote');
    const { storageClient } = require('../../io/clients') as typeof import('../../io/clients');
    console.log(`published ${await publishModel(storageClient(cfg), repo, name, String(opts.to))}`);
  },
};
