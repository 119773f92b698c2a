"""safetensors files for the scripts: written atomically (a .tmp file, then rename), read back
with every offset checked. Tensors are torch float32 (F32) or int64 (I64)."""
import json
import math
import os
import struct

import numpy as np
import torch

DTYPES = {torch.float32: ('F32', '<f4'), torch.int64: ('I64', '<i8')}


def to_bytes(t):
    _, np_dtype = DTYPES[t.dtype]
    return t.detach().contiguous().numpy().astype(np_dtype, copy=False).tobytes()


def write_safetensors(path, tensors, meta=None):
    """`tensors`: (name, tensor) pairs, in file order; `meta`: the __metadata__ strings."""
    header, chunks, off = ({'__metadata__': meta} if meta else {}), [], 0
    for name, t in tensors:
        assert name not in header, f'duplicate tensor {name}'
        raw = to_bytes(t)
        header[name] = {'dtype': DTYPES[t.dtype][0], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * (-len(h) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, 'rb') as f:
        buf = f.read()
    (n,) = struct.unpack('<Q', buf[:8])
    assert n % 8 == 0
    header = json.loads(buf[8:8 + n].decode('utf-8'))
    data = buf[8 + n:]
    meta = header.pop('__metadata__', {})
    np_dtypes = {'F32': '<f4', 'I64': '<i8'}
    tensors, pos = {}, 0
    for name, info in header.items():  # json.loads keeps file order
        b, e = info['data_offsets']
        assert b == pos, f'{name}: gap or overlap at {pos}'
        arr = np.frombuffer(data[b:e], dtype=np_dtypes[info['dtype']])
        assert arr.size == math.prod(info['shape']), name
        tensors[name] = (info['dtype'], arr.reshape(info['shape']))
        pos = e
    assert pos == len(data), 'data section not tiled exactly'
    return meta, tensors
