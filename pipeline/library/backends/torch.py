"""PyTorch backend: the model's own ``train_step`` in a Python loop over on-device tensors.

Why: Keras' PyTorch trainer runs eagerly (``torch.compile`` only with ``jit_compile=True``), so
there is no single compiled epoch to build; holding the data as device tensors and slicing
batches there still avoids ``fit``'s per-batch numpy conversion. Gradients come from
``torch.autograd``. Not tested in the default suite (the PyPI wheel is a multi-GB CUDA build):
``nox -s tests_torch`` runs the backend tests with PyTorch installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.library.backends import shuffle_order


def epoch_runner(
    model: Any, x: Any, y: Any, *, batch_size: int, shuffle: bool, seed: int, training: bool
) -> tuple[Callable[[int], dict[str, np.ndarray]], int]:
    """``run_epoch(epoch)`` over the model's ``train_step`` / ``test_step``; per-step logs."""
    import torch
    from keras import tree
    from keras.src.backend.torch.core import get_device

    device = get_device()
    n = len(tree.flatten(x)[0])
    steps = math.ceil(n / batch_size)
    xd = tree.map_structure(lambda a: torch.as_tensor(np.asarray(a), device=device), x)
    yd = tree.map_structure(lambda a: torch.as_tensor(np.asarray(a), device=device), y)
    model._symbolic_build(data_batch=(tree.map_structure(lambda t: t[:1], xd),
                                      tree.map_structure(lambda t: t[:1], yd)))
    step_fn = model.train_step if training else model.test_step

    def run_epoch(epoch_index: int) -> dict[str, np.ndarray]:
        if shuffle:
            order = torch.as_tensor(shuffle_order(n, seed, epoch_index), device=device)
            xe = tree.map_structure(lambda t: t.index_select(0, order), xd)
            ye = tree.map_structure(lambda t: t.index_select(0, order), yd)
        else:
            xe, ye = xd, yd
        per_step: dict[str, list[float]] = {}
        sizes = []
        for i in range(steps):
            lo = i * batch_size
            xb = tree.map_structure(lambda t, lo=lo: t[lo : lo + batch_size], xe)
            yb = tree.map_structure(lambda t, lo=lo: t[lo : lo + batch_size], ye)
            if training:
                logs = step_fn((xb, yb))
            else:
                with torch.no_grad():
                    logs = step_fn((xb, yb))
            for k, v in logs.items():
                per_step.setdefault(k, []).append(float(v))
            sizes.append(len(tree.flatten(xb)[0]))
        out = {k: np.asarray(v, dtype=np.float32) for k, v in per_step.items()}
        out["batch_size"] = np.asarray(sizes, dtype=np.float32)
        return out

    return run_epoch, steps


def input_gradients(
    fn: Callable[[Any], Any], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores ``fn(x)`` and their gradients with respect to ``x`` (``torch.autograd``)."""
    import torch
    from keras.src.backend.torch.core import get_device

    xt = torch.tensor(np.asarray(x, dtype=np.float32), device=get_device(), requires_grad=True)
    s = fn(xt)
    (g,) = torch.autograd.grad(s.sum(), xt, allow_unused=True)
    return s.detach().cpu().numpy(), (None if g is None else g.detach().cpu().numpy())


def probe_function(
    probe_model: Any, loss_fn: Callable[[Any, Any], Any], grad_vars: Sequence[Any],
    read_vars: Sequence[Any], want_grads: bool,
) -> Callable[[np.ndarray, np.ndarray], tuple[list, Any, list, list]]:
    """The replay recorder's probe call; gradients of the mean loss by ``torch.autograd``."""
    import torch

    def as_list(out: Any) -> list:
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def probe_step(x: Any, y: Any) -> tuple[list, Any, list, list]:
        with torch.enable_grad() if want_grads else torch.no_grad():
            outs = as_list(probe_model(x, training=False))
            per_sample = loss_fn(y, outs[-1])
            grads: list = []
            if want_grads:
                params = [v.value for v in grad_vars]
                grads = list(torch.autograd.grad(per_sample.mean(), params, allow_unused=True))
                grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]
        detach = lambda t: t.detach()  # noqa: E731
        return ([detach(o) for o in outs], detach(per_sample), [detach(g) for g in grads],
                [detach(v.value) for v in read_vars])

    return probe_step


def visible_gpus() -> list[str]:
    """Names of the CUDA GPUs PyTorch computes on."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def exact_float32() -> None:
    """No TF32 for matmuls and cuDNN convolutions."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
