/**
 * Summarises V8 CPU profiles (`node --cpu-prof` output, .cpuprofile) by where the time went: self time per
 * function (top N) and per package (node_modules/<pkg>, Lookout's own folders, node internals, native/GC/idle).
 *   node -r tsx/cjs bench/profile-summary.ts [--top N] [--json] FILE.cpuprofile...
 * Used for docs/performance.md: profile the worker and dispatcher under load (NODE_OPTIONS=--cpu-prof), then
 * read which code, not which hop, costs the CPU.
 */
import fs from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The bucket a frame's self time is counted in. */
export function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return 'node internals';
  const m = /\/(activities|workflows|workers|dispatch|ingest|io|runtime|media|methods|core|cli|infra|bench)\//.exec(
    url,
  );
  return m ? `lookout/${m[1]}` : path.basename(url);
}

export function summarise(p: Profile, top: number) {
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++)
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name =
      `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url ? `${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + us);
    const k = packageOf(n.callFrame.url, n.callFrame.functionName);
    pkg.set(k, (pkg.get(k) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), share: us / total }));
  const idle = (pkg.get('(idle)') ?? 0) / 1000;
  return {
    wallMs: Math.round((p.endTime - p.startTime) / 1000),
    sampledMs: Math.round(total / 1000),
    busyMs: Math.round(total / 1000 - idle),
    byPackage: rank(pkg),
    byFunction: rank(fn),
  };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.length === 0) {
    console.log(
      'Usage: node -r tsx/cjs bench/profile-summary.ts [--top N] [--json] FILE.cpuprofile...\nSelf time per package and per function of V8 CPU profiles (node --cpu-prof).',
    );
    process.exit(args.length === 0 ? 2 : 0);
  }
  const json = args.includes('--json');
  const tIdx = args.indexOf('--top');
  const top = tIdx >= 0 ? Number(args[tIdx + 1]) : 12;
  const files = args.filter((a, i) => a.endsWith('.cpuprofile') && args[i - 1] !== '--top');
  const out = files.map((f) => ({ file: f, ...summarise(JSON.parse(fs.readFileSync(f, 'utf8')) as Profile, top) }));
  if (json) console.log(JSON.stringify(out));
  else
    for (const s of out) {
      console.log(`${s.file}: wall ${s.wallMs} ms, busy ${s.busyMs} ms (sampled ${s.sampledMs} ms)`);
      console.log('  by package:');
      for (const r of s.byPackage)
        console.log(`    ${(100 * r.share).toFixed(1).padStart(5)}%  ${String(r.ms).padStart(7)} ms  ${r.name}`);
      console.log('  by function:');
      for (const r of s.byFunction)
        console.log(`    ${(100 * r.share).toFixed(1).padStart(5)}%  ${String(r.ms).padStart(7)} ms  ${r.name}`);
    }
}
