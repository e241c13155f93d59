"""pneumo's MobileNetV2 U-Net written in plain PyTorch, for the torch benchmarks' Python peers.

    d = torch.load("model.pt")                     # a pneumo model file (save_model_file)
    config = json.loads(d["config"])
    net = build_network(config)
    net.load_state_dict(d["tensors"], strict=True)  # same module names as the C++ network
    mask_logits, image_logits = net(normalise_input(config, batch01))

The same network as modules/model/src/encoders.cpp (MobileNetV2, torchvision 0.14 names:
encoder.features.0 .. 18) and modules/model/src/networks.cpp (arch "unet": decoder.blocks.0..4,
each conv1/conv2 = Conv-BN-ReLU, nearest x2 upsampling and concatenation of the encoder skip,
then segmentation_head, a 3x3 conv to one logit per pixel; image logit = max of the mask
logits). Only arch "unet" with encoder "mobilenet_v2" is implemented: build_network rejects
anything else, so a benchmark never compares different networks. No torchvision needed.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F


def conv_bn_act(cin, cout, kernel, stride=1, groups=1, act=True):
    """torchvision's Conv2dNormActivation: Sequential(conv, bn[, ReLU6]) -> names .0, .1, (.2)."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers.append(conv_bn_act(cin, hidden, 1))                          # conv.0: 1x1 expand
        layers.append(conv_bn_act(hidden, hidden, 3, stride, groups=hidden))  # depthwise 3x3
        layers.append(nn.Conv2d(hidden, cout, 1, bias=False))                 # 1x1 projection
        layers.append(nn.BatchNorm2d(cout))
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Encoder(nn.Module):
    CHANNELS = (16, 24, 32, 96, 1280)
    TAPS = (1, 3, 6, 13, 18)  # outputs at strides 2, 4, 8, 16, 32

    def __init__(self, in_channels):
        super().__init__()
        features = [conv_bn_act(in_channels, 32, 3, 2)]  # features.0
        settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        cin = 32
        for t, c, n, s in settings:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(conv_bn_act(320, 1280, 1))  # features.18
        self.features = nn.Sequential(*features)

    def forward(self, x):
        taps = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.TAPS:
                taps.append(x)
        return taps


class DecoderBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    def __init__(self, enc, dec):
        super().__init__()
        blocks = []
        for k in range(5):
            cin = (enc[4] if k == 0 else dec[k - 1]) + (enc[3 - k] if k < 4 else 0)
            blocks.append(DecoderBlock(cin, dec[k]))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, f, output_size):
        x = f[4]  # [N, 1280, H/32, W/32]
        for k, block in enumerate(self.blocks):
            if k < 4:
                skip = f[3 - k]
                x = torch.cat([F.interpolate(x, size=skip.shape[2:], mode="nearest"), skip], 1)
            else:
                x = F.interpolate(x, size=output_size, mode="nearest")
            x = block(x)
        return x  # [N, dec[4], H, W]


class UNet(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.encoder = MobileNetV2Encoder(config["in_channels"])
        dec = config["decoder_channels"]
        self.decoder = UNetDecoder(MobileNetV2Encoder.CHANNELS, dec)
        self.segmentation_head = nn.Conv2d(dec[4], 1, 3, padding=1)

    def forward(self, x):
        mask = self.segmentation_head(self.decoder(self.encoder(x), x.shape[2:]))  # [N, 1, H, W]
        return mask, mask.flatten(2).max(2)[0]                                     # [N, 1]


class Joint(UNet):
    """pneumo's JointImpl (modules/model/src/networks.cpp): the U-Net plus an image head that mixes
    LSE/max/mean-pooled mask logits with a linear head on the deepest features' global average."""

    def __init__(self, config):
        super().__init__(config)
        jt = config["joint"]
        if jt.get("decoder", "unet") != "unet":
            raise ValueError("torch_unet.py implements the joint model's unet decoder only")
        self.pooling = jt.get("pooling", "lse")
        self.image_head = nn.Sequential(nn.Dropout(config.get("dropout", 0.2)),
                                        nn.Linear(MobileNetV2Encoder.CHANNELS[4], 1))
        if self.pooling == "lse":
            log_r = torch.full((1,), math.log(jt.get("lse_r", 5.0)))
            if jt.get("learn_r", True):
                self.pool_log_r = nn.Parameter(log_r)
            else:
                self.register_buffer("pool_log_r", log_r)
        self.mix = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        features = self.encoder(x)
        mask = self.segmentation_head(self.decoder(features, x.shape[2:]))  # [N, 1, H, W]
        flat = mask.flatten(2)                                              # [N, 1, H*W]
        if self.pooling == "max":
            pooled = flat.max(2)[0]
        elif self.pooling == "mean":
            pooled = flat.mean(2)
        else:
            r = self.pool_log_r.exp()
            pooled = (torch.logsumexp(flat * r, 2) - math.log(flat.shape[2])) / r
        head = self.image_head(F.adaptive_avg_pool2d(features[4], 1).flatten(1))  # [N, 1]
        m = torch.sigmoid(self.mix)
        return mask, m * pooled + (1 - m) * head


def build_network(config):
    if config.get("arch") not in ("unet", "joint") or config.get("encoder") != "mobilenet_v2":
        raise ValueError(f"torch_unet.py implements arch unet or joint + encoder mobilenet_v2 only, got "
                         f"{config.get('arch')} + {config.get('encoder')}")
    return Joint(config) if config["arch"] == "joint" else UNet(config)


def has_gate(config):
    """Whether the image head gates the mask (pneumo's Predictor: joint models, classifiers)."""
    return config.get("arch") == "joint"


def normalise_input(config, batch01):
    """pneumo::normalise_input: [N,1,H,W] in [0,1] -> replicated to in_channels, (x - mean) / std."""
    c = config["in_channels"]
    x = batch01 if batch01.shape[1] == c else batch01.expand(-1, c, -1, -1)
    mean = torch.tensor(config["normalisation"]["mean"], dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(config["normalisation"]["std"], dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def load_pneumo_model(path):
    """(config dict, network with the file's weights, in eval mode) from a pneumo model file."""
    import json
    d = torch.load(path)
    if d.get("format") != "pneumo-model-v1":
        raise ValueError(f"{path}: not a pneumo-model-v1 file (format {d.get('format')!r})")
    config = json.loads(d["config"])
    net = build_network(config)
    net.load_state_dict(d["tensors"], strict=True)
    return config, net.eval()


def bce_dice_loss(logits, target, smooth=1.0):
    """pneumo::segmentation_loss with {bce: 1, dice: 1} (modules/train/src/losses.cpp)."""
    n = logits.shape[0]
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).reshape(n, -1)
    truth = target.reshape(n, -1)
    dice = (2.0 * (prob * truth).sum(1) + smooth) / (prob.sum(1) + truth.sum(1) + smooth)
    return bce + (1.0 - dice.mean())
