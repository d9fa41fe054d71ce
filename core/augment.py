"""Training-time augmentation of digit images: shifts, rotations, zooms and stroke width."""

from __future__ import annotations

import keras
from keras import layers, ops

THINNER, THICKER = 0.25, 0.75  # A quarter of the images get thinner strokes, a quarter thicker.


@keras.saving.register_keras_serializable(package="digitlab")
class RandomStrokeWidth(layers.Layer):
    """Makes the strokes of some training images one pixel thinner or thicker, as
    different pens would; images pass unchanged outside training.

    Args:
        seed: the random seed.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        thicker = ops.max_pool(images, 2, strides=1, padding="same")
        thinner = -ops.max_pool(-images, 2, strides=1, padding="same")
        draw = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        return ops.where(draw < THINNER, thinner, ops.where(draw > THICKER, thicker, images))

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def augmentation(seed: int) -> keras.Sequential:
    """Small random changes of stroke width, rotation, zoom and position, active
    only while training."""
    return keras.Sequential(
        [
            RandomStrokeWidth(seed=seed),
            layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
            layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
        ],
        name="augment",
    )
