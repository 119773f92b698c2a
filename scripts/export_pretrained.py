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
import os
import sys

from safetensors_io import write_safetensors


def as_pairs(state):
    """A state dict -> (name, tensor) pairs in float32, and int64 for integer buffers."""
    import torch

    return [(k, t.detach().cpu().to(torch.float32 if t.is_floating_point() else torch.int64)) for k, t in state.items()]


def resnet18(out):
    import torchvision

    model = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.DEFAULT)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    write_safetensors(out, as_pairs(model.state_dict()))
    print(f"wrote {out}: torchvision resnet18 ({sum(p.numel() for p in model.parameters()):,} parameters)")


def vit(out, name="google/vit-base-patch16-224"):
    from transformers import ViTForImageClassification, ViTImageProcessor

    model = ViTForImageClassification.from_pretrained(name)
    processor = ViTImageProcessor.from_pretrained(name)
    os.makedirs(out, exist_ok=True)
    model.config.to_json_file(os.path.join(out, "config.json"))
    processor.save_pretrained(out)
    write_safetensors(os.path.join(out, "model.safetensors"), as_pairs(model.state_dict()), {"format": "pt"})
    print(f"wrote {out}: {name} ({sum(p.numel() for p in model.parameters()):,} parameters)")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("resnet18", "vit"):
        sys.exit(__doc__)
    {"resnet18": resnet18, "vit": vit}[sys.argv[1]](sys.argv[2])
