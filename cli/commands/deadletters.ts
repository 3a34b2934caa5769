/** `lookout deadletters` */
import type { Command } from '../command';

export const deadlettersCommand: Command = {
  spec: {
    name: 'deadletters',
    summary: 'list dead letters, or replay the dispatch failures among them',
    usage: 'deadletters [list|replay] [--kind invalid|dispatch|ingest] [--limit N]',
    positionals: { min: 0, max: 1, name: 'ACTION' },
    description: `Dead letters are kept in the JetStream stream $LOOKOUT_NATS_DEAD_STREAM (subjects <prefix>.invalid, .dispatch, .ingest).
replay starts the analysis of each 'dispatch' dead letter directly in Temporal (a republish with the same
Nats-Msg-Id would be dropped by the stream's duplicate window) and removes it from the dead-letter stream once started.`,
    options: { kind: { type: 'string', help: 'only this kind' }, limit: { type: 'number', default: 100, help: 'at most this many' } },
  },
  run: async (cfg, { opts, positionals }) => {
    const action = positionals[0] ?? 'list';
    if (action !== 'list' && action !== 'replay') throw new Error(`unknown action ${JSON.stringify(action)} (list or replay)`);
    const { natsConnect, temporalClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { readDeadLetters, ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const nc = await natsConnect(cfg, 'lookout-deadletters');
    try {
      await ensureStreams(nc, cfg);
      const kind = (opts.kind as 'invalid' | 'dispatch' | 'ingest' | undefined) ?? (action === 'replay' ? 'dispatch' : undefined);
      const dls = await readDeadLetters(nc, cfg, { kind, limit: Number(opts.limit) });
      if (action === 'list') {
        for (const d of dls) console.log(`#${d.seq} ${d.at} ${d.kind.padEnd(8)} ${d.reason}  ${d.payload.slice(0, 100)}`);
        console.log(`${dls.length} dead letter(s)`);
        return;
      }
      const { validateObjectEvent } = require('../../core/events') as typeof import('../../core/events');
      const { analyzeInputFor } = require('../../dispatch/dispatcher') as typeof import('../../dispatch/dispatcher');
      const { WorkflowStarter } = require('../../io/starter') as typeof import('../../io/starter');
      const { client, connection } = await temporalClient(cfg);
      const jsm = await nc.jetstreamManager();
      let replayed = 0;
      try {
        for (const d of dls) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(d.payload);
          } catch {
            parsed = undefined;
          }
          const v = validateObjectEvent(parsed);
          if (!v.ok) {
            console.log(`#${d.seq}: cannot replay: ${v.reason}`);
            continue;
          }
          const r = (await new WorkflowStarter(client, cfg).startAnalysis(analyzeInputFor({ ...v.value, source: 'replay' }, cfg, cfg.pipelines))).outcome;
          await jsm.streams.deleteMessage(cfg.nats.deadStream, d.seq);
          replayed++;
          console.log(`#${d.seq}: ${r} ${v.value.bucket}/${v.value.name}#${v.value.generation}`);
        }
      } finally {
        await connection.close();
      }
      console.log(`replayed ${replayed} of ${dls.length}`);
    } finally {
      await nc.drain().catch(() => {});
    }
  },
};
