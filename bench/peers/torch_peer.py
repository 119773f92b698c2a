#!/usr/bin/env python3
"""PyTorch peer for bench/: times the cases it is sent and answers in JSON lines.

Protocol (bench/peers/peer.ts is the other end):
  stdin   one JSON object: {"device": "auto" | "cpu" | "cuda", "threads": int or null,
          "cases": [case, ...]}; each case has an "id" and a "kind":
            matmul  {"n"}                             C = A @ B, n x n
            conv2d  {"x": [N,C,H,W], "w": [O,C,KH,KW], "stride", "padding",
                     "what": "forward" | "backward input" | "backward weight"}
            train   {"model", "config", "batch", "lr", "clip"}   one training step per sample
            infer   {"model", "config", "batch"}                 one eval-mode forward per sample
          and every case "runs" and "warmup" (and optionally "minSeconds": sample on, up to 50
          samples, until that much time has passed).
  stdout  one JSON object a line: first {"type": "info", ...}, then for each case either
          {"type": "result", "id", "median", "min", "max", "runs", "reps"} (seconds per call; on CUDA
          kernels also "gpu": {"median", "min", "max"}, the same calls timed with CUDA events) or
          {"type": "error", "id", "message"}; then {"type": "done"}.

A kernel sample repeats the call `reps` times (chosen in warm-up so a sample lasts >= 20 ms)
and counts the mean; a model sample is one step. Every sample ends with the device synchronised
(and a training step with its loss read back), so GPU work is waited for. Data is random and
made before timing; each step still copies its batch from host memory to the device, as a
training loop does.
Settings: float32, TF32 off, cudnn.benchmark on (autotuned during warm-up), CPU threads = the
"threads" asked for, else every core.
"""
import json
import math
import os
import sys
import time
import traceback

import torch
import torch.nn.functional as F

from torch_models import build, restore_speed_settings


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def pick_device(want):
    if want == 'cuda' or (want == 'auto' and torch.cuda.is_available()):
        return torch.device('cuda')
    return torch.device('cpu')


def timed(fn, sync, runs, warmup, min_sample=0.0, min_seconds=0.0):
    def sample(reps):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        return (time.perf_counter() - t0) / reps
    for _ in range(max(warmup, 1 if min_sample else 0)):
        t = sample(1)
    reps = max(1, math.ceil(min_sample / t)) if min_sample else 1
    samples, start = [], time.perf_counter()
    while len(samples) < runs or (time.perf_counter() - start < min_seconds and len(samples) < 50):
        samples.append(sample(reps))
    samples.sort()
    return {'median': samples[len(samples) // 2], 'min': samples[0], 'max': samples[-1], 'runs': len(samples), 'reps': reps}


def gpu_timed(fn, runs, reps):
    """Seconds per call on the GPU clock (CUDA events around `reps` calls), `runs` samples."""
    samples = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / reps)
    samples.sort()
    return {'median': samples[len(samples) // 2], 'min': samples[0], 'max': samples[-1]}


def filled(shape, dev):
    return torch.randn(*shape, device=dev, dtype=torch.float32)


def matmul_case(c, dev):
    a, b = filled((c['n'], c['n']), dev), filled((c['n'], c['n']), dev)
    return lambda: torch.matmul(a, b)


def conv2d_case(c, dev):
    x, w = filled(c['x'], dev), filled(c['w'], dev)
    stride, padding = c.get('stride', 1), c.get('padding', 0)
    b = filled((c['w'][0],), dev)
    y = F.conv2d(x, w, b, stride=stride, padding=padding)
    dy = filled(tuple(y.shape), dev)
    what = c['what']
    if what == 'forward':
        return lambda: F.conv2d(x, w, b, stride=stride, padding=padding)
    if what == 'backward input':
        return lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=stride, padding=padding)
    if what == 'backward weight':
        return lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=stride, padding=padding)
    raise ValueError(f'unknown conv2d case {what!r}')


def model_case(c, dev):
    cfg = c['config']
    torch.manual_seed(0)
    model = build(c['model'], cfg).to(dev)
    n, ch, s, k = c['batch'], cfg['channels'], cfg['imageSize'], cfg['numClasses']
    xh = torch.randn(n, ch, s, s)
    yh = torch.randint(0, k, (n,))
    if dev.type == 'cuda':
        xh, yh = xh.pin_memory(), yh.pin_memory()
    if c['kind'] == 'infer':
        model.eval()

        def infer():
            with torch.no_grad():
                return model(xh.to(dev)).cpu()
        return infer
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=c.get('lr', 1e-3))
    clip = c.get('clip', 1.0)

    def step():
        loss = F.cross_entropy(model(xh.to(dev)), yh.to(dev))
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()
    return step


CASES = {'matmul': matmul_case, 'conv2d': conv2d_case, 'train': model_case, 'infer': model_case}
KERNELS = ('matmul', 'conv2d')


def main():
    req = json.load(sys.stdin)
    threads = req.get('threads') or os.cpu_count()
    restore_speed_settings(threads)
    dev = pick_device(req.get('device', 'auto'))
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    name = torch.cuda.get_device_name(0) if dev.type == 'cuda' else f'CPU, {torch.get_num_threads()} threads'
    emit({'type': 'info', 'torch': torch.__version__, 'device': dev.type, 'name': name,
          'threads': torch.get_num_threads(), 'tf32': torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32})
    for c in req['cases']:
        try:
            fn = CASES[c['kind']](c, dev)
            min_sample = 0.02 if c['kind'] in KERNELS else 0.0
            t = timed(fn, sync, c.get('runs', 5), c.get('warmup', 2), min_sample, c.get('minSeconds', 0.0))
            if dev.type == 'cuda' and c['kind'] in KERNELS:
                t['gpu'] = gpu_timed(fn, c.get('runs', 5), t['reps'])
            emit({'type': 'result', 'id': c['id'], **t})
        except Exception as e:  # report and go on with the next case
            traceback.print_exc(file=sys.stderr)
            emit({'type': 'error', 'id': c['id'], 'message': f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'})
        finally:
            if dev.type == 'cuda':
                torch.cuda.empty_cache()
    emit({'type': 'done'})


if __name__ == '__main__':
    main()
