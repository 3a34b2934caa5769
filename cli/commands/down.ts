/** `lookout down` */
import type { Command } from '../command';

export const downCommand: Command = {
  spec: { name: 'down', summary: 'stop everything `lookout up` started (state is kept)', usage: 'down', options: {} },
  run: async (cfg) => {
    const { down } = require('../../infra/stack') as typeof import('../../infra/stack');
    await down(cfg, (l) => console.log(`  ${l}`));
    console.log('lookout is down.');
  },
};
