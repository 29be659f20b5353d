"""The sweep benchmark's figure: one panel per metric in rows of three, a legend row per three series."""

from __future__ import annotations

import cv2
import numpy as np

from hrtrack.demo.figures import write_line_panels


def test_panels_lines_and_legend_are_where_the_layout_puts_them(tmp_path):
    levels = ["1", "2", "4"]
    series = {"rising": {"m1": [1.0, 2.0, 3.0], "m2": [0.0, 0.0, 0.0], "m3": [5.0, 5.0, 5.0], "m4": [1.0, 2.0, 4.0]},
              "falling": {"m1": [3.0, 2.0, 1.0], "m2": [1.0, 1.0, 1.0], "m3": [5.0, 6.0, 7.0],
                          "m4": [4.0, np.nan, 1.0]}}
    for i in range(5):
        series[f"flat {i}"] = {m: [2.0, 2.0, 2.0] for m in ("m1", "m2", "m3", "m4")}
    png = write_line_panels(tmp_path / "sweep.png", "a sweep", levels, series, ["m1", "m2", "m3", "m4"],
                            panel=(300, 200))
    img = cv2.imread(str(png))
    # 4 metrics -> 2 rows of 3 panels (the last two blank); 7 series -> 3 legend rows of 22 px plus 8; a 34-px header.
    assert img.shape == (34 + 2 * 200 + 3 * 22 + 8, 3 * 300, 3)
    # The two blank panels are white; the drawn ones are framed in black.
    blank = img[34 + 200:34 + 400, 300:900]
    assert (blank == 255).all()
    assert (img[34:34 + 200, :300] == 0).all(axis=2).any()
    # Each legend row holds three series: a coloured stroke at x 8..32 of each third.
    legend = img[34 + 400:]
    strokes = [(legend[10:18, x0 + 10:x0 + 26] != 255).any() for x0 in (8 - 8, 300, 600)]
    assert all(strokes)
