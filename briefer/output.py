"""Writing what briefer makes: regular files only, never an input, never over a file unasked.

``check_target`` runs before any work (a refused ``-o`` or ``--record`` costs nothing);
``write_file`` writes a temporary file beside the target and then links it into place, which
fails if the target appeared meanwhile (two runs to one path: one wins, the other is told),
or renames it over the target under ``--force``, keeping the old file's permissions. A write
that fails (disk full, no permission) leaves no partial file and the old one untouched.
``write_stdout`` turns a closed pipe or a full disk on stdout into one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from briefer.errors import OutputError
from briefer.ingest.reading import file_kind

STDOUT = "-"
_NEW_FILE_MODE = 0o666  # as open() creates files: the umask then takes away what it takes


def is_stdout(target: Path | None) -> bool:
    """Tell whether ``target`` means stdout (no ``-o`` or ``-o -``)."""
    return target is None or str(target) == STDOUT


def check_target(target: Path, inputs: Iterable[Path], *, force: bool, flag: str = "-o") -> None:
    """Refuse ``target`` unless it can be written: call before any work.

    Raises:
        OutputError: it is an input, a directory or anything but a regular file, it exists
            and ``force`` is off, or its directory does not exist.
    """
    try:
        info = os.stat(target)
    except FileNotFoundError:
        parent = Path(os.path.abspath(target)).parent
        if not parent.is_dir():
            raise OutputError(f"{target}: directory {parent} does not exist") from None
        return
    except OSError as exc:
        raise OutputError(f"{target}: cannot use as {flag} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{target}: is a directory; give {flag} a file name")
    if not stat.S_ISREG(info.st_mode):
        hint = "; use -o - for stdout" if flag == "-o" else ""
        raise OutputError(
            f"{target}: is {file_kind(info.st_mode)}; briefer writes only regular files{hint}"
        )
    check_not_input(target, inputs, flag=flag)
    if not force:
        raise OutputError(f"{target}: already exists; pass --force to overwrite it")


def check_not_input(target: Path, inputs: Iterable[Path], *, flag: str = "-o") -> None:
    """Refuse ``target`` if it is the same file as any of ``inputs`` (by device and inode).

    Raises:
        OutputError: it is.
    """
    identity = _identity(target)
    if identity is not None and any(_identity(path) == identity for path in inputs):
        raise OutputError(f"{target}: is one of the input files; choose another {flag} path")


def reserve_new_file(target: Path) -> bool:
    """Create ``target`` empty if it does not exist; return whether this call created it.

    Raises:
        OutputError: it cannot be created.
    """
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
    except FileExistsError:
        return False
    except OSError as exc:
        raise OutputError(f"{target}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    return True


def write_file(text: str, target: Path, *, replace: bool) -> None:
    """Write ``text`` (UTF-8) to ``target`` in one step; over an existing file only if ``replace``.

    Raises:
        OutputError: the target exists (without ``replace``) or is no longer a regular file,
            or the write failed; nothing is left behind and an existing file is unchanged.
    """
    data = text.encode("utf-8")
    final = target.resolve()  # through a symlink to the file it names
    existing = _regular_or_missing(target, final)
    try:
        fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(target, exc) from None
    try:
        try:
            _fill(fd, data, existing)
        finally:
            os.close(fd)
        if replace:
            _regular_or_missing(target, final)
            os.replace(temporary, final)
        else:
            _link_new(temporary, final, data, target)
    except OSError as exc:
        raise _write_error(target, exc) from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_stdout(text: str) -> None:
    """Write ``text`` to stdout and flush it.

    Raises:
        OutputError: stdout cannot take it (a closed pipe, a full disk); stdout is then
            silenced so that the interpreter's last flush adds no second error.
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        _silence_stdout()
        if exc.errno == errno.EPIPE:
            reason = "the program reading it closed the pipe"
        else:
            reason = exc.strerror or str(exc)
        raise OutputError(f"stdout: cannot write ({reason})") from None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _regular_or_missing(target: Path, final: Path) -> os.stat_result | None:
    try:
        info = os.stat(final)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _write_error(target, exc) from None
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(
            f"{target}: is {file_kind(info.st_mode)}; briefer writes only regular files"
        )
    return info


def _fill(fd: int, data: bytes, existing: os.stat_result | None) -> None:
    """Give the temporary file its final permissions, then its content, on disk."""
    if existing is None:
        os.fchmod(fd, _NEW_FILE_MODE & ~_umask())
    else:
        os.fchmod(fd, stat.S_IMODE(existing.st_mode))
        if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
            # As root, over someone else's file: keep it theirs.
            with contextlib.suppress(PermissionError):
                os.fchown(fd, existing.st_uid, existing.st_gid)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _link_new(temporary: str, final: Path, data: bytes, target: Path) -> None:
    """Put the temporary file at ``final`` unless something is there already (atomically)."""
    try:
        os.link(temporary, final)
        return
    except FileExistsError:
        raise OutputError(
            f"{target}: already exists (created while briefer ran); pass --force to overwrite it"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # No hard links on this file system: an exclusive create is just as atomic.
    try:
        fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
    except FileExistsError:
        raise OutputError(f"{target}: already exists; pass --force to overwrite it") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        final.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _write_error(target: Path, exc: OSError) -> OutputError:
    return OutputError(f"{target}: cannot write ({exc.strerror or exc})")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a descriptor (tests)
        return
