"""Jupyter server for the Galata tests: loopback only, on the port and root
the test runner chose, with the proxied kernel as the default."""

import os

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 - `c` is the config object Jupyter passes
c.ServerApp.ip = "127.0.0.1"  # noqa: F821
c.ServerApp.port = int(os.environ.get("VL_LAB_PORT", "8888"))  # noqa: F821
c.ServerApp.root_dir = os.environ["VL_LAB_ROOT"]  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821 - CI runs as root in a throwaway machine
c.MappingKernelManager.default_kernel_name = "venturalitica-python3"  # noqa: F821
