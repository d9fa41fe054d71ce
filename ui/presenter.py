"""Presenter mode, and the app's own small stylesheet that every page loads.

Presenter mode is a toggle in the sidebar, kept in the address (`?presenter=1`) so a
bookmarked or reloaded page opens in it. It makes the type big enough for a room (at
least 18 px, plots 16 px and more), the canvas 400 px, and packs the Draw page so the
canvas, the verdict and every model's reading fit one 1280x720 screen.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from ui.probability_bars import CSS as BARS_CSS
from ui.readings_table import CSS as READINGS_CSS

PARAMETER = "presenter"
STATE = "presenter_mode"  # Survives pages that do not show the toggle.
TOGGLE = "presenter"
CANVAS_SIZE = 280
PRESENTER_CANVAS_SIZE = 400
PRESENTER_PLOT_FONT = 18

APP_CSS = """
.model-view-caption { font-size: 0.875rem; opacity: 0.6; margin-top: 0.25rem; }
.st-key-save_as button { padding-left: 12px; padding-right: 12px; } /* Ten in a row on a phone. */
"""
PRESENTER_CSS = """
[data-testid="stMainBlockContainer"] {
  padding-top: 3.5rem; padding-left: 2rem; padding-right: 2rem; max-width: none;
}
.stApp p, .stApp li, .stApp label, .stApp input, .stApp textarea, .stApp button,
.stApp table, .stApp th, .stApp td, .stApp [data-baseweb="select"] div,
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] *,
[data-testid="stWidgetLabel"] *, [data-testid="stMetricLabel"] *,
[data-testid="stSidebarNav"] span, [data-testid="stProgress"] p,
[data-testid="stSliderThumbValue"], [data-testid="stSliderTickBar"] *, .probability-bars span {
  font-size: 18px !important;
}
.stApp [data-testid="stMetricValue"], .stApp [data-testid="stMetricValue"] * {
  font-size: 2.6rem !important;
}
h1 { font-size: 2.1rem !important; padding: 0 0 0.25rem 0 !important; }
h3 { font-size: 1.6rem !important; }
"""


def presenter_mode(toggle: bool = True) -> bool:
    """Loads the app's stylesheet and, with `toggle`, shows the Presenter mode toggle in
    the sidebar; every page calls it first.

    The choice lasts for the session and stays in the address (`?presenter=1`).

    Args:
        toggle: show the toggle (the audience's pages have none).

    Returns:
        True while presenter mode is on.
    """
    if STATE not in st.session_state:
        st.session_state[STATE] = toggle and st.query_params.get(PARAMETER) == "1"
    if toggle:
        st.sidebar.toggle(
            "🎤 Presenter mode",
            value=st.session_state[STATE],
            key=TOGGLE,
            on_change=_remember_toggle,
            help="Big type, a big canvas, and the Draw page on one screen, for a projector.",
        )
    presenting = bool(st.session_state[STATE])
    if presenting and st.query_params.get(PARAMETER) != "1":
        st.query_params[PARAMETER] = "1"
    elif not presenting and PARAMETER in st.query_params:
        del st.query_params[PARAMETER]
    st.html(f"<style>{APP_CSS}{BARS_CSS}{READINGS_CSS}{PRESENTER_CSS if presenting else ''}</style>")
    return presenting


def _remember_toggle() -> None:
    st.session_state[STATE] = st.session_state[TOGGLE]


def presenting() -> bool:
    """Returns True while presenter mode is on (set by `presenter_mode`)."""
    return bool(st.session_state.get(STATE, False))


def canvas_size() -> int:
    """The side of the drawing canvas in pixels: 400 in presenter mode, else 280."""
    return PRESENTER_CANVAS_SIZE if presenting() else CANVAS_SIZE


def readable(figure: go.Figure) -> go.Figure:
    """Returns the figure with text a room can read in presenter mode (unchanged otherwise)."""
    if presenting():
        figure.update_layout(
            font={"size": PRESENTER_PLOT_FONT}, legend={"font": {"size": PRESENTER_PLOT_FONT}}
        )
        figure.update_annotations(font_size=PRESENTER_PLOT_FONT)
        # Streamlit's chart theme sets the axes' own sizes, which the layout's font does not reach.
        for update in (figure.update_xaxes, figure.update_yaxes):
            update(tickfont_size=PRESENTER_PLOT_FONT, title_font_size=PRESENTER_PLOT_FONT)
        figure.update_traces(
            textfont_size=PRESENTER_PLOT_FONT, constraintext="none", selector={"type": "bar"}
        )
        figure.update_traces(textfont_size=PRESENTER_PLOT_FONT, selector={"type": "heatmap"})
    return figure
