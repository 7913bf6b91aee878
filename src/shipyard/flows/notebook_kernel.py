"""The kernel a notebook step runs in: ipykernel on this very interpreter (``sys.executable``).

Not looked up by kernelspec name: a ``python3`` kernelspec in the user's Jupyter folders may point
at another Python, and a fresh virtual environment may have none at all. Imported only when a
notebook step runs (jupyter_client comes with the ``notebooks`` extra).
"""

from __future__ import annotations

import sys

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager


def kernel_spec() -> KernelSpec:
    return KernelSpec(
        argv=[
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--HistoryManager.enabled=False",  # no history database written per task
            "--IPKernelApp.log_level=CRITICAL",  # its TCP/shutdown chatter is not the notebook's output
        ],
        display_name="Python 3 (shipyard)",
        language="python",
        env={"PYDEVD_DISABLE_FILE_VALIDATION": "1"},  # no debugger warning in the task's stderr
        interrupt_mode="signal",
    )


class ThisPythonKernel(AsyncKernelManager):
    """A kernel manager whose kernel is always :func:`kernel_spec`."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return kernel_spec()
