"""The device a run trains on, as TensorFlow sees it in the training process."""

from __future__ import annotations


def training_device() -> str:
    """Returns where Keras trains in this process: the name TensorFlow reports for the
    first GPU it sees (e.g. "NVIDIA H100 80GB HBM3"; Keras uses that one), else "CPU".

    On a Ray node the GPUs a task may see are the ones Ray gave it (CUDA_VISIBLE_DEVICES).
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
    except (ValueError, RuntimeError):
        details = {}
    return str(details.get("device_name") or gpus[0].name)
