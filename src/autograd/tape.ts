// Reverse-mode autograd: each recorded op keeps its inputs, the tensors it saved and
// a closure from the output gradient to the input gradients. backward() walks the
// graph once in reverse topological order; as it goes it frees each gradient once used
// and each node's owned tensors (made only for its backward) once it has run, and unlinks
// the node. Saved inputs and outputs are tensors of the forward: the scope that made them
// (tidy) frees them when it ends.

import { sameShape, Tensor } from '../engine/tensor.js';
import { axpy, binary, full, unary } from '../engine/shaders/elementwise.js';
import { moveMany } from '../engine/shaders/layout.js';

export interface Node {
  inputs: readonly (Tensor | null)[];
  backward: (dy: Tensor) => readonly (Tensor | null)[];
  /** Tensors made only for backward (masks, statistics): freed once it has run. */
  owned: readonly Tensor[];
}

let enabled = true;

/**
 * Where a leaf's gradient is to live (a slot of an optimiser's gradient arena,
 * src/optim/flat.ts): backward moves new gradients there a few at a time (seven a
 * dispatch, moveMany), so that their own buffers are free again for the rest of the
 * backward pass.
 */
export const gradSlots = new WeakMap<Tensor, Tensor>();
const MOVE_BYTES = 64 * 2 ** 20; // gradients held before they are moved into their slots
const MOVE_COUNT = 7; // or as many as one dispatch of moveMany moves

export function isGradEnabled(): boolean {
  return enabled;
}

/** Runs fn without recording (evaluation, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Records `out` as produced from `inputs` when any of them needs a gradient. */
export function record(out: Tensor, inputs: readonly (Tensor | null)[], backward: Node['backward'], owned: readonly Tensor[] = []): Tensor {
  if (!enabled || !inputs.some((t) => t?.requiresGrad)) {
    for (const t of owned) t.dispose();
    return out;
  }
  out.requiresGrad = true;
  out.node = { inputs, backward, owned };
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const inputs = top[0].node?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (next && next.node && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(top[0]);
      stack.pop();
    }
  }
  return order.reverse();
}

/**
 * Back-propagates from `root` (a one-element loss, or any tensor with `grad` given),
 * accumulating into the `.grad` of every leaf that requires it.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward(): the tensor does not require grad (no recorded inputs need one)');
  if (!grad && root.size !== 1) throw new Error(`backward(): a gradient is needed for a non-scalar output of shape [${root.shape}]`);
  // Gradient tensors can be shared (an add passes dy to both inputs): count the uses.
  const refs = new Map<Tensor, number>();
  const hold = (g: Tensor) => refs.set(g, (refs.get(g) ?? 0) + 1);
  const drop = (g: Tensor) => {
    const n = refs.get(g)! - 1;
    if (n > 0) refs.set(g, n);
    else {
      refs.delete(g);
      if (!g.kept) g.dispose();
    }
  };
  const moves: Tensor[] = [];
  let moveBytes = 0;
  const moveAll = () => {
    const pairs: [Tensor, Tensor][] = [];
    for (const leaf of moves) {
      const slot = gradSlots.get(leaf);
      if (slot && !slot.disposed && leaf.grad) pairs.push([leaf.grad, slot]);
    }
    moveMany(pairs);
    moves.length = 0;
    moveBytes = 0;
  };
  const grads = new Map<Tensor, Tensor>();
  const seed = grad ?? full(root.shape, 1);
  grads.set(root, seed);
  hold(seed);
  if (grad) hold(grad); // the caller's tensor is never freed here

  for (const t of topoOrder(root)) {
    const node = t.node!;
    const g = grads.get(t);
    grads.delete(t);
    if (!g) {
      freeNode(t);
      continue;
    }
    const gs = node.backward(g);
    for (const gi of gs) if (gi) hold(gi);
    freeNode(t);
    node.inputs.forEach((inp, i) => {
      const gi = gs[i];
      if (!gi) return;
      if (inp?.requiresGrad) {
        if (gi.size !== inp.size) throw new Error(`internal: gradient of shape [${gi.shape}] for input of shape [${inp.shape}]`);
        if (!inp.node) {
          if (!inp.grad) {
            inp.grad = reshaped(refs.get(gi) === 1 && !gi.kept ? gi.view(gi.shape) : unary('copy', gi), inp.shape).keep();
            if (gradSlots.has(inp)) {
              moves.push(inp);
              moveBytes += gi.byteLength;
              if (moveBytes >= MOVE_BYTES || moves.length >= MOVE_COUNT) moveAll();
            }
          } else axpy(inp.grad, gi);
        } else {
          const prev = grads.get(inp);
          if (!prev) {
            grads.set(inp, gi);
            hold(gi);
          } else {
            const g2 = sameShape(gi.shape, prev.shape) ? gi : gi.view(prev.shape);
            const sum = binary('add', prev, g2); // one dispatch (a copy and an axpy took two)
            if (g2 !== gi) g2.dispose();
            grads.set(inp, sum);
            hold(sum);
            drop(prev);
          }
        }
      }
      drop(gi);
    });
    drop(g);
  }
  for (const g of grads.values()) drop(g);
  moveAll();
}

/** t with another shape (same buffer); t itself is released. */
function reshaped(t: Tensor, shape: readonly number[]): Tensor {
  const v = t.view(shape);
  t.dispose();
  return v;
}

function freeNode(t: Tensor): void {
  const node = t.node;
  if (!node) return;
  for (const o of node.owned) o.dispose();
  t.node = null;
}
