"""The six PyTorch models of the seed, for the benchmark's PyTorch peer.

The definitions are the ones scripts/make_model_fixtures.py writes the test fixtures with (the
seed's models, parametrised like the TypeScript configs: camelCase keyword arguments, the same
parameter names and shapes), imported rather than copied so that the two cannot drift apart.

Importing that script sets process-wide switches meant for reproducible fixtures (deterministic
algorithms, one thread); `build` is used after `restore_speed_settings` undoes them.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts'))

import torch  # noqa: E402
import make_model_fixtures as fixtures  # noqa: E402

MODELS = fixtures.MODELS  # name -> nn.Module class: dnn, lenet, vgg16, resnet18, birnn, vit


def restore_speed_settings(threads):
    """Undo the fixture script's switches: any algorithm, `threads` CPU threads, no TF32."""
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True


def build(name, config):
    """The model `name` with the TypeScript config (camelCase keys, as MODELS[name] takes them)."""
    if name not in MODELS:
        raise ValueError(f'unknown model {name!r} (choose one of {", ".join(MODELS)})')
    cls = MODELS[name]
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
