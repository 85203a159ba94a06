"""`make test`'s pytest-xdist scheduling: one work unit per tests/ folder.

A folder's session fixtures are expensive and made once per worker: the local cloud, its
Terraform deployment and the trained test model (tests/integration), the models the
training suite trains (tests/training), `terraform init` (tests/terraform). Keeping each
folder in one worker makes them once, as a serial run does, while the folders that wait
on a cloud overlap with those that compute. pytest 9 derives a node id from its parts, so
xdist 3.8's `--dist loadgroup` (which rewrites `item._nodeid`) no longer groups anything;
this is xdist's own pattern for a scope (LoadFileScheduling overrides `_split_scope` the
same way), through its documented `pytest_xdist_make_scheduler` hook.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# Started first (they take the longest); the rest fill in around them.
LONGEST_FIRST = ("integration", "training", "terraform")


def folder_of(nodeid: str) -> str:
    """`tests/<folder>/...` -> the folder; a file directly in tests/ is its own unit."""
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[1] if len(parts) > 2 else "/".join(parts)


def start_order(nodeid: str) -> int:
    folder = folder_of(nodeid)
    return LONGEST_FIRST.index(folder) if folder in LONGEST_FIRST else len(LONGEST_FIRST)


class FolderScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a tests/ folder as the scope."""

    def _split_scope(self, nodeid: str) -> str:
        return folder_of(nodeid)
