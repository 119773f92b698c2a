// `npm run bench -- <part> [--json] [--json-out FILE] [options]`: each part is bench/<part>.ts
// exporting `run(args)`, which returns its rows; the terminal gets a table, --json the full
// record, --json-out FILE the record on one line in FILE (bench/gpu/run.sh collects them).
import { writeFileSync } from 'node:fs';
import { destroyDevice, gpu, initDevice } from '../src/engine/node_gpu.js';
import { parseArgs, table, type Row } from './util.js';

const PARTS = ['matmul', 'conv2d', 'pool', 'softmax', 'lstm', 'attention', 'adam', 'train', 'host'] as const;

async function main(): Promise<void> {
  const [part, ...rest] = process.argv.slice(2);
  if (!part || !(PARTS as readonly string[]).includes(part)) {
    console.error(`usage: npm run bench -- <${PARTS.join('|')}> [--json]`);
    process.exitCode = 2;
    return;
  }
  const args = parseArgs(rest);
  // host: Dawn's null backend runs no kernel; with --encode-only, the Vulkan adapter (lavapipe) as
  // the null backend would run it (its limits, the GPU kernel set), commands encoded, not submitted
  const host = args['encode-only'] ? { backend: 'vulkan', kernels: 'gpu' as const, limits: 'default' as const } : { backend: 'null' };
  await initDevice(part === 'host' ? host : {});
  const g = gpu();
  const mod = (await import(`./${part}.js`)) as { run: (a: typeof args) => Promise<Row[]> };
  const rows = await mod.run(args);
  const adapter = `${g.info.description || g.info.device} (${g.info.vendor}, ${g.info.architecture})`;
  const record = { part, args, adapter, date: new Date().toISOString(), rows };
  if (typeof args['json-out'] === 'string') writeFileSync(args['json-out'], JSON.stringify(record) + '\n');
  if (args.json) console.log(JSON.stringify(record, null, 1));
  else console.log(`${part} on ${adapter}\n${table(rows)}`);
}

try {
  await main();
} finally {
  destroyDevice();
}
