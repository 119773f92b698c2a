// One model against its PyTorch fixture (scripts/make_model_fixtures.py), with no test
// runner: eval logits, the gradients of the mean cross-entropy in training mode (dropout 0,
// BatchNorm on batch statistics), and every state entry after three clipped Adam steps.
// fixtures.test.ts runs it under Node for the six models, test/browser/ in Chromium.
import { parseSafetensors, toFloat32, toInt32, type TensorData } from '../../src/io/safetensors.js';
import { Tensor, tidy } from '../../src/engine/tensor.js';
import { backward, noGrad } from '../../src/autograd/tape.js';
import { crossEntropy } from '../../src/autograd/softmax.js';
import { HostInt, type Module } from '../../src/nn/module.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Adam, gradNormScale } from '../../src/optim/index.js';
import { MODELS, type ImageConfig } from '../../src/models/index.js';
import { expectClose } from '../check.js';

type Fixture = ReturnType<typeof parseFixture>;

export function parseFixture(bytes: Uint8Array, name: string) {
  const f = parseSafetensors(bytes, name);
  const prefixed = (p: string) => new Map([...f.tensors].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v] as [string, TensorData]));
  return { config: JSON.parse(f.metadata.config) as ImageConfig, t: f.tensors, init: prefixed('init.'), grad: prefixed('grad.'), adam3: prefixed('adam3.') };
}

function build(name: keyof typeof MODELS, fx: Fixture): Module {
  const m = (MODELS[name] as { create(c: ImageConfig): Module }).create(fx.config);
  m.loadStateDict(fx.init, { source: `${name} fixture` });
  for (const [, mod] of m.namedModules()) if (mod instanceof Dropout) mod.p = 0;
  return m;
}

function batch(fx: Fixture) {
  const x = fx.t.get('input')!, y = fx.t.get('labels')!;
  return { x: Tensor.from(toFloat32(x), x.shape), y: Tensor.from(toInt32(y), y.shape, 'i32') };
}

/** Values near zero are compared absolutely: rtol against the tensor's own scale. */
async function compare(got: Tensor, want: TensorData, rtol: number, what: string, atol = 0): Promise<void> {
  const w = toFloat32(want);
  const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(await got.read(), w, atol + rtol * scale * 0.1, rtol, what);
}

/** Throws on the first mismatch. */
export async function checkModelFixture(name: keyof typeof MODELS, bytes: Uint8Array): Promise<void> {
  const fx = parseFixture(bytes, `${name} fixture`);
  // eval logits
  let m = build(name, fx);
  m.eval();
  const logits = noGrad(() => tidy(() => { const { x } = batch(fx); return m.forward(x); }));
  await compare(logits, fx.t.get('eval.logits')!, 1e-4, `${name} eval logits`);
  logits.dispose();
  m.dispose();

  // gradients in training mode
  m = build(name, fx);
  m.train();
  const loss = tidy(() => {
    const { x, y } = batch(fx);
    const l = crossEntropy(m.forward(x), y);
    backward(l);
    return l;
  });
  await compare(loss, fx.t.get('train.loss')!, 1e-4, `${name} loss`);
  loss.dispose();
  for (const [k, p] of m.namedParameters()) {
    // NOTE: ViT's key bias has a zero gradient (softmax ignores a per-row shift): compare absolutely.
    const atol = k.endsWith('key.bias') ? 1e-6 : 1e-7;
    await compare(p.grad!, fx.grad.get(k)!, 1e-3, `${name} grad ${k}`, atol);
  }
  m.dispose();

  // three clipped Adam steps
  m = build(name, fx);
  m.train();
  const opt = new Adam(m.parameters(), { lr: 1e-3 });
  for (let step = 0; step < 3; step++) {
    tidy(() => {
      const { x, y } = batch(fx);
      backward(crossEntropy(m.forward(x), y));
      opt.step({ gradScale: gradNormScale(opt.params, 1.0).scale });
      opt.zeroGrad();
    });
  }
  for (const [k, v] of m.stateDict()) {
    const want = fx.adam3.get(k)!;
    if (v instanceof HostInt) {
      if (v.value !== Number(want.data[0])) throw new Error(`${name} adam3 ${k}: got ${v.value}, want ${want.data[0]}`);
    } else await compare(v, want, 1e-3, `${name} adam3 ${k}`, k.endsWith('key.bias') ? 2e-3 : 1e-7);
  }
  opt.dispose();
  m.dispose();
}
