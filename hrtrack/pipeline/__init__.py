"""The per-frame pipeline: video sources, the runner loop, result writers and rendering."""
