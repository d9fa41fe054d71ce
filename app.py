"""Digit Lab: the router. Each page lives in app_pages/."""

import streamlit as st

from core.store import StoreError
from ui.heap import freeze_after_imports
from ui.resources import get_store, keep_workers_alive

st.set_page_config(page_title="Digit Lab", page_icon="🔢", layout="wide")
navigation = st.navigation(
    [
        st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("app_pages/data.py", title="Data", icon="📊"),
        st.Page("app_pages/train.py", title="Train", icon="🏋️"),
        st.Page("app_pages/compare.py", title="Compare", icon="📈"),
        st.Page("app_pages/draw.py", title="Draw", icon="✏️"),
        st.Page("app_pages/my_drawings.py", title="My drawings", icon="📒"),
        st.Page("app_pages/text.py", title="Text", icon="💬"),
    ]
)
try:
    if get_store().read_only_reason:
        st.warning(get_store().read_only_reason, icon="🔒")
    keep_workers_alive()
    navigation.run()
except StoreError as error:  # Its message says what happened and what to do.
    st.error(str(error))
finally:
    freeze_after_imports()
