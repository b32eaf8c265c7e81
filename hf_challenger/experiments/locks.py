"""One run per output folder: ``hf-challenger train`` and ``compare`` hold a lock on the folder they write.

The lock is the file ``_hf_challenger.lock`` in the output folder, held with an exclusive
``flock`` for the whole run and holding the owner's process id, host name, start time and
command. A second run into the same folder is refused at once with :class:`OutputFolderBusy`,
naming the folder and the run that holds it, before it loads data or writes anything; so no
run's files are overwritten by another's.

The operating system drops an ``flock`` when its process ends, however it ends (``kill -9``
included), so a lock file left by a killed run holds no lock: the next run takes it over,
warning with the dead run's process id and host. A run on another machine sharing the folder
over a network file system is seen only where that file system supports ``flock``.

Under ``torchrun``/``accelerate launch`` only the main process takes the lock (the others write
nothing but follow the main process).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
import warnings
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_NAME = "_hf_challenger.lock"  #: "_" so that Trainer's push to the Hub leaves it out


class OutputFolderBusy(RuntimeError):
    """Another live run holds the output folder (the message names the folder and that run)."""


def _describe(text: str) -> str:
    """``pid N on host H since T (command)`` from a lock file's contents, or what is known of them."""
    try:
        owner = json.loads(text)
        return (
            f"pid {int(owner['pid'])} on host {str(owner['host'])[:100]!r} since {str(owner['started'])[:40]} "
            f"({str(owner['command'])[:200]})"
        )
    except (ValueError, KeyError, TypeError):
        return "a run whose lock file gives no owner"


@contextmanager
def output_lock(folder: str | os.PathLike, enabled: bool = True) -> Iterator[Path | None]:
    """Hold the lock of ``folder`` (created if missing) for the ``with`` block; yields the lock file.

    Folders created for the lock that are still empty at the end are removed again.

    ``enabled=False`` (a process other than the main one) takes no lock and yields ``None``; under a
    multi-process launch every process learns whether the main one got the lock and raises with it.

    Raises:
        OutputFolderBusy: when another live process holds the lock.
    """
    folder = Path(folder)
    created = [parent for parent in (folder, *folder.parents) if not parent.exists()] if enabled else []
    handle, refusal = None, None
    if enabled:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            handle = _acquire(folder / LOCK_NAME)
        except OutputFolderBusy as busy:
            refusal = str(busy)
    refusal = _shared_with_all_processes(refusal)  # every process of a launch stops, not only the main one
    if refusal is not None:
        _release(folder, handle, created)
        raise OutputFolderBusy(refusal)
    try:
        yield folder / LOCK_NAME if enabled else None
    finally:
        _release(folder, handle, created)


def _release(folder: Path, handle: Any, created: list[Path]) -> None:
    """Remove the lock file while still holding it, unlock, and remove folders made for it if empty."""
    if handle is not None:
        try:
            (folder / LOCK_NAME).unlink()  # while still locked: a waiting opener re-checks the inode (_acquire)
        finally:
            handle.close()
    for made in created:  # folders made for the lock and left empty (a run refused before writing)
        try:
            made.rmdir()
        except OSError:
            break


def _shared_with_all_processes(refusal: str | None) -> str | None:
    """The main process's ``refusal`` on every process of a ``torchrun``/``accelerate`` launch."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return refusal
    box = [refusal]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _acquire(path: Path):
    """Open and ``flock`` ``path``, retrying when it was replaced between the open and the lock."""
    while True:
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe(handle.read(4096))
            handle.close()
            raise OutputFolderBusy(
                f"the output folder {path.parent} is in use by another run: {holder}. Wait for it to finish, or "
                "choose another output folder"
            ) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous owner removed it after we opened it: lock the new file instead
            handle.close()
            continue
        handle.seek(0)
        previous = handle.read(4096)
        if previous.strip():
            warnings.warn(
                f"taking over the lock of {path.parent} left by {_describe(previous)}, which is no longer running",
                UserWarning,
                stacklevel=4,
            )
        handle.seek(0)
        handle.truncate()
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "command": " ".join(sys.argv)[:500],
        }
        handle.write(json.dumps(owner))
        handle.flush()
        return handle
