"""Versioned prompt templates: ``prompts/<name>.v<N>.md`` -> chat messages and a ``PromptRef``.

A template file opens with a front-matter header (``name``, ``version``, ``description``)
between ``---`` lines, then one block per chat role introduced by a line ``[system]`` or
``[user]``. Placeholders are ``$name`` (``string.Template``); a literal dollar is ``$$``.

Templates are found in the bundled directory (``prompts/`` of a checkout, or
``briefer/_prompts`` inside an installed wheel) and, taking precedence, in a user directory.
A released version is never edited: ``prompts/LOCK.json`` holds the hash of each.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from string import Template

from pydantic import BaseModel, ConfigDict

from briefer.errors import PromptError
from briefer.models import PromptRef

# Switch a template's default version here, and only here.
DEFAULT_VERSIONS: dict[str, int] = {"map": 4, "reduce": 4, "repair": 2, "brief": 3, "verify": 1}

_FILE_NAME = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)\.v(?P<version>\d+)\.md$")
_ROLE_LINE = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)
_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # the briefer package


class PromptTemplate(BaseModel):
    """One template file: its header, its text and where it was found."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    description: str
    body: str
    sha256: str
    path: Path

    @property
    def ref(self) -> PromptRef:
        """Return the provenance record of this template."""
        return PromptRef(name=self.name, version=self.version, sha256=self.sha256)

    @property
    def variables(self) -> list[str]:
        """Return the placeholder names the template needs, in order of first use."""
        return list(dict.fromkeys(Template(self.body).get_identifiers()))


def bundled_prompts_dir() -> Path:
    """Return the shipped templates: ``briefer/_prompts`` in a wheel, else the checkout's."""
    installed = _PACKAGE_DIR / "_prompts"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / "prompts"


def list_prompts(user_dir: Path | None = None) -> list[PromptTemplate]:
    """Return every template; a user directory's shadow bundled ones of the same version."""
    found: dict[tuple[str, int], PromptTemplate] = {}
    for directory in (bundled_prompts_dir(), user_dir):
        if directory is None:
            continue
        if not directory.is_dir():
            raise PromptError(f"prompts directory {directory} does not exist: check --prompts-dir")
        for path in sorted(directory.glob("*.md")):
            if _FILE_NAME.match(path.name):
                template = read_template(path)
                found[(template.name, template.version)] = template
    return sorted(found.values(), key=lambda t: (t.name, t.version))


def load_prompt(
    name: str, version: int | None = None, user_dir: Path | None = None
) -> PromptTemplate:
    """Return template ``name`` at ``version`` (default: ``DEFAULT_VERSIONS``)."""
    available = [t for t in list_prompts(user_dir) if t.name == name]
    if not available:
        raise PromptError(f"unknown prompt template {name!r}: see `briefer prompts`")
    wanted = version if version is not None else DEFAULT_VERSIONS.get(name)
    if wanted is None:
        return max(available, key=lambda t: t.version)
    for template in available:
        if template.version == wanted:
            return template
    have = ", ".join(f"v{t.version}" for t in available)
    raise PromptError(f"prompt {name!r} has no version {wanted} (available: {have})")


def describe_prompts(
    user_dir: Path | None = None, versions: Mapping[str, int] | None = None
) -> list[tuple[str, str, str, str, str]]:
    """Return ``(name, version, use, sha256, description)`` rows for ``briefer prompts``.

    ``use`` is ``default``, ``selected`` (chosen by a version flag) or empty; a template from
    ``user_dir`` is marked ``(user)``.
    """
    chosen = versions or {}
    rows = []
    for template in list_prompts(user_dir):
        wanted = select_version(template.name, chosen)
        if wanted is not None:
            use = "selected" if wanted == template.version else ""
        else:
            use = "default" if DEFAULT_VERSIONS.get(template.name) == template.version else ""
        if user_dir is not None and template.path.parent == user_dir:
            use = f"{use} (user)".strip()
        rows.append(
            (template.name, f"v{template.version}", use, template.sha256, template.description)
        )
    return rows


def select_version(name: str, versions: Mapping[str, int]) -> int | None:
    """Return the version chosen for ``name`` in ``versions`` (``"*"`` applies to all), or None."""
    return versions.get(name, versions.get("*"))


def read_template(path: Path) -> PromptTemplate:
    """Return the template stored at ``path``; its header must match its file name."""
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    header, body = _split_front_matter(text, path)
    match = _FILE_NAME.match(path.name)
    name, version = header.get("name", ""), header.get("version", "")
    if not match or match["name"] != name or match["version"] != version:
        raise PromptError(
            f"{path}: header says {name or '?'} v{version or '?'}, but the file name does not "
            "match; name it <name>.v<version>.md"
        )
    if not header.get("description"):
        raise PromptError(f"{path}: the header has no description; add one")
    return PromptTemplate(
        name=name,
        version=int(version),
        description=header["description"],
        body=body,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=path,
    )


def render_prompt(
    template: PromptTemplate, variables: Mapping[str, object]
) -> list[dict[str, str]]:
    """Return the chat messages of ``template`` with ``variables`` substituted.

    The template is split into its role blocks first and each block is filled in on its own,
    so a value (article text) can never open, close or change a role, whatever lines it holds.

    Raises:
        PromptError: a placeholder has no value (all missing names are listed).
    """
    missing = [v for v in template.variables if v not in variables]
    if missing:
        raise PromptError(
            f"prompt {template.name} v{template.version} needs {', '.join(sorted(missing))}; "
            "pass every variable the template uses"
        )
    values = {k: str(v) for k, v in variables.items()}
    messages = []
    for role, block in _split_roles(template.body, template.path):
        try:
            content = Template(block).substitute(values)
        except ValueError as exc:  # a stray "$" in the template itself
            raise PromptError(f"{template.path}: {exc}; write a literal dollar as $$") from None
        messages.append({"role": role, "content": content.strip()})
    return messages


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, str], str]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---" or "---" not in (x.strip() for x in lines[1:]):
        raise PromptError(f"{path}: missing the '---' front-matter header (name, version, ...)")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    header: dict[str, str] = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep:
            header[key.strip()] = value.strip()
    return header, "\n".join(lines[end + 1 :])


def _split_roles(body: str, path: Path) -> list[tuple[str, str]]:
    """Return the ``(role, template text)`` blocks of a template body, before substitution."""
    parts = _ROLE_LINE.split(body)
    if parts[0].strip():
        raise PromptError(f"{path}: text before the first [system] or [user] line")
    blocks = list(zip(parts[1::2], parts[2::2], strict=True))
    if not blocks:
        raise PromptError(f"{path}: no [system] or [user] block")
    return blocks
