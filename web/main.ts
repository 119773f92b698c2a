// The page: classify dropped photos with a checkpoint, train LeNet in the tab, show the adapter.
// Everything runs on WebGPU through the library's browser entry; preprocessing is the
// CLI's (`predict`: Resize((S,S)) with Pillow's bilinear filter, then the checkpoint's mean/std).

import {
  initDevice, noGrad, pace, tidy, Tensor, Rng, Metrics, LIMIT_KEYS, models, optim, softmax, serializeCheckpoint,
  transformPixels, type Gpu, type LoadedWeights, type Module,
} from '../src/browser.js';
import { barChart, heatMap, lineChart, type Series } from '../src/report/charts.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const fmtMs = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);
const fmtTime = (s: number) => (s < 60 ? `${s.toFixed(0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
const tick = () => new Promise((r) => setTimeout(r, 0));

// ---- tabs ----
for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) {
  b.onclick = () => {
    for (const o of document.querySelectorAll<HTMLButtonElement>('nav button')) o.classList.toggle('active', o === b);
    for (const s of document.querySelectorAll<HTMLElement>('.tab')) s.hidden = s.id !== `tab-${b.dataset.tab}`;
  };
}

// ---- the adapter ----
function showAdapter(g: Gpu): void {
  const name = [g.info.vendor, g.info.architecture, g.info.description || g.info.device].filter(Boolean).join(' ');
  $('adapter-name').textContent = `${name}${g.isSoftware ? ' (software)' : ''}`;
  const limits = LIMIT_KEYS.map((k) => `<tr><td>${k}</td><td>${(g.limits as unknown as Record<string, number>)[k]}</td></tr>`).join('');
  $('adapter-info').innerHTML = `<h2>Adapter</h2>
    <p>vendor <b>${g.info.vendor || '?'}</b>, architecture <b>${g.info.architecture || '?'}</b>, device <b>${g.info.device || '?'}</b>,
    description <b>${g.info.description || '(empty)'}</b>${g.subgroupSize ? `, subgroup size ${g.subgroupSize}` : ''}</p>
    <p>features: <span id="adapter-features">${[...g.features].sort().join(', ') || '(none)'}</span></p>
    <table class="limits">${limits}</table>`;
}

// ---- classify ----
let weights: (LoadedWeights & { module: Module }) | null = null;

for (const name of Object.keys(models.MODELS)) {
  const o = document.createElement('option');
  o.value = o.textContent = name;
  $('model-select').append(o);
}

function loadWeights(bytes: Uint8Array, name: string): void {
  const model = $<HTMLSelectElement>('model-select').value || undefined;
  const w = models.loadModel(bytes, { name, model });
  weights?.module.dispose();
  weights = w;
  const c = w.config;
  $('weights-status').textContent = `${name}: ${w.spec.name}, ${c.imageSize}x${c.imageSize}x${c.channels}, ${w.classes.length} classes (${w.classes.slice(0, 4).join(', ')}${w.classes.length > 4 ? ', …' : ''})`;
  $('weights-status').dataset.model = w.spec.name;
}

/** HWC RGB bytes of an image file at its own size, as decoded by the browser (no colour conversion). */
async function decode(file: Blob): Promise<{ px: Uint8Array; h: number; w: number }> {
  const bmp = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width: w, height: h } = bmp;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { colorSpace: 'srgb' })!;
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const px = new Uint8Array(w * h * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) [px[j], px[j + 1], px[j + 2]] = [rgba[i], rgba[i + 1], rgba[i + 2]];
  return { px, h, w };
}

async function classify(file: File): Promise<void> {
  if (!weights) throw new Error('load weights first (serve --weights, or drop a .safetensors file)');
  const { config: c, mean, std, module, classes } = weights;
  const t0 = performance.now();
  const { px, h, w } = await decode(file);
  const x = transformPixels(px, h, w, 3, { size: c.imageSize, channels: c.channels as 1 | 3, train: false, augment: false, mean, std, fit: 'fill' }, new Rng(0));
  const probs = tidy(() => noGrad(() => softmax(module.forward(Tensor.from(x, [1, c.channels, c.imageSize, c.imageSize])))));
  const p = await probs.readF32();
  probs.dispose();
  const ms = performance.now() - t0;
  const order = [...p.keys()].sort((a, b) => p[b] - p[a]).slice(0, 5);
  const card = document.createElement('div');
  card.className = 'panel result';
  card.dataset.file = file.name;
  card.dataset.probs = JSON.stringify(Array.from(p));
  const img = document.createElement('img');
  img.src = URL.createObjectURL(file);
  const bars = order.map((k) => `<div class="bar"><span>${classes[k]}</span><div><div class="fill" style="width:${(100 * p[k]).toFixed(1)}%"></div></div><span>${(100 * p[k]).toFixed(2)}%</span></div>`).join('');
  card.innerHTML = `<div class="bars"><h2>${file.name}</h2>${bars}<p class="meta">${fmtMs(ms)} (decode, resize, forward pass, read-back) with ${weights.spec.name} at ${c.imageSize}x${c.imageSize}</p></div>`;
  card.prepend(img);
  $('results').prepend(card);
}

async function takeFiles(files: Iterable<File>): Promise<void> {
  const list = [...files];
  try {
    for (const f of list.filter((f) => f.name.endsWith('.safetensors'))) loadWeights(new Uint8Array(await f.arrayBuffer()), f.name);
    for (const f of list.filter((f) => !f.name.endsWith('.safetensors'))) await classify(f);
  } catch (e) {
    showError(e);
  }
}

function showError(e: unknown): void {
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = (e as Error).message ?? String(e);
  $('results').prepend(p);
}

const drop = $('drop');
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  void takeFiles(e.dataTransfer?.files ?? []);
};
$<HTMLInputElement>('image-input').onchange = (e) => void takeFiles((e.target as HTMLInputElement).files ?? []);
$<HTMLInputElement>('weights-input').onchange = (e) => void takeFiles((e.target as HTMLInputElement).files ?? []);

// ---- train ----
// Data in memory, normalised as the CLI's loaders make it: (N, C, S, S) floats and labels.
interface Samples { n: number; x: Float32Array; y: Int32Array }
interface TrainData { name: string; classes: string[]; C: number; S: number; mean: number[]; std: number[]; train: Samples; test: Samples; testName: string }
interface DataInfo { name: string; classes: string[]; train: { n: number; h: number; w: number }; test: { n: number; h: number; w: number } }

let stopRequested = false;
let trained: { model: Module; meta: Parameters<typeof serializeCheckpoint>[1] } | null = null;
/** A dropped or picked folder: [path below the folder, file]. */
let folder: { name: string; files: [string, File][] } | null = null;

const lenet = models.MODELS.lenet;
const normFor = (C: number) => {
  const c = { ...lenet.defaults, channels: C };
  return { mean: lenet.mean(c), std: lenet.std(c) };
};

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** The served IDX data set (Fashion-MNIST): its first `trainLimit` and `testLimit` images. */
async function servedData(trainLimit: number, testLimit: number): Promise<TrainData> {
  const r = await fetch('api/data');
  if (!r.ok) throw new Error(`no data set served: ${await r.text()}`);
  const info = (await r.json()) as DataInfo;
  $('data-status').textContent = `${info.name}: ${info.train.n} training and ${info.test.n} test images of ${info.train.h}x${info.train.w}, classes ${info.classes.join(', ')}`;
  const S = info.train.h;
  const { mean, std } = normFor(1);
  const spec = { size: S, channels: 1 as const, train: false, augment: false, mean, std };
  const split = async (name: 'train' | 'test', limit: number): Promise<Samples> => {
    const n = Math.min(limit, info[name].n);
    const [images, labels] = await Promise.all([fetchBytes(`api/data/${name}/images?limit=${n}`), fetchBytes(`api/data/${name}/labels?limit=${n}`)]);
    const x = new Float32Array(n * S * S);
    for (let i = 0; i < n; i++) x.set(transformPixels(images.subarray(i * S * S, (i + 1) * S * S), S, S, 1, spec, new Rng(0)), i * S * S);
    return { n, x, y: Int32Array.from(labels) };
  };
  const [train, test] = await Promise.all([split('train', trainLimit), split('test', testLimit)]);
  return { name: info.name, classes: info.classes, C: 1, S, mean, std, train, test, testName: 'test images' };
}

const IMAGE = /\.(jpe?g|png|webp|gif|bmp)$/i;

/**
 * A folder as the CLI reads one: class folders (sorted by name, as ImageFolder) directly, or
 * under train/ and val/. Images are decoded by the browser and resized as the CLI's
 * validation transform (Resize + CenterCrop, no augmentation). Without val/, every fifth
 * image of each class is held out for the per-class figures.
 */
async function folderData(f: NonNullable<typeof folder>, S: number): Promise<TrainData> {
  const files = f.files.filter(([p]) => IMAGE.test(p) && !p.split('/').some((part) => part.startsWith('.')));
  const split = files.some(([p]) => /^(train|val)\//.test(p));
  const items = files
    .map(([p, file]) => ({ parts: p.split('/'), file }))
    .filter(({ parts }) => parts.length === (split ? 3 : 2) && (!split || parts[0] === 'train' || parts[0] === 'val'));
  const classOf = (parts: string[]) => parts[split ? 1 : 0];
  const classes = [...new Set(items.map((i) => classOf(i.parts)))].sort();
  if (classes.length < 2) throw new Error(`${f.name}: needs at least two class folders of images (found ${classes.length})`);
  const { mean, std } = normFor(3);
  const spec = { size: S, channels: 3 as const, train: false, augment: false, mean, std };
  const sets: Record<'train' | 'test', { x: Float32Array[]; y: number[] }> = { train: { x: [], y: [] }, test: { x: [], y: [] } };
  const seen = new Map<string, number>();
  items.sort((a, b) => (a.parts.join('/') < b.parts.join('/') ? -1 : 1));
  for (const [k, { parts, file }] of items.entries()) {
    const c = classOf(parts);
    const i = seen.get(c) ?? 0;
    seen.set(c, i + 1);
    const into = split ? (parts[0] === 'val' ? sets.test : sets.train) : i % 5 === 4 ? sets.test : sets.train;
    try {
      const { px, h, w } = await decode(file);
      into.x.push(transformPixels(px, h, w, 3, spec, new Rng(0)));
      into.y.push(classes.indexOf(c));
    } catch (e) {
      console.warn(`skipped ${parts.join('/')}: ${(e as Error).message}`);
    }
    if (k % 20 === 0) $('data-status').textContent = `${f.name}: decoding ${k + 1}/${items.length}`;
  }
  const pack = (s: { x: Float32Array[]; y: number[] }): Samples => {
    const x = new Float32Array(s.x.length * 3 * S * S);
    s.x.forEach((v, i) => x.set(v, i * v.length));
    return { n: s.x.length, x, y: Int32Array.from(s.y) };
  };
  const data = { name: f.name, classes, C: 3, S, mean, std, train: pack(sets.train), test: pack(sets.test), testName: split ? 'val/' : 'every fifth image' };
  $('data-status').textContent = `${f.name}: ${data.train.n} training and ${data.test.n} held-out images (${data.testName}) at ${S}x${S}, classes ${classes.join(', ')}`;
  return data;
}

/** Rows of a sample set as one host batch. */
function batchOf(s: Samples, rows: ArrayLike<number>, per: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(rows.length * per);
  const y = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    x.set(s.x.subarray(rows[i] * per, (rows[i] + 1) * per), i * per);
    y[i] = s.y[rows[i]];
  }
  return { x, y };
}

const curves = { loss: [] as [number, number][], acc: [] as [number, number][], valLoss: [] as [number, number][], valAcc: [] as [number, number][] };

function drawCurves(testName: string): void {
  const series = (name: string, points: [number, number][]): Series => ({ name, x: points.map((p) => p[0]), y: points.map((p) => p[1]) });
  $('loss-chart').innerHTML = lineChart([series('train', curves.loss), series(testName, curves.valLoss)], { title: 'loss', xLabel: 'step' });
  $('loss-chart').dataset.losses = JSON.stringify(curves.loss.map((p) => p[1]));
  $('acc-chart').innerHTML = lineChart([series('train', curves.acc), series(testName, curves.valAcc)], { title: 'accuracy', xLabel: 'step', yMin: 0, yMax: 1, percent: true });
}

async function evaluate(model: Module, d: TrainData, batch: number) {
  const metrics = new Metrics(d.classes.length, { confusion: true });
  const per = d.C * d.S * d.S;
  model.eval();
  for (let i = 0; i < d.test.n; i += batch) {
    const rows = Array.from({ length: Math.min(batch, d.test.n - i) }, (_, j) => i + j);
    const { x, y } = batchOf(d.test, rows, per);
    tidy(() => noGrad(() => metrics.update(model.forward(Tensor.from(x, [rows.length, d.C, d.S, d.S])), Tensor.from(y, [rows.length], 'i32'))));
  }
  model.train();
  const r = await metrics.read();
  metrics.dispose();
  return r;
}

async function train(): Promise<void> {
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  const [trainLimit, testLimit, epochs, batch, lr] = [num('train-limit'), num('test-limit'), num('epochs'), num('batch'), num('lr')];
  const d = folder ? await folderData(folder, num('image-size')) : await servedData(trainLimit, testLimit);
  if (!d.train.n) throw new Error(`${d.name}: no training images`);
  const { S, C } = d;
  const K = d.classes.length;
  const per = C * S * S;
  const config = { ...lenet.defaults, imageSize: S, channels: C, numClasses: K };
  trained?.model.dispose();
  trained = null;
  const model = models.createModel('lenet', config);
  const opt = new optim.Adam(model.parameters(), { lr });
  const rng = new Rng(0);
  const total = Math.ceil(d.train.n / batch) * epochs;
  let step = 0;
  const window = new Metrics(K);
  Object.assign(curves, { loss: [], acc: [], valLoss: [], valAcc: [] });
  drawCurves(d.testName);
  const t0 = performance.now();
  const every = 5;
  try {
    for (let epoch = 1; epoch <= epochs && !stopRequested; epoch++) {
      const order = rng.permutation(d.train.n);
      for (let i = 0; i < d.train.n && !stopRequested; i += batch) {
        const rows = order.slice(i, i + batch);
        const { x, y } = batchOf(d.train, rows, per);
        tidy(() => {
          models.trainStep(model, { x, y, shape: [rows.length, C, S, S] }, opt, 1, window);
        });
        await pace(); // once a step, as the CLI: the GPU catches up, and the pool plans the repeated step
        step++;
        if (step % every === 0 || step === total || i + batch >= d.train.n) {
          const m = await window.read();
          window.reset();
          curves.loss.push([step, m.loss]);
          curves.acc.push([step, m.accuracy]);
          drawCurves(d.testName);
          const secs = (performance.now() - t0) / 1000;
          const rate = (step * batch) / secs;
          $('progress-bar').style.width = `${((100 * step) / total).toFixed(1)}%`;
          $('progress-text').textContent = `epoch ${epoch}/${epochs}, step ${step}/${total}: loss ${m.loss.toFixed(4)}, accuracy ${(100 * m.accuracy).toFixed(1)}%, ${rate.toFixed(0)} images/s, ETA ${fmtTime(((total - step) * batch) / rate)}`;
          $('progress-text').dataset.step = String(step);
        }
      }
      if (d.test.n > 0) {
        $('progress-text').textContent += ` (evaluating on the ${d.testName})`;
        await tick();
        const v = await evaluate(model, d, 256);
        curves.valLoss.push([step, v.loss]);
        curves.valAcc.push([step, v.accuracy]);
        drawCurves(d.testName);
        $('pr-chart').innerHTML = barChart(d.classes, [{ name: 'precision', values: v.precision! }, { name: 'recall', values: v.recall! }], {
          title: `epoch ${epoch}: precision and recall (accuracy ${(100 * v.accuracy).toFixed(1)}% on the ${d.testName})`, yMin: 0, yMax: 1, percent: true,
        });
        $('pr-chart').dataset.epoch = String(epoch);
        $('pr-chart').dataset.precision = JSON.stringify(v.precision);
        $('pr-chart').dataset.recall = JSON.stringify(v.recall);
        $('pr-chart').dataset.accuracy = String(v.accuracy);
        const cm = Array.from({ length: K }, (_, i) => Array.from(v.confusion!.subarray(i * K, i * K + K)));
        $('confusion-chart').innerHTML = heatMap(cm, { title: 'confusion matrix', rows: d.classes, cols: d.classes, yLabel: 'true class', xLabel: 'predicted' });
      }
    }
  } finally {
    window.dispose();
    opt.dispose();
  }
  const secs = (performance.now() - t0) / 1000;
  $('progress-text').textContent = `${stopRequested ? 'stopped' : 'done'} after ${step} steps in ${fmtTime(secs)} (${((step * batch) / secs).toFixed(0)} images/s)`;
  $('progress-text').dataset.done = String(step);
  trained = { model, meta: { model: 'lenet', config: { ...config }, classes: d.classes, mean: d.mean, std: d.std, training: { steps: step, data: d.name, source: 'web page' } } };
}

/** Every file below a dropped directory entry, with its path below that directory. */
async function walk(entry: FileSystemEntry, prefix: string, out: [string, File][]): Promise<void> {
  if (entry.isFile) {
    out.push([prefix + entry.name, await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail))]);
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const e of batch) await walk(e, `${prefix}${entry.name}/`, out);
    }
  }
}

function useFolder(name: string, files: [string, File][]): void {
  folder = { name, files };
  $('data-status').textContent = `${name}: ${files.length} files (press Start)`;
  $('data-source').textContent = `folder ${name}`;
}

const trainDrop = $('train-drop');
trainDrop.ondragover = (e) => {
  e.preventDefault();
  trainDrop.classList.add('over');
};
trainDrop.ondragleave = () => trainDrop.classList.remove('over');
trainDrop.ondrop = async (e) => {
  e.preventDefault();
  trainDrop.classList.remove('over');
  const entry = [...(e.dataTransfer?.items ?? [])].map((i) => i.webkitGetAsEntry()).find((x) => x?.isDirectory);
  if (!entry) return void ($('data-status').textContent = 'drop a folder (of class folders, or with train/ and val/)');
  const all: [string, File][] = [];
  await walk(entry, '', all);
  useFolder(entry.name, all.map(([p, f]) => [p.slice(entry.name.length + 1), f]));
};
$<HTMLInputElement>('folder-input').onchange = (e) => {
  const files = [...((e.target as HTMLInputElement).files ?? [])];
  if (!files.length) return;
  const root = files[0].webkitRelativePath.split('/')[0];
  useFolder(root, files.map((f) => [f.webkitRelativePath.slice(root.length + 1), f]));
};
$('use-served').onclick = () => {
  folder = null;
  $('data-source').textContent = 'the served data set';
  $('data-status').textContent = 'the served data set (press Start)';
};

$('train-start').onclick = async () => {
  stopRequested = false;
  delete $('progress-text').dataset.done;
  $<HTMLButtonElement>('train-start').disabled = true;
  $<HTMLButtonElement>('train-stop').disabled = false;
  $<HTMLButtonElement>('download').disabled = true;
  try {
    await train();
  } catch (e) {
    $('progress-text').textContent = `error: ${(e as Error).message}`;
  } finally {
    $<HTMLButtonElement>('train-start').disabled = false;
    $<HTMLButtonElement>('train-stop').disabled = true;
    $<HTMLButtonElement>('download').disabled = !trained;
  }
};
$('train-stop').onclick = () => (stopRequested = true);
$('download').onclick = async () => {
  if (!trained) return;
  const bytes = await serializeCheckpoint(trained.model, trained.meta);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  a.download = 'lenet.safetensors';
  a.click();
};

// ---- start ----
try {
  const g = await initDevice();
  showAdapter(g);
  const r = await fetch('api/weights');
  if (r.ok) loadWeights(new Uint8Array(await r.arrayBuffer()), r.headers.get('X-Weights-Name') ?? 'served weights');
  document.body.dataset.ready = 'true';
} catch (e) {
  $('no-webgpu').hidden = (e as Error).name !== 'NoAdapterError';
  $('no-webgpu-detail').textContent = (e as Error).message;
  $('adapter-name').textContent = 'no WebGPU';
  if ($('no-webgpu').hidden) showError(e);
  document.body.dataset.ready = 'error';
}
