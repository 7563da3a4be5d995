"""The IPython extension: ``%load_ext venturalitica``.

Magics mirror the Python keywords: ``%vl_enforce df policy=p.yaml
target=prediction gender=Attribute9``, ``%vl_reference df name=train``,
``%%vl_monitor NAME``, ``%vl_mark``, ``%vl_marks`` and ``%vl_unmark``.
"""

from __future__ import annotations

import shlex

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from . import api
from .marks import Marks

_BOOLEAN = {"strict", "record"}
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def parse_arguments(line: str) -> tuple[list[str], dict]:
    """Splits ``df policy=p.yaml strict=false gender=sex`` into positional
    words and keywords (``strict`` and ``record`` become booleans)."""
    words, keywords = [], {}
    for token in shlex.split(line):
        name, eq, value = token.partition("=")
        if not eq:
            words.append(token)
            continue
        if not name.isidentifier():
            raise ValueError(f"{token!r}: a keyword must look like name=value")
        if name in _BOOLEAN:
            low = value.lower()
            if low not in _TRUE | _FALSE:
                raise ValueError(f"{name}={value}: expected true or false")
            keywords[name] = low in _TRUE
        else:
            keywords[name] = value
    return words, keywords


@magics_class
class VenturaliticaMagics(Magics):
    def __init__(self, shell):
        super().__init__(shell)
        self.marks = Marks(api.enforce, display)

    def _frame(self, words: list[str], magic: str):
        if len(words) != 1:
            raise ValueError(f"%{magic} takes one frame (a variable or expression) before the keywords")
        return self.shell.ev(words[0])

    @line_magic
    def vl_enforce(self, line: str):
        """Evaluate a policy on a dataframe and show the compliance badge.

        Usage::

            %vl_enforce DF policy=PATH [target=COL] [prediction=COL]
                        [strict=true|false] [record=true|false]
                        [decision=point|interval] [reference=NAME] [VAR=COL ...]

        DF is a variable or expression giving a pandas, polars or pyarrow
        frame. The keywords mirror ``vl.enforce``: ``target`` and
        ``prediction`` name the columns bound to the policy's target and
        prediction; ``VAR=COL`` binds any other policy variable
        (``gender=Attribute9``); ``reference`` names the reference drift
        controls compare with. The results are displayed and kept in
        ``_vl_results``. Example::

            %vl_enforce df policy=policy.yaml target=prediction gender=sex
            %vl_enforce df policy=drift.yaml reference=train
        """
        words, keywords = parse_arguments(line)
        results = api.enforce(self._frame(words, "vl_enforce"), **keywords)
        self.shell.user_ns["_vl_results"] = results
        display(results)

    @line_magic
    def vl_reference(self, line: str):
        """Record a dataframe as the reference drift controls compare with.

        Usage::

            %vl_reference DF name=NAME [columns=A,B,...] [bins=N]

        As ``vl.reference``: per column, quantile bins or category counts,
        never a row; kept under its SHA-256 with a ``reference`` event.
        """
        words, keywords = parse_arguments(line)
        if "columns" in keywords:
            keywords["columns"] = [c.strip() for c in keywords["columns"].split(",") if c.strip()]
        if "bins" in keywords:
            try:
                keywords["bins"] = int(keywords["bins"])
            except ValueError:
                raise ValueError(f"bins={keywords['bins']}: expected a whole number") from None
        recorded = api.reference(self._frame(words, "vl_reference"), **keywords)
        kinds = recorded["columns"]
        print(
            f"reference {recorded['reference']!r}: {recorded['rows']} rows, {len(kinds)} columns, "
            f"sha256 {recorded['reference_sha256'][:12]}, event {recorded['evidence']['seq']}"
        )
        for column, why in recorded.get("skipped", {}).items():
            print(f"  left out {column!r}: {why}")

    @cell_magic
    def vl_monitor(self, line: str, cell: str):
        """Measure the cell's energy, CO2e, peak memory and duration.

        Usage::

            %%vl_monitor NAME
            model.fit(X_train, y_train)

        The report is displayed after the cell, recorded in the evidence
        trail as a ``monitor`` event and kept in ``_vl_monitor``.
        """
        name = line.strip() or "cell"
        with api.monitor(name) as m:
            self.shell.run_cell(cell, store_history=False)
        self.shell.user_ns["_vl_monitor"] = m
        display(m)

    @line_magic
    def vl_mark(self, line: str):
        """Mark a dataframe: after every cell that changes it, the policy is
        evaluated again and the new badge shown.

        Usage::

            %vl_mark DF policy=PATH [target=COL] [VAR=COL ...]

        DF must be a variable name. ``%vl_marks`` lists the marks and
        ``%vl_unmark DF`` removes one. The first evaluation runs now.
        """
        words, keywords = parse_arguments(line)
        if len(words) != 1 or not words[0].isidentifier():
            raise ValueError("%vl_mark takes the name of a variable holding the frame")
        if "policy" not in keywords:
            raise ValueError("%vl_mark needs policy=PATH")
        mark(words[0], **keywords)
        self.marks.check(self.shell.user_ns)

    @line_magic
    def vl_marks(self, line: str):
        """List the marked dataframes with their policies and last verdicts."""
        if not len(self.marks):
            print("No marked dataframes.")
            return
        for m in self.marks:
            if m.last is None:
                verdict = "not evaluated"
            elif isinstance(m.last, Exception):
                verdict = f"error: {m.last}"
            else:
                verdict = "passed" if m.last.passed else "FAILED"
            extra = " ".join(f"{k}={v}" for k, v in m.keywords.items())
            print(f"{m.name}: policy={m.policy} {extra} -> {verdict}".replace("  ", " "))

    @line_magic
    def vl_unmark(self, line: str):
        """Stop re-evaluating a marked dataframe: ``%vl_unmark DF``."""
        name = line.strip()
        if not self.marks.remove(name):
            raise ValueError(f"{name!r} is not marked (see %vl_marks)")


class _Loaded:
    """The magics of the IPython session the extension is loaded in."""

    magics: VenturaliticaMagics | None = None


_loaded = _Loaded()


def mark(frame, policy: str, **keywords):
    """Marks a frame for re-evaluation after every cell that changes it.

    ``frame`` is a variable name, or the frame itself (its name is then
    looked up in the IPython namespace). Keywords as for ``vl.enforce``.
    """
    magics = _loaded.magics
    if magics is None:
        raise RuntimeError("vl.mark works in IPython/Jupyter: run %load_ext venturalitica first")
    ns = magics.shell.user_ns
    if isinstance(frame, str):
        name, obj = frame, None
    else:
        names = [k for k, v in ns.items() if v is frame and not k.startswith("_")]
        if not names:
            raise ValueError("the frame is not bound to a variable; pass its name: vl.mark('df', ...)")
        name, obj = names[0], None
    magics.marks.add(name, policy, obj, **keywords)


def load(ipython) -> None:
    if _loaded.magics is not None:
        return  # %load_ext twice: one hook, one set of marks
    _loaded.magics = VenturaliticaMagics(ipython)
    ipython.register_magics(_loaded.magics)
    ipython.events.register("post_run_cell", _after_cell)


def unload(ipython) -> None:
    if _loaded.magics is not None:
        ipython.events.unregister("post_run_cell", _after_cell)
        _loaded.magics = None


def _after_cell(result) -> None:
    magics = _loaded.magics
    if magics is not None and len(magics.marks):
        magics.marks.check(magics.shell.user_ns)
