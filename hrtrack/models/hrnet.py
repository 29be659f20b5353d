"""HRNet for top-down pose estimation (Sun et al., CVPR 2019, section 3).

The module tree and parameter names equal the official release
(`pose_hrnet.py` of deep-high-resolution-net.pytorch), so its model-zoo
checkpoints load with `strict=True`. The network is tensor -> tensor: a
normalised RGB batch (B,3,H,W) to heatmaps (B,K,H/4,W/4).

Variants are data: `HRNetSpec` holds the stage table, `HRNET_SPECS` the widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import HrtrackError

BN_MOMENTUM = 0.1


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (stages 2-4)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 bottleneck with 4x expansion (stage 1)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


def _residual_layer(block: type, inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    downsample = None
    if inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, bias=False),
            nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM),
        )
    layers = [block(inplanes, planes, 1, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of basic blocks followed by the exchange (fuse) unit.

    Fusion into branch i: higher-resolution inputs j < i pass through i-j stride-2
    3x3 conv+BN (ReLU between them); lower-resolution inputs j > i through a 1x1
    conv + BN and nearest upsampling; the sum goes through ReLU.
    """

    def __init__(self, channels: list[int], num_blocks: int, multi_scale_output: bool = True):
        super().__init__()
        self.num_branches = len(channels)
        self.branches = nn.ModuleList(_residual_layer(BasicBlock, c, c, num_blocks) for c in channels)
        self.fuse_layers = self._make_fuse_layers(channels, multi_scale_output)
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _make_fuse_layers(channels: list[int], multi_scale_output: bool) -> nn.ModuleList | None:
        n = len(channels)
        if n == 1:
            return None
        fuse_layers = []
        for i in range(n if multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(
                        nn.Conv2d(channels[j], channels[i], 1, 1, 0, bias=False),
                        nn.BatchNorm2d(channels[i], momentum=BN_MOMENTUM),
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                    ))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = channels[i] if last else channels[j]
                        step: list[nn.Module] = [_conv3x3(channels[j], cout, 2),
                                                 nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)]
                        if not last:
                            step.append(nn.ReLU(inplace=True))
                        steps.append(nn.Sequential(*step))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = x[i]
            for j in range(self.num_branches):
                if j != i:
                    y = y + row[j](x[j])
            out.append(self.relu(y))
        return out


@dataclass(frozen=True)
class HRNetSpec:
    """An HRNet variant: base width C and the stage table (modules, blocks per branch).

    stem_channels is the width of the two stride-2 stem convolutions and of the stage-1
    bottlenecks (which output 4x as many channels): 64 in the paper; small synthetic models
    shrink it, since at width 16 the stem and stage 1 are most of the cost.
    """

    width: int
    stage_modules: tuple[int, int, int] = (1, 4, 3)
    blocks_per_branch: int = 4
    stem_channels: int = 64
    stage1_blocks: int = 4

    def branch_channels(self, stage: int) -> list[int]:
        """Channels of the branches of stage 2, 3 or 4: C, 2C, 4C, 8C."""
        return [self.width * 2 ** b for b in range(stage)]


# The paper's variants (section 3, "Network instantiation").
HRNET_SPECS = {
    "w32": HRNetSpec(width=32),
    "w48": HRNetSpec(width=48),
}


class PoseHighResolutionNet(nn.Module):
    """HRNet backbone + 1x1 heatmap head on the highest-resolution branch."""

    def __init__(self, spec: HRNetSpec, num_joints: int = 17):
        super().__init__()
        self.spec = spec
        self.num_joints = num_joints
        stem = spec.stem_channels
        self.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(stem, stem, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _residual_layer(Bottleneck, stem, stem, spec.stage1_blocks)

        previous = [stem * Bottleneck.expansion]
        for stage, modules in zip((2, 3, 4), spec.stage_modules):
            channels = spec.branch_channels(stage)
            setattr(self, f"transition{stage - 1}", self._make_transition(previous, channels))
            setattr(self, f"stage{stage}", nn.Sequential(*(
                HighResolutionModule(channels, spec.blocks_per_branch,
                                     multi_scale_output=not (stage == 4 and m == modules - 1))
                for m in range(modules))))
            previous = channels
        self.final_layer = nn.Conv2d(spec.width, num_joints, kernel_size=1, stride=1, padding=0)
        self.init_weights()

    @staticmethod
    def _make_transition(previous: list[int], current: list[int]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, cout in enumerate(current):
            if i < len(previous):
                if previous[i] == cout:
                    layers.append(None)
                else:
                    layers.append(nn.Sequential(_conv3x3(previous[i], cout),
                                                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))
            else:
                # A new lower-resolution branch grows from the lowest existing one.
                steps = []
                for k in range(i + 1 - len(previous)):
                    cin = previous[-1]
                    out = cout if k == i - len(previous) else cin
                    steps.append(nn.Sequential(_conv3x3(cin, out, 2), nn.BatchNorm2d(out), nn.ReLU(inplace=True)))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def init_weights(self, scheme: str = "official") -> None:
        """Fresh weights: BN to identity, convs N(0, 0.001) ("official") or He-normal ("kaiming").

        Kaiming keeps the heatmap layer at N(0, 0.001), so a fresh network still
        predicts near-empty heatmaps, as most of every target is.
        """
        if scheme not in ("official", "kaiming"):
            raise HrtrackError(f"weight init must be official or kaiming, got {scheme!r}")
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if scheme == "kaiming" and m is not self.final_layer:
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                else:
                    nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        xs = [x]
        for stage in (2, 3, 4):
            transition = getattr(self, f"transition{stage - 1}")
            inputs = []
            for i, t in enumerate(transition):
                if t is None:
                    inputs.append(xs[i])
                else:
                    # Existing branches change width from their own input; new ones come from the lowest.
                    inputs.append(t(xs[i] if i < len(xs) else xs[-1]))
            xs = getattr(self, f"stage{stage}")(inputs)
        return self.final_layer(xs[0])
