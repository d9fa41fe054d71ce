"""The Draw page's probability bars: one per class, the likeliest highlighted, and
nothing a broken model or a class name can put into the page."""

import re

import numpy as np

from ui.charts import PALETTE
from ui.probability_bars import BAR_HEIGHT, probability_bars

DIGITS = tuple(str(i) for i in range(10))


def bar_heights(chart: str) -> list[int]:
    return [int(height) for height in re.findall(r"height: (\d+)px", chart)]


def test_each_class_gets_a_bar_as_tall_as_its_probability_and_the_likeliest_stands_out():
    probabilities = np.full(10, 0.02)
    probabilities[7] = 0.82
    chart = probability_bars(probabilities, DIGITS)
    assert bar_heights(chart) == [round(p * BAR_HEIGHT) for p in probabilities]
    assert chart.count(f"background: {PALETTE[1]}") == 1
    assert re.search(rf'82%</span><div class="fill" style="[^"]*background: {PALETTE[1]}', chart)
    assert "7: 82%" in chart  # Said to screen readers too.


def test_a_broken_models_numbers_draw_no_broken_bars():
    chart = probability_bars([np.nan, np.inf, -np.inf, 1.7, -0.5, 0, 0, 0, 0, 0], DIGITS)
    assert "nan" not in chart.lower() and "inf" not in chart.lower()
    assert bar_heights(chart) == [0, BAR_HEIGHT, 0, BAR_HEIGHT, 0, 0, 0, 0, 0, 0]


def test_class_names_are_text_not_markup():
    names = ("<b>zero</b>", "one")
    chart = probability_bars([0.3, 0.7], names)
    assert "<b>" not in chart and "&lt;b&gt;zero&lt;/b&gt;" in chart
