"""Package namespaces whose names are imported when first asked for (PEP 562).

A package's ``__init__`` imports what it exports under ``if TYPE_CHECKING:``, which is what type
checkers read; at run time those imports are read from the file (not run) to learn where each
name comes from. ``import burnish`` then loads no module of the package, and a program (or
``burnish summary``) loads only the modules whose names it uses: the log readers never load
torch, the metrics, the learner or the dashboard.
"""

from __future__ import annotations

import ast
import functools
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["lazy_exports"]


def _sources(init_file: str) -> dict[str, str]:
    """The module of each name that ``init_file`` imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"), init_file)
    sources: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module is not None:
                for alias in statement.names:
                    sources[alias.asname or alias.name] = statement.module
    return sources


def lazy_exports(
    package: str, init_file: str
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose ``init_file`` imports what it
    exports under ``if TYPE_CHECKING:``. A name is imported on first use and then kept in the
    package, so that later lookups are plain attribute reads of the same object; a submodule's
    name imports the submodule, as an eager ``__init__`` that imported it would have. The file
    is read at the first lookup, not at import: a program that imports the package's modules by
    their own names (the log readers) never reads it."""
    sources = functools.cache(functools.partial(_sources, init_file))

    def attribute(name: str) -> object:
        module = sources().get(name)
        if module is not None:
            value: object = getattr(importlib.import_module(module), name)
        else:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(sources()))

    return attribute, names
