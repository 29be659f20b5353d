"""Evaluation: PoseTrack mAP / MOTA as poseval computes them, COCO keypoint AP, MPII PCKh."""
