"""``python -m venturalitica.kernel``: starts the kernel proxy.

VS Code's Jupyter extension lists a ``language: python`` kernelspec as a Python
kernel only when its argv is ``[<python>, "-m", <module>, ...]``, so the
kernelspecs ``venturalitica kernel install`` writes run this module. It
replaces itself with the agent binary (``os.execv``: same process, so
Jupyter's signals and exit status reach the proxy unchanged, and no Python
stays in the forwarding path) running ``kernel proxy`` with the arguments
that follow ``--agent PATH``.
"""

from __future__ import annotations

import os
import sys

from ._binary import find_agent_binary


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--agent"] and len(args) >= 2:
        binary = args[1]
        del args[:2]
    else:
        try:
            binary = str(find_agent_binary())
        except FileNotFoundError as e:
            sys.exit(f"venturalitica.kernel: {e}")
    try:
        os.execv(binary, [binary, "kernel", "proxy", *args])
    except OSError as e:
        sys.exit(f"venturalitica.kernel: cannot start the agent {binary}: {e}")


if __name__ == "__main__":
    main()
