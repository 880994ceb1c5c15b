"""The lab stays outside the production package: service/ never imports it, and the CLI still has its commands."""

from __future__ import annotations

import ast
from pathlib import Path

import service

SERVICE = Path(service.__file__).parent


def test_service_never_imports_lab():
    offenders = []
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(SERVICE)}: {n}" for n in names if n == "lab" or n.startswith("lab.")]
    assert offenders == []


def test_the_lab_commands_reach_paperboy_through_entry_points():
    from service.cli import main

    assert {"simulate", "evaluate", "online-check"} <= set(main.commands)
    assert main.commands["online-check"].callback.__module__ == "lab.commands"
