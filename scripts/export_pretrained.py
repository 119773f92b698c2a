#!/usr/bin/env python3
"""Writes pretrained weights in the formats `train --pretrained` reads.

  resnet18: torchvision's ImageNet weights as a safetensors state dict
            (python3 scripts/export_pretrained.py resnet18 pretrained/resnet18.safetensors)
  vit:      google/vit-base-patch16-224 as a Hugging Face folder: config.json,
            model.safetensors, preprocessor_config.json
            (python3 scripts/export_pretrained.py vit pretrained/vit-base-patch16-224)

Needs PyTorch and torchvision (resnet18) or transformers (vit), and their own download
of the weights (or a warm cache). The engine itself never downloads anything.
"""
import json
import os
import struct
import sys


def write_safetensors(path, state, metadata=None):
    """A state dict of torch tensors -> safetensors (F32, and I64 for integer buffers)."""
    import torch

    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        if t.dtype.is_floating_point:
            t, dtype = t.to(torch.float32), "F32"
        else:
            t, dtype = t.to(torch.int64), "I64"
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def resnet18(out):
    import torchvision

    model = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.DEFAULT)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    write_safetensors(out, model.state_dict())
    print(f"wrote {out}: torchvision resnet18 ({sum(p.numel() for p in model.parameters()):,} parameters)")


def vit(out, name="google/vit-base-patch16-224"):
    from transformers import ViTForImageClassification, ViTImageProcessor

    model = ViTForImageClassification.from_pretrained(name)
    processor = ViTImageProcessor.from_pretrained(name)
    os.makedirs(out, exist_ok=True)
    model.config.to_json_file(os.path.join(out, "config.json"))
    processor.save_pretrained(out)
    write_safetensors(os.path.join(out, "model.safetensors"), model.state_dict(), {"format": "pt"})
    print(f"wrote {out}: {name} ({sum(p.numel() for p in model.parameters()):,} parameters)")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("resnet18", "vit"):
        sys.exit(__doc__)
    {"resnet18": resnet18, "vit": vit}[sys.argv[1]](sys.argv[2])
