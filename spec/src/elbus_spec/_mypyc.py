"""`mypyc_attr`, the class options of mypyc (which compiles the spec's hot loops), without depending on mypy.

mypyc reads the decorator while it compiles and leaves it out of the compiled
class; run as pure Python, the decorator changes nothing, so the package
needs nothing installed beside it either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ["mypyc_attr"]

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr as mypyc_attr
else:

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[Any], Any]:
        """Leave the class as it is: its options only mean something to mypyc."""
        return lambda cls: cls
