"""A model's probability for each class as bars drawn in plain HTML.

The Draw page redraws them at every pen-up: plain HTML costs the browser a few
milliseconds where a plotly chart cost about a hundred, a third of a reading's time
(see bench/readings.py). The stylesheet is ui/presenter.py's, which every page loads.
"""

from __future__ import annotations

import html

import numpy as np

from ui.charts import PALETTE

BAR_HEIGHT = 150  # Pixels for a probability of 1.

CSS = f"""
.probability-bars {{ display: flex; gap: 4px; align-items: flex-end; margin: 0.5rem 0 1rem 0; }}
.probability-bars .bar {{ flex: 1; display: flex; flex-direction: column; align-items: center; }}
.probability-bars .fill {{ width: 100%; border-radius: 3px 3px 0 0; }}
.probability-bars .value {{ font-size: 0.8rem; white-space: nowrap; }}
.probability-bars .name {{ font-size: 1rem; border-top: 1px solid rgba(128, 128, 128, 0.5);
  width: 100%; text-align: center; }}
.probability-bars .chart-area {{ height: {BAR_HEIGHT + 24}px; width: 100%; display: flex;
  flex-direction: column; justify-content: flex-end; align-items: center; }}
"""


def probability_bars(probabilities, class_names: tuple[str, ...]) -> str:
    """The HTML of one bar per class, its probability above it, the likeliest class in
    the highlight colour. A probability that is not a number (a broken model) shows as 0.
    """
    values = np.nan_to_num(np.asarray(probabilities, dtype=float), nan=0.0, posinf=1.0, neginf=0.0)
    values = values.clip(0.0, 1.0)
    best = int(values.argmax())
    bars = []
    for index, (name, value) in enumerate(zip(class_names, values, strict=True)):
        colour = PALETTE[1] if index == best else PALETTE[0]
        bars.append(
            '<div class="bar"><div class="chart-area">'
            f'<span class="value">{value:.0%}</span>'
            f'<div class="fill" style="height: {round(value * BAR_HEIGHT)}px; background: {colour}"></div>'
            f'</div><span class="name">{html.escape(name)}</span></div>'
        )
    pairs = zip(class_names, values, strict=True)
    described = ", ".join(f"{html.escape(name)}: {value:.0%}" for name, value in pairs)
    return (
        f'<div class="probability-bars" role="img" aria-label="Probability of each class: {described}">'
        f"{''.join(bars)}</div>"
    )
