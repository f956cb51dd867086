"""Input types shared by every feature's schemas."""

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# NUL is refused by PostgreSQL text columns, and a lone surrogate cannot be encoded to UTF-8
# by either driver: both would surface as database errors instead of a clear 422.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def is_storable(value: str) -> bool:
    """Whether both database drivers can store `value` (no NUL, no unpaired surrogate)."""
    return _UNSTORABLE.search(value) is None


def _storable(value: str) -> str:
    if not is_storable(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


CleanStr = Annotated[str, AfterValidator(_storable)]
StrippedStr = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_storable)]
