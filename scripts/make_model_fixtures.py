#!/usr/bin/env python3
"""Writes small PyTorch reference fixtures for the six image classifiers of the seed document.

Run with Debian's PyTorch (torch 1.13, torchvision 0.14), from anywhere:

    /usr/bin/python3 scripts/make_model_fixtures.py [--out DIR]

Writes test/fixtures/models/<name>.safetensors for name in dnn, lenet, vgg16, resnet18, birnn, vit.
Each file (F32, except labels and num_batches_tracked as I64) holds, in this order:

  init.<key>     every state_dict entry (parameters and buffers) before training
  input          (N, C, S, S) float input, torch.randn after the model is built
  labels         (N,) int64, arange(N) % K
  eval.logits    model.eval() logits on input
  train.loss     [1] mean cross-entropy, train mode with every dropout p = 0, from init
  grad.<param>   gradient of train.loss for every parameter (named_parameters order)
  adam3.<key>    every state_dict entry after three steps, from init, of: zero_grad, forward (train
                 mode, dropout 0), CE loss, backward, clip_grad_norm_(params, 1.0), Adam(lr=1e-3).step()

__metadata__: model, config (JSON, camelCase), torch, torchvision, batch, seed, and for debugging
adam3.losses / adam3.gradNorms (JSON lists: the loss and the pre-clip total gradient norm of each
of the three steps).

Initialisation: torch.manual_seed(0), then PyTorch's default inits (torchvision's for resnet18:
kaiming-normal fan_out convs), then, so that eval mode and the affine parameters are really tested:
BatchNorm running_mean ~ U(-0.5, 0.5), running_var ~ U(0.5, 1.5), weight ~ U(0.5, 1.5), bias ~
U(-0.5, 0.5); LayerNorm weight ~ U(0.5, 1.5), bias ~ U(-0.5, 0.5); ViT cls_token and
position_embeddings ~ 0.02 * randn; VGG16 conv/linear weights kaiming-normal (fan_in), because the
default init leaves the 13-conv stack's output ~1e-5 and every image's logits equal to 1e-7.

Modules are written by hand so that parameter names and state_dict order mirror the TypeScript
engine's (and torchvision's resnet18 / Hugging Face's ViTForImageClassification). At the seed's
default sizes their parameter counts are asserted against the seed's table; the resnet18 key list
is asserted against torchvision's, and the hand-written resnet18 / ViT forward passes are checked
against torchvision's resnet18 / nn.TransformerEncoderLayer.

The safetensors files are written by hand (struct + json, no safetensors package), then parsed
back and compared bit for bit with the tensors they were written from.
"""
import argparse
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from safetensors_io import DTYPES, read_safetensors, to_bytes, write_safetensors

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
torch.set_num_interop_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 4
SEED = 0
MAX_FILE_BYTES = 600 * 1024


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

class DNN(nn.Module):
    """The seed's DNN, without the ReLU it puts on the logits."""

    def __init__(self, imageSize=224, channels=3, numClasses=2, hidden=(256, 128), dropout=0.5):
        super().__init__()
        h1, h2 = hidden
        self.layer1 = nn.Linear(channels * imageSize * imageSize, h1)
        self.dropout1 = nn.Dropout(dropout)
        self.layer2 = nn.Linear(h1, h2)
        self.dropout2 = nn.Dropout(dropout)
        self.layer3 = nn.Linear(h2, numClasses)

    def forward(self, x):
        x = x.reshape(x.size(0), -1)
        x = F.relu(self.layer1(x))
        x = self.dropout1(x)
        x = F.relu(self.layer2(x))
        x = self.dropout2(x)
        return self.layer3(x)


