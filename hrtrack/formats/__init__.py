"""Every file the project reads or writes: PoseTrack 2017/2018, COCO, MPII, detection files."""
