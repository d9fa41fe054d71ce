"""Digit Lab for the room: Draw and Compare, read only, for anyone on the network.

`bash scripts/run.sh --audience` serves this beside the lab (see launch.py). It runs
the lab's own page functions with `audience=True`: no training, stopping, deleting,
downloads or uploads, readings limited per session; it never starts a worker.
"""

import streamlit as st

from app_pages import compare, draw
from core.store import StoreError
from ui.heap import freeze_after_imports


def draw_for_audience() -> None:
    draw.main(audience=True)


def draw_by_its_lab_address() -> None:
    """Draw at /draw too, the lab's address for it, which a presenter may share."""
    draw.main(audience=True)


def compare_for_audience() -> None:
    compare.main(audience=True)


st.set_option("client.disableDataExport", True)  # launch.py also passes it, for the first page.
st.set_page_config(page_title="Digit Lab", page_icon="🔢", layout="wide")
navigation = st.navigation(
    [
        st.Page(draw_for_audience, title="Draw", icon="✏️", url_path="room", default=True),
        st.Page(compare_for_audience, title="Compare", icon="📈", url_path="compare"),
        st.Page(draw_by_its_lab_address, title="Draw", icon="✏️", url_path="draw", visibility="hidden"),
    ]
)
try:
    navigation.run()
except StoreError:  # Its message names the server's folders: the lab shows it, not the room.
    st.error("The runs cannot be read right now. The presenter sees why in the lab.")
finally:
    freeze_after_imports()
