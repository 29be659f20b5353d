#!/usr/bin/env python
"""Print parameters and multiply-accumulates of each HRNet model config.

GMAC = decimal 10^9 multiply-accumulates; "paper GFLOPs" = MACs / 2^30, the unit
of the HRNet paper's tables (7.1 / 16.0 / 14.6 / 32.9 for W32-256x192 /
W32-384x288 / W48-256x192 / W48-384x288).
"""

from __future__ import annotations

import argparse

from hrtrack.config import CONFIG_ROOT
from hrtrack.models import build_pose_model, load_model_config
from hrtrack.models.complexity import count_macs, count_parameters

PAPER = {"w32_256x192": (28.5, 7.1), "w32_384x288": (28.5, 16.0),
         "w48_256x192": (63.6, 14.6), "w48_384x288": (63.6, 32.9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help="model config names or YAML paths (default: all in configs/models)")
    args = parser.parse_args()
    names = args.configs or sorted(p.stem for p in (CONFIG_ROOT / "models").glob("*.yaml"))
    print(f"{'config':<14}{'params (M)':>11}{'GMAC':>8}{'paper GFLOPs':>14}{'paper table':>18}")
    fields = []
    for name in names:
        cfg = load_model_config(name)
        model = build_pose_model(cfg)
        params = count_parameters(model)
        macs = count_macs(model, cfg.input_size)
        paper = PAPER.get(name)
        ref = f"{paper[0]}M / {paper[1]}" if paper else "-"
        print(f"{name:<14}{params / 1e6:>11.2f}{macs / 1e9:>8.2f}{macs / 2 ** 30:>14.2f}{ref:>18}")
        fields.append(f"{name}_params_m={params / 1e6:.3f} {name}_gflops_paper={macs / 2 ** 30:.2f}")
    print("RESULT " + " ".join(fields))


if __name__ == "__main__":
    main()