class LeNet(nn.Module):
    def __init__(self, imageSize=224, channels=3, numClasses=2):
        super().__init__()
        s = ((imageSize - 4) // 2 - 4) // 2
        assert s >= 1, f'LeNet needs imageSize >= 16, got {imageSize}'
        self.flat = 16 * s * s
        self.conv1 = nn.Conv2d(channels, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(self.flat, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, numClasses)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.reshape(-1, self.flat)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class VGG16(nn.Module):
    def __init__(self, imageSize=224, channels=3, numClasses=2, width=64, hidden=(512, 128), dropout=0.5):
        super().__init__()
        w = width
        plan = [w, w, 'M', 2 * w, 2 * w, 'M', 4 * w, 4 * w, 4 * w, 'M', 8 * w, 8 * w, 8 * w, 'M', 8 * w, 8 * w, 8 * w, 'M']
        layers, c = [], channels
        for v in plan:
            if v == 'M':
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        assert isinstance(self.features[28], nn.Conv2d) and len(self.features) == 31
        a, b = hidden
        s = imageSize // 32
        assert s >= 1, f'VGG16 needs imageSize >= 32, got {imageSize}'
        self.classifier = nn.Sequential(
            nn.Linear(8 * w * s * s, a),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(a, b),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(b, numClasses),
        )

    def forward(self, x):
        x = self.features(x)
        x = x.reshape(x.size(0), -1)
        return self.classifier(x)


# ResNet18, mirroring torchvision/models/resnet.py (BasicBlock, _make_layer, init) with a width knob.
def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    def __init__(self, imageSize=224, channels=3, numClasses=2, width=64):
        super().__init__()
        w = width
        self.inplanes = w
        self.conv1 = nn.Conv2d(channels, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(w, 2)
        self.layer2 = self._make_layer(2 * w, 2, stride=2)
        self.layer3 = self._make_layer(4 * w, 2, stride=2)
        self.layer4 = self._make_layer(8 * w, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * w, numClasses)
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class BiRNN(nn.Module):
    def __init__(self, imageSize=224, channels=3, numClasses=2, hidden=256, layers=4, dropout=0.5):
        super().__init__()
        self.hidden_size = hidden
        self.num_layers = layers
        self.lstm = nn.LSTM(channels * imageSize, hidden, layers, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(hidden * 2, numClasses)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        n, c, s, _ = x.shape
        x = x.permute(0, 2, 1, 3).reshape(n, s, c * s)  # row t = the t-th image row of every channel
        h0 = x.new_zeros(self.num_layers * 2, n, self.hidden_size)
        c0 = x.new_zeros(self.num_layers * 2, n, self.hidden_size)
        out, _ = self.lstm(x, (h0, c0))
        out = self.dropout(out)
        return self.fc(out[:, -1, :])


# ViT, mirroring transformers' ViTForImageClassification (no pooler, no mask token, dropout 0).
class ViTPatchEmbeddings(nn.Module):
    def __init__(self, channels, hidden, patch):
        super().__init__()
        self.projection = nn.Conv2d(channels, hidden, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.projection(x).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, imageSize, patchSize, channels, hidden):
        super().__init__()
        assert imageSize % patchSize == 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden))
        self.patch_embeddings = ViTPatchEmbeddings(channels, hidden, patchSize)
        self.position_embeddings = nn.Parameter(torch.zeros(1, (imageSize // patchSize) ** 2 + 1, hidden))

    def forward(self, x):
        e = self.patch_embeddings(x)
        cls = self.cls_token.expand(e.shape[0], -1, -1)
        return torch.cat((cls, e), dim=1) + self.position_embeddings


class ViTSelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        assert hidden % heads == 0
        self.heads, self.head_size = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split(self, t):
        n, T, _ = t.shape
        return t.view(n, T, self.heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        probs = F.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)


class ViTSelfOutput(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x):
        return self.dense(x)


class ViTAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.attention = ViTSelfAttention(hidden, heads)
        self.output = ViTSelfOutput(hidden)

    def forward(self, x):
        return self.output(self.attention(x))


class ViTIntermediate(nn.Module):
    def __init__(self, hidden, intermediate):
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)

    def forward(self, x):
        return F.gelu(self.dense(x))  # exact (erf) GELU, HF's "gelu"


class ViTOutput(nn.Module):
    def __init__(self, hidden, intermediate):
        super().__init__()
        self.dense = nn.Linear(intermediate, hidden)

    def forward(self, x, residual):
        return self.dense(x) + residual


class ViTLayer(nn.Module):
    def __init__(self, hidden, heads, intermediate, eps):
        super().__init__()
        self.attention = ViTAttention(hidden, heads)
        self.intermediate = ViTIntermediate(hidden, intermediate)
        self.output = ViTOutput(hidden, intermediate)
        self.layernorm_before = nn.LayerNorm(hidden, eps=eps)
        self.layernorm_after = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x):
        h = self.attention(self.layernorm_before(x)) + x
        return self.output(self.intermediate(self.layernorm_after(h)), h)


class ViTEncoder(nn.Module):
    def __init__(self, hidden, layers, heads, intermediate, eps):
        super().__init__()
        self.layer = nn.ModuleList([ViTLayer(hidden, heads, intermediate, eps) for _ in range(layers)])

    def forward(self, x):
        for layer in self.layer:
            x = layer(x)
        return x


class ViTModel(nn.Module):
    def __init__(self, imageSize, patchSize, channels, hidden, layers, heads, intermediate, eps):
        super().__init__()
        self.embeddings = ViTEmbeddings(imageSize, patchSize, channels, hidden)
        self.encoder = ViTEncoder(hidden, layers, heads, intermediate, eps)
        self.layernorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x):
        return self.layernorm(self.encoder(self.embeddings(x)))


class ViT(nn.Module):
    def __init__(self, imageSize=224, patchSize=16, channels=3, hidden=768, layers=12, heads=12,
                 intermediate=3072, layerNormEps=1e-12, numClasses=2):
        super().__init__()
        self.vit = ViTModel(imageSize, patchSize, channels, hidden, layers, heads, intermediate, layerNormEps)
        self.classifier = nn.Linear(hidden, numClasses)

    def forward(self, x):
        return self.classifier(self.vit(x)[:, 0, :])


MODELS = {'dnn': DNN, 'lenet': LeNet, 'vgg16': VGG16, 'resnet18': ResNet18, 'birnn': BiRNN, 'vit': ViT}

# The small configurations the fixtures use (camelCase, as the TypeScript configs name them).
CONFIGS = {
    'dnn': {'imageSize': 6, 'channels': 3, 'numClasses': 3, 'hidden': [32, 16], 'dropout': 0.5},
    'lenet': {'imageSize': 16, 'channels': 3, 'numClasses': 3},
    # width 3, not 4: at width 4 the file would be ~700 KB (58k conv weights, stored three times).
    'vgg16': {'imageSize': 32, 'channels': 3, 'numClasses': 2, 'width': 3, 'hidden': [16, 8], 'dropout': 0.5},
    'resnet18': {'imageSize': 32, 'channels': 3, 'numClasses': 3, 'width': 3},
    'birnn': {'imageSize': 6, 'channels': 3, 'numClasses': 2, 'hidden': 5, 'layers': 2, 'dropout': 0.5},
    'vit': {'imageSize': 16, 'patchSize': 4, 'channels': 3, 'hidden': 16, 'layers': 2, 'heads': 2,
            'intermediate': 32, 'layerNormEps': 1e-12, 'numClasses': 3},
}

# The seed's table of parameter counts, at the seed's sizes (224 x 224 x 3, two classes).
SEED_COUNTS = {'vgg16': 27_626_178, 'lenet': 5_406_606, 'resnet18': 11_177_538, 'birnn': 6_636_546,
               'dnn': 38_568_578, 'vit': 85_800_194}


def count(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------
# Structural checks
# ----------------------------------------------------------------------------------------------

def check_default_counts():
    torch.manual_seed(1234)  # the fixtures reseed; this only keeps the run reproducible
    for name, cls in MODELS.items():
        m = cls()
        n = count(m)
        assert n == SEED_COUNTS[name], f'{name}: {n:,} parameters at the defaults, the seed says {SEED_COUNTS[name]:,}'
        if name == 'resnet18':
            fc = m.fc.weight.numel() + m.fc.bias.numel()
            assert fc == 1_026, fc
        print(f'  {name:9s} default parameter count {n:,} == seed table')
        del m


def write_default_keys(path):
    """Every model's state_dict keys and shapes at the seed's defaults, in order (for the key tests)."""
    out = {}
    for name, cls in MODELS.items():
        m = cls()
        out[name] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
        del m
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
    print(f'  wrote {path}')


def check_resnet_against_torchvision():
    torch.manual_seed(1234)
    ref = torchvision.models.resnet18()
    ours = ResNet18(imageSize=224, channels=3, numClasses=1000, width=64)
    a = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    b = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert a == b, 'resnet18 state_dict keys/shapes differ from torchvision.models.resnet18()'
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in ref.named_parameters()]
    randomize_batchnorm(ref)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 64, 64)
    for mode in ('eval', 'train'):
        getattr(ref, mode)(); getattr(ours, mode)()
        with torch.no_grad():
            ya, yb = ours(x), ref(x)
        assert torch.equal(ya, yb), f'resnet18 {mode} forward differs from torchvision'
    print(f'  resnet18  state_dict ({len(a)} entries) and forward == torchvision.models.resnet18()')


def check_vit_against_transformer_layer():
    """Our ViT layer == nn.TransformerEncoderLayer(norm_first, gelu) with the weights mapped over."""
    torch.manual_seed(1234)
    D, H, I = 16, 2, 32
    ours = ViTLayer(D, H, I, 1e-12)
    randomize_layernorm(ours)
    ref = nn.TransformerEncoderLayer(D, H, I, dropout=0.0, activation='gelu', layer_norm_eps=1e-12,
                                     batch_first=True, norm_first=True)
    att = ours.attention
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([att.attention.query.weight, att.attention.key.weight, att.attention.value.weight]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([att.attention.query.bias, att.attention.key.bias, att.attention.value.bias]))
        ref.self_attn.out_proj.weight.copy_(att.output.dense.weight)
        ref.self_attn.out_proj.bias.copy_(att.output.dense.bias)
        ref.linear1.load_state_dict(ours.intermediate.dense.state_dict())
        ref.linear2.load_state_dict(ours.output.dense.state_dict())
        ref.norm1.load_state_dict(ours.layernorm_before.state_dict())
        ref.norm2.load_state_dict(ours.layernorm_after.state_dict())
    ref.train()  # train mode avoids the fused fast path; dropout is 0
    x = torch.randn(3, 5, D)
    with torch.no_grad():
        err = (ours(x) - ref(x)).abs().max().item()
    assert err < 1e-5, f'ViT layer differs from nn.TransformerEncoderLayer by {err}'
    print(f'  vit       encoder layer == nn.TransformerEncoderLayer(norm_first, gelu) (max diff {err:.1e})')


# ----------------------------------------------------------------------------------------------
# Fixture generation
# ----------------------------------------------------------------------------------------------

def randomize_batchnorm(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


def randomize_layernorm(model):
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


def randomize(model):
    """Make buffers and default-constant parameters non-trivial so eval mode is a real test."""
    randomize_batchnorm(model)
    randomize_layernorm(model)
    if isinstance(model, VGG16):
        # PyTorch's default conv init (variance 1/(3 fan_in)) shrinks the signal ~6x in variance per
        # conv+ReLU: after 13 convs the features are ~1e-5 and the eval logits are the same for every
        # image to 1e-7, so the fixture would test only the classifier's biases. Kaiming-normal (fan_in)
        # weights keep the signal alive; the default-initialised biases stay.
        for m in list(model.features) + list(model.classifier)[:-1]:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode='fan_in', nonlinearity='relu')
        nn.init.kaiming_normal_(model.classifier[-1].weight, mode='fan_in', nonlinearity='linear')
    if isinstance(model, ViT):
        e = model.vit.embeddings
        with torch.no_grad():
            e.cls_token.copy_(torch.randn_like(e.cls_token) * 0.02)
            e.position_embeddings.copy_(torch.randn_like(e.position_embeddings) * 0.02)


def zero_dropout(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, nn.LSTM):
            assert m.dropout == 0.0  # the seed's LSTM has no inter-layer dropout


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def make_fixture(name, dtype=torch.float32):
    """The fixture's tensors, in file order. With dtype=float64 the same model and input are run in
    double precision (the stored init/input stay the float32 ones) for the conditioning check."""
    cfg = CONFIGS[name]
    torch.manual_seed(SEED)
    model = MODELS[name](**cfg)
    randomize(model)
    S, C, K = cfg['imageSize'], cfg['channels'], cfg['numClasses']
    x = torch.randn(BATCH, C, S, S)
    y = torch.arange(BATCH, dtype=torch.int64) % K
    init = snapshot(model)
    out = [(f'init.{k}', v) for k, v in init.items()]
    out += [('input', x), ('labels', y)]
    if dtype != torch.float32:
        model.to(dtype)
        x = x.to(dtype)
        init = snapshot(model)

    # 2. eval-mode logits
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (BATCH, K)
    out.append(('eval.logits', logits))

    # 3. one train-mode forward/backward from init, every dropout off
    model.load_state_dict(init)
    model.train()
    zero_dropout(model)
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    out.append(('train.loss', loss.detach().reshape(1)))
    for k, p in model.named_parameters():
        assert p.grad is not None, f'{name}: no gradient for {k}'
        out.append((f'grad.{k}', p.grad.detach().clone()))

    # 4. three clipped Adam steps from init
    model.load_state_dict(init)
    model.zero_grad(set_to_none=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False)
    losses, norms = [], []
    for _ in range(3):
        opt.zero_grad()
        step_loss = F.cross_entropy(model(x), y)
        step_loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
        opt.step()
        losses.append(float(step_loss))
    out += [(f'adam3.{k}', v) for k, v in snapshot(model).items()]

    meta = {
        'model': name,
        'config': json.dumps(cfg, separators=(',', ':')),
        'torch': torch.__version__,
        'torchvision': torchvision.__version__,
        'batch': str(BATCH),
        'seed': str(SEED),
        'adam3.losses': json.dumps([float(f'{v:.9g}') for v in losses]),
        'adam3.gradNorms': json.dumps([float(f'{v:.9g}') for v in norms]),
    }
    stats = {'params': count(model), 'entries': len(init), 'loss': float(loss), 'losses': losses, 'norms': norms}
    return out, meta, stats


# ----------------------------------------------------------------------------------------------
# safetensors, by hand
# ----------------------------------------------------------------------------------------------

def verify(path, tensors, meta):
    got_meta, got = read_safetensors(path)
    assert got_meta == meta, 'metadata round-trip'
    assert list(got) == [k for k, _ in tensors], 'tensor order round-trip'
    for k, t in tensors:
        dtype, arr = got[k]
        assert dtype == DTYPES[t.dtype][0] and list(arr.shape) == list(t.shape), k
        assert arr.tobytes() == to_bytes(t), f'{k}: bytes differ after re-reading'
        assert np.all(np.isfinite(arr)), f'{k}: non-finite values'
    # and once more through torch, for the values themselves
    for k, t in tensors:
        back = torch.from_numpy(got[k][1].copy())
        assert torch.equal(back, t.detach().cpu()), k


def check_conditioning(name, tensors):
    """Rerun the fixture in float64 and compare: a fixture whose float32 results move by more than the
    tests' tolerances under a change of rounding (a ReLU or max-pool decision flipping, say) would fail
    any correct engine. Returns the worst max|f32 - f64| / max|f64| of each section."""
    ref = dict(make_fixture(name, torch.float64)[0])
    worst = {}
    for k, t in tensors:
        section = k.split('.')[0]
        if section in ('init', 'input', 'labels') or t.dtype == torch.int64:
            continue
        r = ref[k]
        err = (t.double() - r).abs().max().item() / max(r.abs().max().item(), 1e-30)
        if k in ZERO_GRAD_NOISE.get(name, ()):  # roundoff-only gradients: compare absolutely
            err = (t.double() - r).abs().max().item()
            section += '(abs, roundoff-only key.bias)'
        worst[section] = max(worst.get(section, 0.0), err)
    return worst


# Gradients that are zero in exact arithmetic, so PyTorch's stored values (and hence the Adam updates
# built on them) are roundoff: the key bias adds q.b_k to a whole row of attention scores, which the
# softmax ignores. Tests should compare these absolutely, not relatively: the stored gradients are
# ~4e-9, and Adam (eps 1e-8) turns that noise into updates of up to ~3e-4 over the three steps.
ZERO_GRAD_NOISE = {'vit': tuple(f'{s}.vit.encoder.layer.{i}.attention.attention.key.bias'
                                for s in ('grad', 'adam3') for i in range(CONFIGS['vit']['layers']))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'models'))
    ap.add_argument('--skip-checks', action='store_true', help='skip the default-size and reference checks')
    args = ap.parse_args()
    print(f'torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}')
    if not args.skip_checks:
        print('structure checks:')
        check_default_counts()
        check_resnet_against_torchvision()
        check_vit_against_transformer_layer()
        write_default_keys(os.path.join(args.out, 'default_keys.json'))

    os.makedirs(args.out, exist_ok=True)
    total = 0
    print('fixtures:')
    for name in MODELS:
        tensors, meta, st = make_fixture(name)
        path = os.path.join(args.out, f'{name}.safetensors')
        write_safetensors(path, tensors, meta)
        verify(path, tensors, meta)
        size = os.path.getsize(path)
        total += size
        assert size < MAX_FILE_BYTES, f'{path} is {size} bytes; shrink its config'
        clipped = sum(n > 1.0 for n in st['norms'])
        print(f'  {name:9s} {size:8,d} B  params {st["params"]:7,d}  state entries {st["entries"]:3d}  '
              f'train.loss {st["loss"]:.6f}  adam losses {", ".join(f"{v:.5f}" for v in st["losses"])}  '
              f'grad norms {", ".join(f"{v:.4f}" for v in st["norms"])} (clipped {clipped}/3)')
        print(f'  {"":9s} config {meta["config"]}')
        if not args.skip_checks:
            worst = check_conditioning(name, tensors)
            print(f'  {"":9s} float32 vs float64 worst max-relative error: '
                  + ', '.join(f'{k} {v:.1e}' for k, v in worst.items()))
    print(f'total {total:,} bytes in {args.out}')


if __name__ == '__main__':
    sys.exit(main())
