"""Lazy re-exports (PEP 562): a package names its public API without importing numpy, torch or FastAPI up front.

`import embedproof` and `embedproof.models.hashing` must work with the standard library alone, so a package's
`__init__` maps each public name to the module defining it and imports that module on first use. Every
package also lists the same names under `TYPE_CHECKING`, so IDEs and type checkers see them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, resolving each of `names` (name → defining module) on demand."""

    def __getattr__(name: str) -> object:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
