"""hrtrack: HRNet + FlowTrack multi-person pose tracking, scored on PoseTrack."""

__version__ = "0.1.0"
