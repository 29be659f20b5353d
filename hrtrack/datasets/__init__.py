"""Training samples: annotations -> top-down person crops, augmentation and heatmap targets."""
