"""The doctests of a backend's own writer modules run on that backend only."""

import keras

_BACKEND_MODULES = {
    "tensorflow": ["step_tap_tensorflow.py"],
    "jax": ["step_tap_jax.py", "jaxpr_evaluation.py"],
    "torch": ["step_tap_torch.py"],
}

collect_ignore = [
    f"tb_lr_plugin/writer/{module}"
    for backend, modules in _BACKEND_MODULES.items()
    if backend != keras.backend.backend()
    for module in modules
]
