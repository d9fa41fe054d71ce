"""Digit Lab: the router. Each page lives in app_pages/."""

import streamlit as st

from core.store import StoreError
from ui.resources import keep_workers_alive

st.set_page_config(page_title="Digit Lab", page_icon="🔢", layout="wide")
navigation = st.navigation(
    [
        st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("app_pages/data.py", title="Data", icon="📊"),
        st.Page("app_pages/train.py", title="Train", icon="🏋️"),
        st.Page("app_pages/compare.py", title="Compare", icon="📈"),
        st.Page("app_pages/draw.py", title="Draw", icon="✏️"),
        st.Page("app_pages/text.py", title="Text", icon="💬"),
    ]
)
try:
    keep_workers_alive()
    navigation.run()
except StoreError as error:
    st.error(
        f"{error}. Check that the folder exists and is writable, or set DIGITLAB_HOME to another folder."
    )
