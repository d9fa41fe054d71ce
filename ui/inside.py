"""Inside the model: the views of one reading that the model reader computed (see
`core.explain`), shown with a one-line caption each."""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from ui.charts import digit_map_figure, hidden_state_figure, read_so_far_figure, row_reading_figure
from ui.images import grey_grid, signed_colours
from ui.presenter import readable

DIGITS = tuple(str(i) for i in range(10))
MAPS_SHOWN = 32  # Feature maps per convolution layer (the grid stays readable).
UNITS_SHOWN = 8
# Each tab and the views it shows, in order; a tab shows when the model has one of them.
TABS = {
    "🎯 Where it looked": ("attribution", "grad_cam", "hires_cam"),
    "🧱 Layers": ("filters", "feature_maps"),
    "🔢 Units": ("dense_units",),
    "↕️ Row by row": ("rows",),
    "🗺️ Among the digits": ("map",),
}
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:<>$])")


def explain_target(predicted: int) -> int | None:
    """Which class to explain: the reading (None) or one the user picks ("why not a 9?")."""
    picked = st.pills(
        "Explain the reading, or ask why not another digit",
        DIGITS,
        default=None,
        key="explain_target",
        help="Leave it empty to explain what the model read.",
    )
    return None if picked is None or int(picked) == predicted else int(picked)


def digit_views(explained: dict | str, prepared: np.ndarray) -> None:
    """Every view the model has of one digit, one tab per kind."""
    if isinstance(explained, str):
        st.info(explained)
        return
    names = [tab for tab, views in TABS.items() if any(view in explained for view in views)]
    for tab, name in zip(st.tabs(names), names, strict=True):
        with tab:
            VIEW_OF_TAB[name](explained, prepared)


def where_it_looked(explained: dict, prepared: np.ndarray) -> None:
    """Attribution heatmaps over the digit: integrated gradients, and Grad-CAM and
    HiResCAM for a CNN."""
    maps = [explained[name] for name in ("attribution", "grad_cam", "hires_cam") if name in explained]
    for column, attribution in zip(st.columns(len(maps)), maps, strict=True):
        with column:
            st.markdown(f"**{attribution.method}**: for {attribution.target}")
            st.image(signed_colours(attribution.heatmap, prepared).repeat(8, 0).repeat(8, 1), width=224)
            st.caption(attribution.caption)
    st.caption("🟥 raises the digit's score · 🟦 lowers it")


def layers(explained: dict, prepared: np.ndarray) -> None:
    """A CNN's first-layer filters and every convolution's feature maps."""
    if "filters" in explained:
        filters = explained["filters"]
        st.markdown(f"**First-layer filters** ({len(filters.weights)})")
        st.image(grey_grid(filters.weights, columns=8, factor=6))
        st.caption(filters.caption)
    for layer in explained.get("feature_maps", ()):
        shown = layer.maps[:MAPS_SHOWN]
        st.markdown(f"**{layer.layer}**: {len(shown)} of {len(layer.maps)} maps")
        factor = max(1, 56 // max(shown.shape[1], 1))
        st.image(grey_grid(shown, columns=8, factor=factor))
        st.caption(layer.caption)


def units(explained: dict, prepared: np.ndarray) -> None:
    """The first dense layer's units this digit excites most, as the images they look for."""
    view = explained["dense_units"]
    strongest = [int(unit) for unit in view.strongest[:UNITS_SHOWN]]
    for column, unit in zip(st.columns(4) * 2, strongest, strict=False):
        column.image(
            signed_colours(view.weights[unit]).repeat(4, 0).repeat(4, 1),
            caption=f"unit {unit}: {float(view.activations[unit]):.2f}",
        )
    st.caption(view.caption + " 🟥 ink here raises the unit · 🟦 ink here lowers it.")


def rows(explained: dict, prepared: np.ndarray) -> None:
    """A recurrent model's reading after each row, and its state over the rows."""
    view = explained["rows"]
    st.plotly_chart(readable(row_reading_figure(view.probabilities, DIGITS)), key="row_reading")
    st.caption(view.caption)
    st.markdown("**Its memory after each row** (one column per unit)")
    st.plotly_chart(readable(hidden_state_figure(view.hidden)), key="hidden_state")


def digit_map(explained: dict, prepared: np.ndarray) -> None:
    """Where this digit lies among 2,000 test digits on the model's own map."""
    view = explained["map"]
    st.plotly_chart(readable(digit_map_figure(view, DIGITS)), key="digit_map")
    st.caption(view.caption)


VIEW_OF_TAB = {
    "🎯 Where it looked": where_it_looked,
    "🧱 Layers": layers,
    "🔢 Units": units,
    "↕️ Row by row": rows,
    "🗺️ Among the digits": digit_map,
}


def coloured_words(reading) -> str:
    """The review as Markdown: each word coloured by how much it moved the verdict
    (green towards positive, red towards negative, bold when strong); words the model
    does not know in grey, struck through."""
    contributions = np.nan_to_num(np.asarray(reading.contributions, dtype=float))
    strongest = float(np.abs(contributions).max()) if contributions.size else 0.0
    parts = []
    for word, known, contribution in zip(reading.words, reading.known, contributions, strict=False):
        text = MARKDOWN_SPECIAL.sub(r"\\\1", str(word))
        if not known:
            parts.append(f":gray[~~{text}~~]")
            continue
        share = abs(contribution) / strongest if strongest > 0 else 0.0
        colour = "green" if contribution > 0 else "red"
        if share >= 0.5:
            parts.append(f":{colour}-background[**{text}**]")
        elif share >= 0.15:
            parts.append(f":{colour}[{text}]")
        else:
            parts.append(text)
    return " ".join(parts)


def review_views(reading) -> None:
    """A sentiment model's verdict word by word: coloured words and the reading so far."""
    if isinstance(reading, str):
        st.info(reading)
        return
    if reading.knows_none:
        st.warning("The model knows none of these words: its verdict is a guess.", icon="⚠️")
    st.markdown(coloured_words(reading))
    st.caption(
        reading.caption + " 🟩 towards positive · 🟥 towards negative · ~~grey~~: a word it does not know."
    )
    if reading.unread:
        st.caption(f"It reads the first {len(reading.words)} words; {reading.unread} more were not read.")
    if len(reading.words) > 1:
        st.markdown("**As it reads the review** (P(positive) had the review ended there)")
        st.plotly_chart(readable(read_so_far_figure(reading.read_so_far, reading.words)), key="read_so_far")
