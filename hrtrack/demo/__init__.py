"""`hrtrack demo` as a library: synthetic data -> the reference small HRNet (or one trained here) -> FlowTrack
-> scores."""

from .run import (DemoModel, DemoResult, DemoSettings, cache_root, prepare_data, prepare_model, run_demo,
                  track_clips, train_model)

__all__ = ["DemoModel", "DemoResult", "DemoSettings", "cache_root", "prepare_data", "prepare_model", "run_demo",
           "track_clips", "train_model"]
