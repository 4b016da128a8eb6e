"""Every verb and flag of inspect, check and cat is documented: in README.md or docs/, and in --help."""

from __future__ import annotations

import argparse

import pytest
from cli_helpers import run
from paths import REPO_ROOT

from mongoarchive.cli import build_parser

VERBS = ("inspect", "check", "cat")
GLOBAL = ("--version", "--debug", "-v", "--verbose", "-q", "--quiet")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no verbs registered")


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings if s not in ("-h", "--help")]


def _readme() -> str:
    """README.md and every page under docs/: the user documentation."""
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def test_verbs_are_registered() -> None:
    assert set(VERBS) <= set(_subparsers(build_parser()))


@pytest.mark.parametrize("verb", VERBS)
def test_verb_flags_in_help(capsys: pytest.CaptureFixture[str], verb: str) -> None:
    status, out, _ = run(capsys, verb, "--help")
    assert status == 0
    options = _options(_subparsers(build_parser())[verb])
    assert options, verb
    for option in options:
        assert option in out, f"{verb} --help does not show {option}"


def test_global_flags_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for verb in VERBS:
        assert verb in out
    for option in GLOBAL:
        assert option in out


@pytest.mark.parametrize("verb", VERBS)
def test_verb_and_flags_in_readme(verb: str) -> None:
    readme = _readme()
    assert f"mongoarchive {verb}" in readme
    for option in _options(_subparsers(build_parser())[verb]):
        assert f"`{option}" in readme or f"{option} " in readme, f"README lacks {verb} {option}"


def test_global_flags_exit_codes_and_hook_in_readme() -> None:
    readme = _readme()
    for option in GLOBAL:
        assert f"`{option}" in readme, option
    for status in ("**0**", "**1**", "**2**"):
        assert status in readme
    assert "mongoarchive-check" in readme
    assert (REPO_ROOT / ".pre-commit-hooks.yaml").read_text().count("id: mongoarchive-check") == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import mongoarchive

    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"mongoarchive {mongoarchive.__version__}"
