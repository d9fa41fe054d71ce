"""Text: the sentiment of a review, read by every trained sentiment model."""

import streamlit as st

from core.text import tokenize
from ui.format import as_text, run_label
from ui.inside import review_views
from ui.presenter import presenter_mode
from ui.resources import explain_review, model_vocabulary, read_reviews, warm_reader
from ui.widgets import MAX_MODELS, every_models_reading, trained_models

MAX_CHARACTERS = 5000
UNKNOWN_WORDS_NOTE = "⚠️ knows none of these words"


def describe_sentiment(positive: float, run: dict, words: frozenset[str] | None = None) -> dict:
    """A sentiment model's reading of a review: positive or negative, and how sure; with
    the review's `words`, a note when the model knows none of them."""
    reading = {"sentiment": "😊 positive" if positive >= 0.5 else "🙁 negative", "P(positive)": positive}
    if words is not None and knows_none(run["id"], words):
        reading["note"] = UNKNOWN_WORDS_NOTE
    return reading


def review_words(review: str) -> frozenset[str]:
    """The words of a review, as the models split it (numbers count; ! and ? do not)."""
    return frozenset(token for token in tokenize(review) if token not in ("!", "?"))


def knows_none(run_id: int, words: frozenset[str]) -> bool:
    """True when the model has a vocabulary and not one of `words` is in it."""
    vocabulary = model_vocabulary(run_id)
    return vocabulary is not None and vocabulary.isdisjoint(words)


def typed_review() -> str:
    """The review box; stops the page, saying why, while there is nothing to read."""
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
    return review


def warn_of_blind_models(names: dict[int, str], words: frozenset[str]) -> set[int]:
    """Warns about the models that know none of the review's words; returns them."""
    blind = {run_id: name for run_id, name in names.items() if knows_none(run_id, words)}
    if blind:
        st.warning(
            f"Not one word of this review is in the vocabulary of {', '.join(blind.values())}: "
            f"{'its reading is a guess' if len(blind) == 1 else 'their readings are guesses'}, "
            "whatever the confidence says. Type a few words of a real review.",
            icon="⚠️",
        )
    return set(blind)


def inside_the_model(runs, review: str) -> None:
    """One model's verdict word by word, when asked for."""
    if not st.toggle(
        "🔎 Inside the model",
        key="inside_text",
        help="Which words pushed the verdict which way, and how it changed as the model read.",
    ):
        return
    labels = {int(row["id"]): run_label(row) for _, row in runs.iterrows()}
    run_id = st.selectbox("Model", list(labels), format_func=labels.get, key="inside_text_model")
    review_views(explain_review(run_id, review))


def main() -> None:
    """The Text page."""
    presenter_mode()
    st.title("💬 Text")
    st.write("Type a movie review: every trained sentiment model says whether it is positive or negative.")
    runs = trained_models(
        "sentiment",
        "No sentiment model is trained yet.",
        "Bag-of-words sentiment",
        "Train a sentiment model (a few seconds)",
        key="train_text",
    )
    names = {int(row["id"]): as_text(row["name"]) for row in runs.head(MAX_MODELS).to_dict("records")}
    warm_reader(list(names))  # While the user types, the reader loads these models.
    review = typed_review()
    words = review_words(review)
    blind = warn_of_blind_models(names, words)
    answers = read_reviews(list(names), review)
    every_models_reading(
        runs,
        answers,
        lambda positive, run: describe_sentiment(positive, run, words),
        {"sentiment": "unavailable"},
        "P(positive)",
        highlight=blind,
    )
    inside_the_model(runs, review)


if __name__ == "__main__":  # Streamlit runs a page as __main__; importing it runs nothing.
    main()
