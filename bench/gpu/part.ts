// `node dist-bench/bench/gpu/part.js <part> [options]`: runs one bench part like bench/main.ts,
// whether or not main.ts lists it yet (run.sh uses it for `train`): the table, or --json;
// --json-out FILE also writes the JSON record to FILE, on one line.
import { writeFileSync } from 'node:fs';
import { destroyDevice, gpu, initDevice } from '../../src/engine/device.js';
import { parseArgs, table, type Row } from '../util.js';

const [part, ...rest] = process.argv.slice(2);
const args = parseArgs(rest);
try {
  await initDevice();
  const g = gpu();
  const mod = (await import(`../${part}.js`)) as { run: (a: typeof args) => Promise<Row[]> };
  const rows = await mod.run(args);
  const adapter = `${g.info.description || g.info.device} (${g.info.vendor}, ${g.info.architecture})`;
  const record = { part, args, adapter, date: new Date().toISOString(), rows };
  if (typeof args['json-out'] === 'string') writeFileSync(args['json-out'], JSON.stringify(record) + '\n');
  if (args.json) console.log(JSON.stringify(record, null, 1));
  else console.log(`${part} on ${adapter}\n${table(rows)}`);
} finally {
  destroyDevice();
}
