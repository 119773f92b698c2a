#!/usr/bin/env node
// Command-line entry: `node dist/cli.js <command> --help`.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { silenceNativeStderr } from './commands/quiet.js';
import { Command, InvalidArgumentError } from 'commander';
import { destroyDevice, initDevice, LIMIT_KEYS, NoAdapterError } from './engine/node_gpu.js';
import { StopTraining, train, type TrainOptions } from './commands/train.js';
import { evalCommand } from './commands/eval.js';
import { predictCommand } from './commands/predict.js';
import { modelsCommand } from './commands/models_cmd.js';
import { prepareCommand } from './commands/prepare.js';
import { reportCommand } from './commands/report_cmd.js';
import { MODELS } from './models/index.js';
import { kernelSet, type KernelSet } from './engine/kernels.js';
import { serve } from './commands/serve.js';

// Image decoding runs on libuv's pool (4 threads by default): size it to the machine
// before anything queues work on it.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));

const program = new Command();
program
  .name('webgpu-dl')
  .description('Train, evaluate and run image classifiers on WebGPU')
  .option('--backend <name>', 'WebGPU backend (vulkan, metal, d3d12, ...); env WEBGPU_BACKEND')
  .option('--adapter <name>', 'adapter whose name contains this text; env WEBGPU_ADAPTER')
  .option('--kernels <set>', 'kernel configurations: cpu or gpu (default: from the adapter); env WEBGPU_KERNELS')
  .option('--verbose', 'show the WebGPU implementation\'s own notes while it opens the adapter')
  .version(version(), '--version', 'print the version');

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function deviceOpts() {
  const o = program.opts<{ backend?: string; adapter?: string; kernels?: KernelSet }>();
  return { backend: o.backend, adapter: o.adapter, kernels: o.kernels };
}

/** Opens the device; Dawn's notes on stderr (limits it clamps) only with --verbose. */
function openDevice() {
  const open = () => initDevice(deviceOpts());
  return program.opts<{ verbose?: boolean }>().verbose ? open() : silenceNativeStderr(open);
}

program
  .command('device')
  .description('print the WebGPU adapter, its features and key limits')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const g = await openDevice();
    const limits = Object.fromEntries(LIMIT_KEYS.map((k) => [k, (g.limits as unknown as Record<string, number>)[k]]));
    const features = [...g.features].sort();
    if (opts.json) {
      console.log(JSON.stringify({ adapter: g.info, software: g.isSoftware, kernels: kernelSet(), features, limits }));
      return;
    }
    console.log(`adapter       ${g.info.description || g.info.device}`);
    console.log(`vendor        ${g.info.vendor}`);
    console.log(`architecture  ${g.info.architecture}`);
    console.log(`device        ${g.info.device}`);
    console.log(`backend       ${g.info.backend}${g.isSoftware ? ' (software)' : ''}`);
    console.log(`kernels       ${kernelSet()}`);
    console.log(`features      ${features.join(', ')}`);
    console.log('limits');
    for (const [k, v] of Object.entries(limits)) console.log(`  ${k.padEnd(36)}${v}`);
  });

function int(min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got "${v}"`);
    return n;
  };
}

function float(min: number, max = Infinity) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got "${v}"`);
    return n;
  };
}

const MODEL_NAMES = Object.keys(MODELS).join('|');

program
  .command('train')
  .description('train a model (the seed\'s defaults: Adam, lr 1e-3, batch 512, clip 1, 50 epochs, ReduceLROnPlateau on validation loss)')
  .requiredOption('--model <name>', `one of ${MODEL_NAMES}`)
  .option('--data <dir|fashion-mnist|file>', 'image folder (train/ and val/, class folders or Kaggle names), fashion-mnist, or a .safetensors file of x and y; default ./data if it exists, else Fashion-MNIST')
  .option('--val <dir|file>', 'a separate validation set')
  .option('--epochs <n>', 'epochs', int(1), 50)
  .option('--batch-size <n>', 'batch size', int(1), 512)
  .option('--lr <x>', 'learning rate', float(0), 1e-3)
  .option('--clip <x>', 'gradient-norm clipping (0 = off)', float(0), 1)
  .option('--optimizer <name>', 'adam or sgd', 'adam')
  .option('--momentum <x>', 'SGD momentum', float(0, 1), 0)
  .option('--weight-decay <x>', 'L2 weight decay', float(0), 0)
  .option('--image-size <n>', 'input side (default: the data\'s own for Fashion-MNIST and tensors, else 224)', int(1))
  .option('--dropout <p>', 'override every dropout probability', float(0, 1))
  .option('--seed <n>', 'seed for initialisation, shuffling, augmentation and dropout', int(0), 0)
  .option('--no-augment', 'use the validation transform for training too')
  .option('--no-shuffle', 'keep the data order')
  .option('--init <file>', 'initial weights (a checkpoint or a state dict)')
  .option('--pretrained <file|dir>', 'pretrained backbone (torchvision-style resnet18 safetensors, or a Hugging Face ViT folder); the head is replaced for new classes')
  .option('--freeze-backbone', 'train only the classification head (default for resnet18 with --pretrained)')
  .option('--no-freeze-backbone', 'train every parameter')
  .option('--out <dir>', 'checkpoint folder', 'checkpoint')
  .option('--max-steps <n>', 'stop after this many optimiser steps', int(1))
  .option('--micro-batch <n>', 'rows run at once, gradients accumulated over the batch (default: chosen to fit the adapter and --memory-limit, said when it splits)', int(1))
  .option('--memory-limit <MiB>', 'GPU memory the engine may hold; free buffers past it are given back (default: no limit; the micro-batch budget is then half the RAM on a software adapter, 16 GiB on a GPU)', float(1))
  .option('--resume', 'continue from <out>/<model>.last.safetensors (with its settings)', false)
  .option('--overwrite', 'replace the checkpoints of an earlier run in <out>', false)
  .option('--json', 'one JSON object per epoch on stdout', false)
  .action(async (opts: TrainOptions & { optimizer: string }, cmd: Command) => {
    if (opts.optimizer !== 'adam' && opts.optimizer !== 'sgd') throw new Error(`--optimizer must be adam or sgd, got "${opts.optimizer}"`);
    const given = new Set(Object.keys(opts).filter((k) => cmd.getOptionValueSource(k) !== 'default'));
    await openDevice();
    await train({ ...opts, given });
  });

