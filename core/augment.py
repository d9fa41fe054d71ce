"""Training-time augmentation of digit images: stroke width, and one random affine warp
(rotation, stretch, flattening, shear and shift)."""

from __future__ import annotations

import math

import keras
from keras import layers, ops

# A fifth of the images get thinner strokes, a fifth thicker, and some of those a marker's.
THINNER, THICKER, MARKER = 0.2, 0.8, 0.93
FLATTENED = 0.3  # The share of images RandomAffine makes wider and flatter.


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
        marker = ops.max_pool(images, 3, strides=1, padding="same")
        thinner = -ops.max_pool(-images, 2, strides=1, padding="same")
        draw = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        thicker = ops.where(draw > MARKER, marker, thicker)
        return ops.where(draw < THINNER, thinner, ops.where(draw > THICKER, thicker, images))

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="digitlab")
class RandomAffine(layers.Layer):
    """Warps each training image by a random rotation, stretch, shear and shift, as
    different hands write the same digit; images pass unchanged outside training.

    Some images (FLATTENED) are also made wider and flatter: MNIST has few wide digits,
    and a wide 0 drawn on the canvas was read as a 2.

    All four are one warp, so each image is resampled once. Separate rotation, zoom and
    shift layers resample three times, which blurs thin strokes: on the Best CNN that
    cost 0.3 points of test accuracy (see the README) and took twice as long.

    Args:
        rotation: the largest rotation, in radians.
        scale: the largest relative change of width or of height (each drawn apart).
        shear: the largest horizontal shear, as a slope.
        shift: the largest shift, in pixels, in each direction.
        flatten: the largest factor by which width over height grows in a flattened image.
        seed: the random seed.
    """

    def __init__(self, rotation=0.2, scale=0.1, shear=0.1, shift=2.8, flatten=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.scale, self.shear, self.shift = rotation, scale, shear, shift
        self.flatten = flatten
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
        # Width over height times up to `flatten`, log-uniformly, in a share of the images.
        flattening = ops.exp(uniform(0.5 * math.log(self.flatten), 0.5 * math.log(self.flatten)))
        flattening = ops.where(uniform(0.5, 0.5) < FLATTENED, flattening, ops.ones_like(flattening))
        width, height = width * ops.sqrt(flattening), height / ops.sqrt(flattening)
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
        settings["flatten"] = self.flatten
        return {**super().get_config(), **settings, "seed": self.seed}


def augmentation(seed: int) -> keras.Sequential:
    """Random stroke width and a random affine warp, active only while training."""
    warp = RandomAffine(flatten=2.2, seed=seed)  # A normal 3:4 digit up to 1.6:1.
    return keras.Sequential([RandomStrokeWidth(seed=seed), warp], name="augment")
