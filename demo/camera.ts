/**
 * A camera on loopback for tests and benches: ffmpeg paces a video in real time (-re) as MPEG-2 in MPEG-TS over
 * HTTP, a keyframe every second at 10 fps — what `lookout stream` records from a real IP camera's HTTP stream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A TCP port free on 127.0.0.1 at the time of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Starts the camera serving `file` at http://127.0.0.1:PORT/cam (`loop`: repeat the file for ever). */
export function startCamera(
  file: string,
  port: number,
  opts: { loop?: boolean } = {},
): { proc: ChildProcess; url: string } {
  const url = `http://127.0.0.1:${port}/cam`;
  const loop = opts.loop ? ['-stream_loop', '-1'] : [];
  const args = ['-nostdin', '-v', 'error', '-re', ...loop, '-i', file];
  args.push('-c:v', 'mpeg2video', '-q:v', '5', '-g', '10', '-f', 'mpegts', '-listen', '1', url);
  return { proc: spawn('ffmpeg', args, { stdio: 'ignore' }), url };
}
