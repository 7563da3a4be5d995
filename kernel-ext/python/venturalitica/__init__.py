"""Venturalitica: compliance as metadata for ML notebooks.

>>> import venturalitica as vl
>>> results = vl.enforce(data=df, policy="policy.yaml", target="prediction", gender="sex")
>>> results.passed, results.to_dict()
>>> with vl.monitor("training_run_v1"):
...     model.fit(X, y)
>>> vl.scan(project_root=".").passed

In IPython / Jupyter: ``%load_ext venturalitica`` adds ``%vl_enforce``,
``%%vl_monitor``, ``%vl_mark``, ``%vl_marks`` and ``%vl_unmark``.
"""

from importlib.metadata import PackageNotFoundError, version

from .api import ScanResults, VerifyReport, enforce, monitor, reference, scan, verify
from .errors import (
    AgentError,
    ComplianceBlockError,
    DataError,
    PolicyError,
    VenturaliticaError,
    VenturaliticaWarning,
)
from .models import ComplianceResult

# From the submodule, so that the package's `quickstart` is the function: a
# later `import venturalitica.quickstart` finds the module loaded and leaves
# this name alone.
from .quickstart import load_sample, quickstart
from .results import ComplianceResults, ControlResult, PolicyResults
from .sample import AssuranceWrapper, PolicyManager, retain, sample_policy, wrap

try:
    __version__ = version("venturalitica")
except PackageNotFoundError:  # a source checkout on sys.path
    __version__ = "0.0.0+source"

__all__ = [
    "AgentError",
    "AssuranceWrapper",
    "ComplianceBlockError",
    "ComplianceResult",
    "ComplianceResults",
    "ControlResult",
    "DataError",
    "PolicyError",
    "PolicyManager",
    "PolicyResults",
    "ScanResults",
    "VenturaliticaError",
    "VenturaliticaWarning",
    "VerifyReport",
    "enforce",
    "load_sample",
    "mark",
    "monitor",
    "quickstart",
    "reference",
    "retain",
    "sample_policy",
    "scan",
    "verify",
    "wrap",
]


def mark(frame, policy, **keywords):
    """Marks a frame (IPython only): see :func:`venturalitica.magics.mark`."""
    from .magics import mark as _mark

    return _mark(frame, policy, **keywords)


def load_ipython_extension(ipython):
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython):
    from .magics import unload

    unload(ipython)
