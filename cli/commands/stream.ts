/** `lookout stream` */
import type { Command } from '../command';

export const streamCommand: Command = {
  spec: {
    name: 'stream',
    summary:
      'record a live camera stream (RTSP, HTTP MPEG-TS, HLS) into segments in the bucket, analysed as they arrive',
    usage: 'stream URL [--scene NAME] [--name NAME] [--segment-s N] [--pipeline NAME] [--max-segments N] [--json]',
    positionals: { min: 1, max: 1, name: 'URL' },
    description: `ffmpeg reads the camera and cuts its video (without re-encoding) into segments of about --segment-s seconds;
each is uploaded to gs://<bucket>/<prefix><name>/<capture time>-<n>.ts with metadata lookout-stream, lookout-captured-at
and lookout-scene, and the usual path (event -> dispatcher -> analyzeVideo in segments) writes a row per frame, with
details.captured_at for capture-to-row latency. A camera that drops is reconnected with backoff (1 s doubling to 30 s);
the gap is printed. A source that answers but gives no video (corrupt data, audio only, no frame within 30 s) three
connections in a row ends the command with exit code 1: retrying cannot help. Stop with Ctrl-C.`,
    options: {
      scene: { type: 'string', help: 'scene model for the analyses (metadata lookout-scene)' },
      name: { type: 'string', help: 'stream name in object names and rows (default: from the URL)' },
      pipeline: { type: 'string', help: 'pipeline (metadata lookout-pipeline; default $LOOKOUT_PIPELINE)' },
      'segment-s': { type: 'number', default: 2, help: 'target segment length in seconds (cut at the next keyframe)' },
      prefix: { type: 'string', default: 'streams/', help: 'object name prefix' },
      run: { type: 'string', help: 'run tag (metadata lookout-run)' },
      'max-segments': { type: 'number', default: 0, help: 'stop after this many segments (0: until stopped)' },
      json: { type: 'boolean', help: 'print one JSON object per event, and the totals as JSON at the end' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    const { storageClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { recordStream, STREAM_DEFAULTS, StreamInputError } =
      require('../../ingest/stream') as typeof import('../../ingest/stream');
    const url = positionals[0];
    if (!/^(rtsps?|https?|rtmp|udp|tcp|file):/i.test(url))
      throw new Error(
        `not a stream URL: ${JSON.stringify(url)} (rtsp://, http(s)://, rtmp://, udp://, tcp:// or file:)`,
      );
    const name =
      (opts.name as string | undefined) ??
      (url
        .replace(/^[a-z]+:\/\//i, '')
        .replace(/[^A-Za-z0-9._-]+/g, '_')
        .slice(0, 60) ||
        'camera');
    const bucket = storageClient(cfg).bucket(cfg.gcs.bucket);
    const { observe } = require('../observability') as typeof import('../observability');
    const obs = await observe(cfg, 'stream', 'stream');
    const log = obs.logger.child({ stream: name });
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    process.once('SIGTERM', () => ac.abort());
    const json = opts.json === true;
    let stats;
    try {
      stats = await recordStream(
        {
          ...STREAM_DEFAULTS,
          url,
          name,
          scene: opts.scene as string | undefined,
          pipeline: opts.pipeline as string | undefined,
          segmentSeconds: Number(opts['segment-s']),
          prefix: String(opts.prefix),
          metadata: opts.run ? { 'lookout-run': String(opts.run) } : undefined,
          maxSegments: Number(opts['max-segments']),
          signal: ac.signal,
        },
        async (u) => {
          await bucket.upload(u.file, {
            destination: u.objectName,
            resumable: false,
            contentType: u.contentType,
            metadata: { metadata: u.metadata },
          });
        },
        (e) => {
          if (json) return console.log(JSON.stringify(e));
          if (e.kind === 'segment')
            log.info(
              { objectKey: `${cfg.gcs.bucket}/${e.objectName}` },
              `segment ${e.objectName} (${e.durationS.toFixed(1)} s, captured ${e.capturedAt})`,
            );
          else if (e.kind === 'gap') log.warn(`gap: no video from ${e.from} to ${e.to} (${e.reason})`);
          else if (e.kind === 'reconnecting')
            log.warn(`camera lost (${e.reason}); reconnecting in ${(e.inMs / 1000).toFixed(1)} s`);
          else if (e.kind === 'upload-failed')
            log.warn(
              { objectKey: `${cfg.gcs.bucket}/${e.objectName}` },
              `upload of ${e.objectName} failed (${e.error}); retrying`,
            );
          else log.info(`connected to ${url} (attempt ${e.attempt})`);
        },
      );
    } catch (err) {
      if (!(err instanceof StreamInputError)) throw err;
      if (json)
        console.log(
          JSON.stringify({
            kind: 'failed',
            error: err.errorClass,
            message: err.message,
            reasons: err.reasons,
            ...err.stats,
          }),
        );
      else log.error(`lookout stream: ${err.message}`);
      await obs.close();
      return 1;
    }
    await obs.close();
    if (json) console.log(JSON.stringify({ kind: 'totals', ...stats }));
    else
      console.log(
        `stream ${name}: ${stats.segments} segments, ${(stats.bytes / 2 ** 20).toFixed(1)} MiB, ${stats.reconnects} reconnects, ${stats.gaps.length} gaps`,
      );
    return stats.uploadFailures > 0 && stats.segments === 0 ? 1 : 0;
  },
};
