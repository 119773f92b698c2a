#!/usr/bin/env node
// Command-line entry: `node dist/cli.js <command> --help`.
import { Command } from 'commander';
import { destroyDevice, initDevice, LIMIT_KEYS, NoAdapterError } from './engine/device.js';

const program = new Command();
program
  .name('webgpu-dl')
  .description('Train, evaluate and run image classifiers on WebGPU')
  .option('--backend <name>', 'WebGPU backend (vulkan, metal, d3d12, ...); env WEBGPU_BACKEND')
  .option('--adapter <name>', 'adapter whose name contains this text; env WEBGPU_ADAPTER');

function deviceOpts() {
  const o = program.opts<{ backend?: string; adapter?: string }>();
  return { backend: o.backend, adapter: o.adapter };
}

program
  .command('device')
  .description('print the WebGPU adapter, its features and key limits')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const g = await initDevice(deviceOpts());
    const limits = Object.fromEntries(LIMIT_KEYS.map((k) => [k, (g.limits as unknown as Record<string, number>)[k]]));
    const features = [...g.features].sort();
    if (opts.json) {
      console.log(JSON.stringify({ adapter: g.info, software: g.isSoftware, features, limits }));
      return;
    }
    console.log(`adapter       ${g.info.description || g.info.device}`);
    console.log(`vendor        ${g.info.vendor}`);
    console.log(`architecture  ${g.info.architecture}`);
    console.log(`device        ${g.info.device}`);
    console.log(`backend       ${g.info.backend}${g.isSoftware ? ' (software)' : ''}`);
    console.log(`features      ${features.join(', ')}`);
    console.log('limits');
    for (const [k, v] of Object.entries(limits)) console.log(`  ${k.padEnd(36)}${v}`);
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    const err = e as Error;
    console.error(`error: ${err instanceof NoAdapterError ? err.message : err.message.split('\n')[0]}`);
    if (process.env.DEBUG) console.error(err.stack);
    process.exitCode = process.exitCode && process.exitCode !== 0 ? process.exitCode : 1;
  } finally {
    destroyDevice();
  }
}

await main();
