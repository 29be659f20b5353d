"""`hrtrack demo` as a library: synthetic data -> a small HRNet trained on it -> FlowTrack -> scores."""

from .run import DemoResult, DemoSettings, cache_root, prepare_data, prepare_model, run_demo

__all__ = ["DemoResult", "DemoSettings", "cache_root", "prepare_data", "prepare_model", "run_demo"]
