"""Review text as word indices: tokens, unknown words, padding and the word limit."""

from core.text import build_vocabulary, encode, tokenize


def test_reviews_become_padded_word_indices():
    vocabulary = build_vocabulary(["good good film", "bad film"])
    encoded = encode(["Good film!", "a bad , bad plot"], vocabulary, max_words=500)
    good, film, bad = (vocabulary.index(word) + 2 for word in ("good", "film", "bad"))
    assert tokenize("Good film!") == ["good", "film", "!"]
    assert encoded.tolist() == [[good, film, 1, 0], [1, bad, bad, 1]]


def test_a_review_is_cut_to_the_models_word_limit():
    vocabulary = build_vocabulary(["one two three four"])
    assert encode(["one two three four"], vocabulary, max_words=2).shape == (1, 2)
    assert encode(["one two three four"], vocabulary, max_words=500).shape == (1, 4)
