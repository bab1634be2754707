"""What the JSON records about the run: torch build and threads, the machine, the device."""
from __future__ import annotations

import os
import platform

import numpy as np
import torch

from .targets import cudnn_available, device_type

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info(device: str = "cpu") -> dict:
    """Torch build and threads, and the machine: stored in every benchmark's extra_info."""
    info = {
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkl_available": torch.backends.mkl.is_available(),
        "cuda_build": torch.version.cuda,
        "numpy_version": np.__version__,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "thread_env": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
    }
    if device_type(device) == "cuda":
        dev = torch.device(device)
        info["cuda_device"] = torch.cuda.get_device_name(dev)
        info["cudnn_available"] = cudnn_available()
        info["cudnn_version"] = torch.backends.cudnn.version() if cudnn_available() else None
    return info
