"""``python -m venturalitica.kernel``: starts the kernel proxy.

VS Code's Jupyter extension lists a ``language: python`` kernelspec as a Python
kernel only when its argv is ``[<python>, "-m", <module>, ...]``, so the
kernelspecs ``venturalitica kernel install`` writes run this module. It
replaces itself with the agent binary (``os.execv``: same process, so
Jupyter's signals and exit status reach the proxy unchanged, and no Python
stays in the forwarding path) running ``kernel proxy`` with the arguments
that follow ``--agent PATH``.

Windows has no ``exec`` (``os.execv`` starts a new process and ends this
one, so Jupyter would lose the process it started): there the agent is
started as a child that inherits the handles Jupyter passed
(``JPY_INTERRUPT_EVENT``, ``JPY_PARENT_PID``), and this process waits for it
and exits with its code. The agent also watches this process, so killing it
(Jupyter's last resort) ends the agent and its kernel.
"""

from __future__ import annotations

import os
import subprocess
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
    argv = [binary, "kernel", "proxy", *args]
    try:
        if os.name == "nt":
            sys.exit(_spawn_and_wait(argv))
        os.execv(binary, argv)
    except OSError as e:
        sys.exit(f"venturalitica.kernel: cannot start the agent {binary}: {e}")


def _spawn_and_wait(argv: list[str]) -> int:
    """Windows: the agent as a child; its exit code."""
    # close_fds=False: on Windows that is what lets inheritable handles
    # (Jupyter's interrupt event and parent handle) reach the child.
    child = subprocess.Popen(argv, close_fds=False)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            # A console's Ctrl-C reaches the agent too, which passes it on.
            continue


if __name__ == "__main__":
    main()
