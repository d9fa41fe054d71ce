"""Home: what Digit Lab does, which data it uses, and a one-click quick model."""

import streamlit as st

from core.datasets import DatasetUnavailable
from ui.presenter import presenter_mode
from ui.resources import completed_runs, get_dataset, get_store
from ui.widgets import demo_button, train_preset_button

presenter_mode()
st.title("🔢 Digit Lab")
st.markdown(
    "Train neural networks on handwritten digits (and movie reviews) right here: pick a "
    "model family or a published model, watch it learn epoch by epoch, and compare every run. "
    "Then **draw a digit** and see what each of your models thinks it is."
)

try:
    mnist = get_dataset("mnist")
    st.info(f"Data in use: **{mnist.describe()}**", icon="📦")
    if mnist.source == "offline subset":
        st.caption(
            "No internet: the app trains on the real MNIST subset bundled with it. "
            "Online, it downloads the full 60,000-digit training set once."
        )
except DatasetUnavailable as error:
    st.error(str(error))

store = get_store()
runs = store.runs_table()
left, middle, right = st.columns(3)
left.metric("Runs", len(runs))
middle.metric("Completed", int((runs["status"] == "completed").sum()) if len(runs) else 0)
best = completed_runs("mnist")
right.metric(
    "Best digit model",
    f"{best['test_accuracy'].iloc[0]:.2%}" if len(best) else "none yet",
    help="The test accuracy of the best completed digit model: the share of the test digits it reads right.",
)

st.subheader("⚡ Quick model")
st.write(
    "One click trains a small convolutional network on augmented digits in well under a "
    "minute, so the Draw page works at once."
)
with st.container(horizontal=True):  # Each button as wide as its label, side by side.
    train_preset_button("Quick CNN", "Train the quick model", key="quick_model")
    demo_button(key="demo_home")
st.caption(
    "🆚 **CNN against MLP** trains the quick CNN and a small dense network one after the other "
    "(about a minute), then opens Draw with both: draw a digit and see where they disagree."
)

st.subheader("Where to go")
st.page_link("app_pages/data.py", label="Look at the data first", icon="📊")
st.page_link("app_pages/train.py", label="Train a model of your own", icon="🏋️")
st.page_link("app_pages/compare.py", label="Compare every run", icon="📈")
st.page_link("app_pages/draw.py", label="Draw a digit", icon="✏️")
st.page_link("app_pages/text.py", label="Read the sentiment of a review", icon="💬")
