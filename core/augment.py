"""Training-time augmentation of digit images: stroke width, and one random affine warp
(rotation, stretch, shear and shift)."""

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


@keras.saving.register_keras_serializable(package="digitlab")
class RandomAffine(layers.Layer):
    """Warps each training image by a random rotation, stretch, shear and shift, as
    different hands write the same digit; images pass unchanged outside training.

    All four are one warp, so each image is resampled once. Separate rotation, zoom and
    shift layers resample three times, which blurs thin strokes: on the Best CNN that
    cost 0.3 points of test accuracy (see the README) and took twice as long.

    Args:
        rotation: the largest rotation, in radians.
        scale: the largest relative change of width or of height (each drawn apart).
        shear: the largest horizontal shear, as a slope.
        shift: the largest shift, in pixels, in each direction.
        seed: the random seed.
    """

    def __init__(self, rotation=0.2, scale=0.1, shear=0.1, shift=2.8, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.scale, self.shear, self.shift = rotation, scale, shear, shift
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images

        def uniform(limit, center=0.0):
            shape = (ops.shape(images)[0],)
            return keras.random.uniform(shape, center - limit, center + limit, seed=self.seed_generator)

        angle, shear = uniform(self.rotation), uniform(self.shear)
        width, height = uniform(self.scale, 1.0), uniform(self.scale, 1.0)
        cos, sin = ops.cos(angle), ops.sin(angle)
        # The map from each output pixel back to the input pixel it samples:
        # rotation @ shear @ inverse stretch, about the image's centre, plus the shift.
        a, b = cos / width, (cos * shear - sin) / height
        c, d = sin / width, (sin * shear + cos) / height
        center_x = (images.shape[2] - 1) / 2
        center_y = (images.shape[1] - 1) / 2
        shift_x = center_x - a * center_x - b * center_y + uniform(self.shift)
        shift_y = center_y - c * center_x - d * center_y + uniform(self.shift)
        zero = ops.zeros_like(angle)
        transform = ops.stack([a, b, shift_x, c, d, shift_y, zero, zero], axis=1)
        return ops.image.affine_transform(images, transform, fill_mode="constant")

    def get_config(self):
        settings = {"rotation": self.rotation, "scale": self.scale, "shear": self.shear, "shift": self.shift}
        return {**super().get_config(), **settings, "seed": self.seed}


def augmentation(seed: int) -> keras.Sequential:
    """Random stroke width and a random affine warp, active only while training."""
    return keras.Sequential([RandomStrokeWidth(seed=seed), RandomAffine(seed=seed)], name="augment")
