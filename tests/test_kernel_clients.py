"""Real clients through the proxied kernelspec: nbclient and jupyter_kernel_test."""

from __future__ import annotations

import sys
import unittest

import jupyter_kernel_test
import nbformat
from kernel_env import PROXIED
from nbclient import NotebookClient


def test_nbclient_runs_a_notebook_and_every_reply_is_annotated(kernel_env):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math"),
        nbformat.v4.new_markdown_cell("Not executed."),
        nbformat.v4.new_code_cell("print(math.pi)"),
        nbformat.v4.new_code_cell("sum(range(10))"),
    ]
    replies = []

    def on_cell_executed(cell, cell_index, execute_reply):
        replies.append(execute_reply)

    client = NotebookClient(
        nb,
        kernel_name=PROXIED,
        resources={"metadata": {"path": str(kernel_env.project)}},
        on_cell_executed=on_cell_executed,
        timeout=60,
    )
    client.execute()
    assert len(replies) == 3
    metas = [reply["metadata"]["venturalitica"] for reply in replies]
    assert [m["status"] for m in metas] == ["ok"] * 3
    # nbclient sends no cell id (JupyterLab does: see test_kernel_proxy).
    assert [m["cell_id"] for m in metas] == [None] * 3
    assert [m["msg_id"] for m in metas] == [r["parent_header"]["msg_id"] for r in replies]
    assert nb.cells[3].outputs[0]["data"]["text/plain"] == "45"

    cells = [e["payload"] for e in kernel_env.events("cell")]
    assert [c["msg_id"] for c in cells] == [m["msg_id"] for m in metas]
    assert [c["execution_count"] for c in cells] == [1, 2, 3]


class PlainIPykernel(jupyter_kernel_test.KernelTests):
    """jupyter_kernel_test's suite against ipykernel, directly.

    Run by the test below (not collected on its own), which points
    JUPYTER_PATH at the private environment where the proxied spec lives.
    """

    __test__ = False
    kernel_name = "python3"
    language_name = "python"
    file_extension = ".py"
    code_hello_world = "print('hello, world')"
    completion_samples = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2"]
    invalid_code_samples = ["import = 7q"]
    code_page_something = "zip?"
    code_generate_error = "raise"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(1, 4)]", "result": "[1, 4, 9]"},
    ]
    code_display_data = [
        {"code": "from IPython.display import HTML, display; display(HTML('<b>test</b>'))", "mime": "text/html"},
        {"code": "from IPython.display import Math, display; display(Math('\\\\frac{1}{2}'))", "mime": "text/latex"},
    ]
    code_history_pattern = "1?2*"
    supported_history_operations = ("tail", "search")
    code_inspect_sample = "zip"
    code_clear_output = "from IPython.display import clear_output; clear_output()"


class ProxiedIPykernel(PlainIPykernel):
    """The same suite through the proxy: it must pass what the plain kernel passes."""

    kernel_name = PROXIED


def test_jupyter_kernel_test_suite_passes_the_same_through_the_proxy(kernel_env, monkeypatch):
    monkeypatch.chdir(kernel_env.project)  # the kernels' cwd: evidence lands there
    outcomes = {}
    for cls in (PlainIPykernel, ProxiedIPykernel):
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
        name = lambda t: t.id().rsplit(".", 1)[1]  # noqa: E731
        failed = {name(t) for t, _ in result.failures + result.errors}
        skipped = {name(t) for t, _ in result.skipped}
        outcomes[cls.__name__] = (result.testsRun, failed, skipped)
    plain_run, plain_failed, plain_skipped = outcomes["PlainIPykernel"]
    proxied_run, proxied_failed, proxied_skipped = outcomes["ProxiedIPykernel"]
    assert plain_run == proxied_run >= 12
    assert proxied_skipped == plain_skipped
    assert proxied_failed <= plain_failed, f"fail only through the proxy: {proxied_failed - plain_failed}"
