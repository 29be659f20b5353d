"""Dataset readers and writers: COCO, MPII, PoseTrack 2017/2018, the synthetic generator."""
