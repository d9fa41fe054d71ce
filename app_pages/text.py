"""Text: the sentiment of a review, read by every trained sentiment model."""

import streamlit as st

from core.predict import ModelUnavailable
from core.text import tokenize
from ui.state import completed_runs, get_predictor, readings_table, train_preset_button

MAX_CHARACTERS = 5000

st.title("💬 Text")
st.write("Type a movie review: every trained sentiment model says whether it is positive or negative.")
runs = completed_runs("sentiment")
if runs.empty:
    st.info("No sentiment model is trained yet.")
    train_preset_button("Bag-of-words sentiment", "Train a sentiment model (a few seconds)", key="train_text")
    st.stop()

review = st.text_area(
    "Review",
    "a gripping , beautifully acted film with a clever script",
    max_chars=MAX_CHARACTERS,
    key="review",
)
if not review.strip():
    st.warning("Type a review first.")
    st.stop()
if not tokenize(review):
    st.warning("There are no English words in that review to read: type a few words.")
    st.stop()

rows = []
for run in runs.head(12).to_dict("records"):
    try:
        positive = float(get_predictor(run["id"]).predict_texts([review])[0])
    except ModelUnavailable as error:
        rows.append({"model": run["name"], "run": run["id"], "sentiment": "unavailable", "note": str(error)})
        continue
    rows.append(
        {
            "model": run["name"],
            "run": run["id"],
            "sentiment": "😊 positive" if positive >= 0.5 else "🙁 negative",
            "P(positive)": positive,
            "test accuracy": run["test_accuracy"],
        }
    )
readings_table(rows, "P(positive)", key="sentiments")
