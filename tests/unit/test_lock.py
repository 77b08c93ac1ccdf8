"""The image's Python packages are locked: requirements.lock pins every
dependency of pyproject.toml (and theirs) and requirements-build.lock its
build backend, each by version and by hash, in versions pyproject.toml allows;
the Dockerfile installs them with --require-hashes and the package itself
with --no-deps, so nothing unlocked comes in. `make lock` rewrites both."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {
    "requirements.lock": PYPROJECT["project"]["dependencies"],
    "requirements-build.lock": PYPROJECT["build-system"]["requires"],
}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?: ; (?P<marker>[^\\]+?))?$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def _entries(text: str) -> list[tuple[str, list[str]]]:
    """(requirement, its --hash options) per logical line of a pip requirements file."""
    entries = []
    for logical in re.sub(r"\\\n", " ", text).splitlines():
        line = logical.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(" --hash=")
        entries.append((words[0].strip(), [f"--hash={h.strip()}" for h in words[1:]]))
    return entries


def _pins(lock: str) -> dict[str, Version]:
    pins = {}
    for requirement, _ in _entries((ROOT / lock).read_text()):
        found = _PIN.match(requirement)
        assert found, f"{lock}: {requirement!r} is not pinned with =="
        pins[canonicalize_name(found["name"])] = Version(found["version"])
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_line_of_the_lock_is_pinned_and_hashed(lock: str) -> None:
    entries = _entries((ROOT / lock).read_text())
    assert entries
    for requirement, hashes in entries:
        assert _PIN.match(requirement), f"{lock}: {requirement!r}"
        assert hashes, f"{lock}: {requirement!r} has no hash"
        assert all(_HASH.match(h) for h in hashes), f"{lock}: {requirement!r}"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_holds_every_requirement_of_pyproject_in_an_allowed_version(lock: str) -> None:
    pins = _pins(lock)
    for spec in LOCKS[lock]:
        wanted = Requirement(spec)
        name = canonicalize_name(wanted.name)
        assert name in pins, f"{lock} lacks {wanted.name} (pyproject.toml: {spec}): make lock"
        assert wanted.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, which {spec} does not allow: make lock"
        )


def test_the_lock_parser_sees_a_missing_hash_and_a_range() -> None:
    text = (
        "a==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via x\nb>=2 \\\n    --hash=md5:00\n"
    )
    assert _entries(text) == [
        ("a==1.0", ["--hash=sha256:" + "0" * 64]),
        ("b>=2", ["--hash=md5:00"]),
    ]
    assert not _PIN.match("b>=2")
    assert not _HASH.match("--hash=md5:00")


def test_the_dockerfile_installs_only_from_the_locks() -> None:
    dockerfile = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    commands = [
        command.strip()
        for line in dockerfile.splitlines()
        if line.startswith("RUN ")
        for command in line.removeprefix("RUN ").split("&&")
        if re.search(r"pip (install|wheel)", command)
    ]
    locked = [c for c in commands if " -r " in c]
    assert {c.split(" -r ")[1].split()[0] for c in locked} == set(LOCKS)
    assert all("--require-hashes" in c and "--no-deps" in c for c in locked)
    for command in commands:
        assert " -r " in command or "--no-deps" in command, command
    assert all("--no-build-isolation" in c for c in commands if "pip wheel" in c)
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert all(any(lock in line for line in copies) for lock in LOCKS)
