"""`hookstack patterns`: the parts of the definition a stage can deploy, and which it selects."""

from __future__ import annotations

from stack.cli.app import JsonOpt, StageOpt, app, out, print_json
from stack.config import load_config


@app.command("patterns")
def patterns_command(stage: StageOpt = None, as_json: JsonOpt = False) -> None:
    """List the patterns (select them with `patterns` in hookstack.toml or `up --pattern`)."""
    from stack.patterns import PATTERNS

    selected = set(load_config(stage=stage).patterns)
    if as_json:
        print_json([{"name": p.name, "selected": p.name in selected, "summary": p.summary} for p in PATTERNS.values()])
        return
    width = max(len(name) for name in PATTERNS)
    for pattern in PATTERNS.values():
        mark = "*" if pattern.name in selected else " "
        out.print(f"{mark} {pattern.name:<{width}}  {pattern.summary}", highlight=False, soft_wrap=True)
