"""Entity tags of items, and the conditional-request headers that compare them.

An item's ETag is a hash of its `ItemRead` as JSON, not a version counter: the representation
includes the owner's username and full name, which change without any write to the item, and
the contract wants the ETag to change exactly when the representation does. A hash follows
that by construction (and needs no column); it costs one SHA-256 of a few hundred bytes.
"""

import hashlib
import re

from features.items.models import ItemRead

# an entity-tag (RFC 9110 §8.8.3): optionally weak, then an opaque quoted string
_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def etag_of(item: ItemRead) -> str:
    """The item's strong ETag (quoted)."""
    digest = hashlib.sha256(item.model_dump_json().encode()).hexdigest()
    return f'"{digest[:32]}"'


def _listed(header: str) -> list[tuple[bool, str]]:
    """The entity-tags of an If-Match / If-None-Match value, as (weak, tag); anything that is
    not an entity-tag matches nothing."""
    return [(bool(m.group(1)), m.group(2)) for m in _ENTITY_TAG.finditer(header)]


def if_match_holds(header: str, current: str) -> bool:
    """If-Match: `*` (the item exists), or a listed tag equal to `current` by the strong
    comparison — a weak tag never matches."""
    if header.strip() == "*":
        return True
    return any(not weak and tag == current for weak, tag in _listed(header))


def if_none_match_hits(header: str, current: str) -> bool:
    """If-None-Match: `*`, or a listed tag equal to `current` by the weak comparison (RFC 9110
    §13.1.2: `W/"x"` matches `"x"` here, so a proxy that weakened the tag still revalidates)."""
    if header.strip() == "*":
        return True
    return any(tag == current for _weak, tag in _listed(header))
