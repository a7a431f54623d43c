"""The layer rule holds on the tree, and the checker catches what breaks it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.architecture.layers import REPO_ROOT, all_imports, cycles, part_graph, report, violations


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for top in ("handlers", "stack", "loadtests", "chaos", "benchmarks"):
        (root / top).mkdir(exist_ok=True)
    return root


def test_the_tree_keeps_its_layers():
    imports = all_imports()
    assert len(imports) > 100, "the checker read almost nothing: has the layout moved?"
    assert violations(imports) == [], report(imports)


def test_an_upward_import_is_caught(tmp_path):
    root = _tree(
        tmp_path,
        {
            "handlers/worker.py": "def handler():\n    from stack.config import load_config\n",
            "stack/ops/demo.py": "from loadtests.model import params\n",
            "loadtests/cli.py": "import stack.cli\n",
            "stack/cli/__init__.py": "from chaos import cli\n",
        },
    )
    broken = violations(all_imports(root))
    assert any("handlers/worker.py:2: handlers.worker imports stack.config" in line for line in broken), broken
    assert any(line.startswith("stack/ops/demo.py:1:") for line in broken), broken
    assert any(line.startswith("loadtests/cli.py:1:") for line in broken), broken
    assert not any(line.startswith("stack/cli/__init__.py") for line in broken), "the composition root may import chaos"


def test_a_relative_import_is_resolved(tmp_path):
    root = _tree(tmp_path, {"handlers/providers/shopify.py": "from ...stack import config\n"})
    assert any("imports stack.config" in line for line in violations(all_imports(root)))


def test_the_signing_side_never_imports_handlers(tmp_path):
    root = _tree(tmp_path, {"stack/clients/webhook_client.py": "from handlers.providers import registry\n"})
    assert any("the signing side" in line for line in violations(all_imports(root)))


def test_cycles_between_parts_are_found():
    graph = part_graph([])
    assert cycles(graph) == []
    assert cycles([("chaos", "loadtests"), ("loadtests", "chaos"), ("stack", "handlers")]) == [("chaos", "loadtests")]


def test_the_cli_process_never_imports_locust_or_gevent():
    """Locust's gevent monkey-patching must not reach the CLI (boto3 threads, child processes)."""
    code = (
        "import sys, stack.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_lambda_code_imports_only_what_its_artifact_ships():
    """handlers/ runs from the artifact: the standard library, the runtime's boto3, requirements.txt."""
    import ast

    # pydantic_core: pydantic's own compiled core, shipped with it (its JSON parser reads request bodies).
    shipped = {"boto3", "botocore", "aws_lambda_powertools", "pydantic", "pydantic_core", "handlers"}
    outside = set()
    for path in sorted((REPO_ROOT / "handlers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top and top not in shipped and top not in sys.stdlib_module_names:
                    outside.add(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert outside == set()


def test_the_command_prints_the_graph_and_the_verdict():
    result = subprocess.run(
        [sys.executable, "-m", "tests.architecture"], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: OK" in result.stdout and "stack.cli  → loadtests" in result.stdout
