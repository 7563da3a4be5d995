"""Finding the agent binary the wheel installed beside the package."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

ENV_BIN = "VENTURALITICA_BIN"


def find_agent_binary() -> Path:
    """``$VENTURALITICA_BIN``, else the scripts directory of this interpreter's
    install schemes (where pip and uv put the wheel's binary), else ``PATH``."""
    explicit = os.environ.get(ENV_BIN)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{ENV_BIN}={explicit} is not a file")
        return path
    name = "venturalitica.exe" if sys.platform == "win32" else "venturalitica"
    candidates = [Path(sys.executable).parent / name]
    schemes = [sysconfig.get_default_scheme()]
    user = f"{os.name}_user"
    if user in sysconfig.get_scheme_names():
        schemes.append(user)
    for scheme in schemes:
        candidates.append(Path(sysconfig.get_path("scripts", scheme)) / name)
    for path in candidates:
        if path.is_file():
            return path
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError(
        "the venturalitica agent binary was not found next to this Python "
        f"({', '.join(str(c) for c in candidates)}) or on PATH; reinstall the "
        f"package (pip install venturalitica) or set {ENV_BIN}"
    )
