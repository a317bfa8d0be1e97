"""Where a training job runs (accelerator, processes): checked before anything is trained.

Shared by the trainer's command line and the Dagster profiles, so ``--devices 0`` and
``NAS_ASSETS_DEVICES=0`` fail with the same rule. Placement does not change what a run measures,
so it is not part of a run's configuration (see :mod:`nas_assets.core.run_keys`).
"""

from __future__ import annotations

from nas_assets.core.settings import require_int_at_least

#: Lightning accelerators a job may ask for (``auto``: a GPU when one is visible, else the CPU).
ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "gpu")


def check_placement(accelerator: str, devices: int, num_nodes: int = 1) -> None:
    """Raise when a job could not start with these settings.

    Args:
        accelerator: one of :data:`ACCELERATORS`.
        devices: processes per node (>= 1; with ``gpu``, at most the visible GPUs).
        num_nodes: nodes (>= 1).

    Raises:
        SettingError: ``devices`` or ``num_nodes`` below 1, or more GPUs than visible.
        ValueError: an unknown accelerator, or ``gpu`` without a visible CUDA GPU.
    """
    if accelerator not in ACCELERATORS:
        raise ValueError(f"accelerator {accelerator!r}: expected one of {', '.join(ACCELERATORS)}")
    require_int_at_least("devices", devices, 1)
    require_int_at_least("num_nodes", num_nodes, 1)
    if accelerator == "gpu":
        import torch  # only here: the Dagster definitions load without torch otherwise

        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if visible == 0:
            raise ValueError("accelerator 'gpu': no CUDA GPU is visible on this machine; use cpu or auto")
        if num_nodes == 1 and devices > visible:
            raise ValueError(f"devices {devices} with accelerator 'gpu': only {visible} GPU(s) visible "
                             "on this machine")
