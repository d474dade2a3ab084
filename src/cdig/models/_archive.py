"""Zip archives read only after their declared sizes are checked.

``.pt2``, ``.keras``, TorchScript archives and ``torch.save`` files are zip archives. Each
member declares its uncompressed size, and Python's :mod:`zipfile` (and the readers built on
it) allocate that much when the member is read, whatever the archive's real size: a 2 MB
archive can declare gigabytes. :func:`check_zip` refuses an archive before anything is read
when

- a member would expand more than :data:`MAX_RATIO` times its compressed size (plus
  :data:`SLACK` bytes, so that small, very regular files such as JSON configs pass), or
- all members together would expand to more than ``MAX_RATIO`` times the archive's size on
  disk plus :data:`TOTAL_SLACK` bytes, or
- it has more than :data:`MAX_MEMBERS` members, or members whose compressed sizes add up to
  more than the file holds.

Deflate reaches about 1000x on padding; real weights compress less than 2x and JSON about
10-30x, so the limits refuse bombs and pass every model file we have seen.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["MAX_MEMBERS", "MAX_RATIO", "SLACK", "TOTAL_SLACK", "UnsafeArchiveError", "check_zip"]

#: Largest accepted ratio of a member's uncompressed to compressed size.
MAX_RATIO = 200
#: Bytes a member may expand to beyond ``MAX_RATIO`` times its compressed size.
SLACK = 1 << 20
#: Bytes the whole archive may expand to beyond ``MAX_RATIO`` times its size on disk.
TOTAL_SLACK = 64 << 20
#: Most members accepted in one archive.
MAX_MEMBERS = 100_000


class UnsafeArchiveError(ValueError):
    """The archive declares more than it can hold: reading it would allocate a bomb."""


def check_zip(zf: zipfile.ZipFile, path: str | Path) -> list[zipfile.ZipInfo]:
    """Check the declared sizes of every member of ``zf`` (read from ``path``) before reading.

    Parameters
    ----------
    zf : zipfile.ZipFile
        The open archive; only its central directory has been read.
    path : str or Path
        The archive's file, whose size on disk bounds what the members may declare.

    Returns
    -------
    list of zipfile.ZipInfo
        The members, in archive order.

    Raises
    ------
    UnsafeArchiveError
        When a member or the whole archive declares more than the limits above allow; the
        message names the member and its sizes.
    """
    size = Path(path).stat().st_size
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise UnsafeArchiveError(
            f"it is a zip archive of {len(infos)} members, more than the {MAX_MEMBERS} accepted."
        )
    total = packed = 0
    for info in infos:
        if info.file_size > MAX_RATIO * info.compress_size + SLACK:
            raise UnsafeArchiveError(
                f"its member {info.filename!r} declares {info.file_size} bytes from "
                f"{info.compress_size} compressed (a ratio above {MAX_RATIO}): a compression "
                "bomb; refused before reading it."
            )
        total += info.file_size
        packed += info.compress_size
    if packed > size:
        raise UnsafeArchiveError(
            f"its members declare {packed} compressed bytes, more than the file's {size}."
        )
    if total > MAX_RATIO * size + TOTAL_SLACK:
        raise UnsafeArchiveError(
            f"its members declare {total} bytes in all from a file of {size} bytes (more than "
            f"{MAX_RATIO} times its size): a compression bomb; refused before reading it."
        )
    return infos