program
  .command('eval')
  .description('loss, accuracy, per-class precision/recall and confusion matrix of a checkpoint')
  .requiredOption('--weights <file|dir>', 'a checkpoint, a state dict (with --model) or a Hugging Face ViT folder')
  .option('--model <name>', `for weights without metadata: ${MODEL_NAMES}`)
  .option('--data <dir|fashion-mnist|file>', 'data to evaluate (its validation set when it has one)')
  .option('--batch-size <n>', 'batch size', int(1), 256)
  .option('--json', 'one JSON object', false)
  .option('--report [file]', 'also write an HTML gallery of the images it gets most wrong (default eval-report.html)')
  .action(async (opts) => {
    await openDevice();
    await evalCommand(opts);
  });

program
  .command('predict')
  .description('class probabilities for images or .npy batches')
  .argument('<inputs...>', 'image files, folders of them (walked), or .npy files of normalised float32 (N,C,H,W) (float16/float64 are converted, integer types refused; resnet18 takes any H, W)')
  .requiredOption('--weights <file|dir>', 'a checkpoint, a state dict (with --model) or a Hugging Face ViT folder')
  .option('--model <name>', `for weights without metadata: ${MODEL_NAMES}`)
  .option('--image-size <n>', 'input side for weights that do not fix it', int(1))
  .option('--top <k>', 'classes to show', int(1), 1)
  .option('--batch-size <n>', 'images run together', int(1), 32)
  .option('--json', 'one JSON object per input (logits, probs, pred)', false)
  .action(async (inputs: string[], opts) => {
    await openDevice();
    await predictCommand(inputs, opts);
  });

program
  .command('models')
  .description('the seed\'s comparison table: parameters, trainable parameters, checkpoint size')
  .option('--image-size <n>', 'input side', int(1))
  .option('--json', 'one JSON object per model', false)
  .action((opts) => {
    modelsCommand(opts); // shapes only: no device, no kernels, no weights drawn
  });

program
  .command('report')
  .description('training curves, confusion matrices and the seed\'s comparison tables from run records (<model>.run.json, written by train)')
  .argument('<runs...>', 'checkpoint folders (every <model>.run.json in them) or run record files')
  .option('--out <file>', 'where to write (default: report.html; Markdown goes to stdout)')
  .option('--format <html|md>', 'a self-contained HTML page, or the tables as Markdown', 'html')
  .action((runs: string[], opts: { out?: string; format: string }) => reportCommand(runs, opts));

program
  .command('prepare')
  .description('sort a Kaggle-style flat folder (cat.0.jpg, Dog.1.JPG: classes compare case-insensitively) into class folders (also its train/ and val/); other names are listed and left')
  .argument('<dir>', 'the folder')
  .option('--move', 'move instead of copy (as the seed did)', false)
  .option('--val-fraction <f>', 'split the folder\'s own flat images into train/ and val/, this fraction of each class to val/', float(0, 1))
  .option('--seed <n>', 'seed of the --val-fraction split', int(0), 0)
  .action((dir: string, opts: { move: boolean; valFraction?: number; seed: number }) => prepareCommand(dir, opts));

program
  .command('serve')
  .description('the web page: classify dropped photos, train LeNet in the tab (open the printed address in a browser with WebGPU)')
  .option('--port <n>', 'port (0: any free one)', int(0), 8080)
  .option('--host <addr>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
  .option('--weights <file>', 'a checkpoint (or safetensors state dict) the page loads at start')
  .option('--data <dir>', 'a folder of IDX files (Fashion-MNIST layout) to train on in the page; default Debian\'s Fashion-MNIST')
  .action(async (opts: { port: number; host: string; weights?: string; data?: string }) => {
    const server = await serve(opts);
    const a = server.address();
    const port = typeof a === 'object' && a ? a.port : opts.port;
    console.log(`serving on http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/ (Ctrl-C to stop)`);
    await new Promise<void>((done) => {
      const stop = () => {
        server.close(() => done());
        server.closeAllConnections();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    const err = e as Error;
    const line = err.message.split('\n')[0];
    // Ctrl-C is not an error: its line says where training stopped
    if (err instanceof StopTraining && err.exitCode === 130) console.error(line);
    else if (err instanceof NoAdapterError) console.error(`error: ${err.message}${program.opts<{ verbose?: boolean }>().verbose ? '' : ' (--verbose shows what the WebGPU implementation said)'}`);
    else console.error(`error: ${line}`);
    if (process.env.DEBUG) console.error(err.stack);
    process.exitCode = err instanceof StopTraining ? err.exitCode : 1;
  } finally {
    destroyDevice();
  }
}

await main();
