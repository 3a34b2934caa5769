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
    options: {
      kind: { type: 'string', help: 'only this kind' },
      limit: { type: 'number', default: 100, help: 'at most this many' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    const action = positionals[0] ?? 'list';
    if (action !== 'list' && action !== 'replay')
      throw new Error(`unknown action ${JSON.stringify(action)} (list or replay)`);
    const { natsConnect, temporalClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { readDeadLetters, ensureStreams } = require('../../io/streams') as typeof import('../../io/streams');
    const nc = await natsConnect(cfg, 'lookout-deadletters');
    try {
      await ensureStreams(nc, cfg);
      const kind =
        (opts.kind as 'invalid' | 'dispatch' | 'ingest' | undefined) ?? (action === 'replay' ? 'dispatch' : undefined);
      const dls = await readDeadLetters(nc, cfg, { kind, limit: Number(opts.limit) });
      if (action === 'list') {
        for (const d of dls)
          console.log(`#${d.seq} ${d.at} ${d.kind.padEnd(8)} ${d.reason}  ${d.payload.slice(0, 100)}`);
        console.log(`${dls.length} dead letter(s)`);
        return;
      }
      const { replayDeadLetters, replayDeps } =
        require('../../dispatch/replay') as typeof import('../../dispatch/replay');
      const { client, connection } = await temporalClient(cfg);
      const jsm = await nc.jetstreamManager();
      let report;
      try {
        // Item by item: a poison dead letter is reported and kept, the rest go on.
        report = await replayDeadLetters(
          dls,
          replayDeps(client, cfg, cfg.pipelines, (seq) => jsm.streams.deleteMessage(cfg.nats.deadStream, seq)),
          (r) => console.log(`${r.id}: ${r.outcome}${r.detail ? ` ${r.detail}` : ''}`),
        );
      } finally {
        await connection.close();
      }
      console.log(
        `replay of ${dls.length}: ${JSON.stringify(report.counts)}${report.stoppedAt ? ` (stopped at ${report.stoppedAt}: Temporal unreachable)` : ''}`,
      );
      return report.counts.failed ? 1 : 0;
    } finally {
      await nc.drain().catch(() => {});
    }
  },
};
