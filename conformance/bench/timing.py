"""The timed steps: one forward pass (no_grad), or one forward and backward pass.

Each step is a function of no arguments that ends only when the device has finished the
work it queued: on cuda with `torch.cuda.synchronize(device)` (kernels run asynchronously;
without it a timer would measure the launch, not the LSTM), on CPU with nothing. Before a
step is timed it is called `WARMUP_CALLS` times (oneDNN/cuDNN primitive creation, the
caching allocator, lazy initialisation), see `warm_up`.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch

from .checks import grad_output
from .sizes import Size
from .targets import Target, device_type

WARMUP_CALLS = 2


def synchronizer(device: str) -> Callable[[], None]:
    """What ends a timed step: waiting for the device's queued kernels (cuda), or nothing."""
    if device_type(device) == "cuda":
        return functools.partial(torch.cuda.synchronize, torch.device(device))
    return lambda: None


def forward_step(target: Target, size: Size, device: str) -> Callable[[], None]:
    """One inference forward pass, as a function of no arguments."""
    case = size.recipe(device).build()
    forward, _ = target.instantiate(case.spec, case.params, requires_grad=False)
    x, sync = case.input, synchronizer(device)

    def step():
        with torch.no_grad():
            forward(x)
        sync()
    return step


def forward_backward_step(target: Target, size: Size, device: str) -> Callable[[], None]:
    """One forward pass and the backward pass to the input and every parameter."""
    case = size.recipe(device).build()
    forward, leaves = target.instantiate(case.spec, case.params, requires_grad=True)
    x, sync = case.input.detach().clone().requires_grad_(), synchronizer(device)
    gradient = None
    tensors = [x, *leaves.values()]

    def step():
        nonlocal gradient
        for t in tensors:
            t.grad = None  # every call allocates its gradients, as a training step does
        output, _ = forward(x)
        if gradient is None:
            gradient = grad_output(output)
        output.backward(gradient)
        sync()
    return step


def warm_up(step: Callable[[], None], calls: int = WARMUP_CALLS) -> None:
    for _ in range(calls):
        step()
