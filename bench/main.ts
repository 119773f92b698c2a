// `npm run bench -- <part> [--json] [options]`: each part is bench/<part>.ts exporting
// `run(args)`, which returns its rows; the terminal gets a table, --json the full record.
import { destroyDevice, gpu, initDevice } from '../src/engine/device.js';
import { parseArgs, table, type Row } from './util.js';

const PARTS = ['matmul', 'conv2d', 'pool', 'softmax', 'lstm', 'attention', 'adam', 'train'] as const;

async function main(): Promise<void> {
  const [part, ...rest] = process.argv.slice(2);
  if (!part || !(PARTS as readonly string[]).includes(part)) {
    console.error(`usage: npm run bench -- <${PARTS.join('|')}> [--json]`);
    process.exitCode = 2;
    return;
  }
  const args = parseArgs(rest);
  await initDevice();
  const g = gpu();
  const mod = (await import(`./${part}.js`)) as { run: (a: typeof args) => Promise<Row[]> };
  const rows = await mod.run(args);
  const adapter = `${g.info.description || g.info.device} (${g.info.vendor}, ${g.info.architecture})`;
  if (args.json) console.log(JSON.stringify({ part, adapter, date: new Date().toISOString(), rows }, null, 1));
  else console.log(`${part} on ${adapter}\n${table(rows)}`);
}

try {
  await main();
} finally {
  destroyDevice();
}
