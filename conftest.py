"""The doctests of a backend's own writer module run on that backend only."""

import keras

collect_ignore = [
    f"tb_lr_plugin/writer/step_tap_{backend}.py"
    for backend in ("tensorflow", "jax", "torch")
    if backend != keras.backend.backend()
]
