"""The ``netwarden`` command: thin, it parses, calls the library and prints.

Each command group lives in its own module under ``netwarden.cli`` and registers itself on
:data:`app`; exit codes: 0 ok, 1 a findings problem (for example a verification failed),
2 usage or input error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import typer

from netwarden import __version__, i18n
from netwarden.errors import InputError

app = typer.Typer(
    name="netwarden",
    help="Audit a provider's network for known illegal content and prove each instance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# command (first argument) -> module that registers it. Only the module of the command being
# run is imported, so a quick command such as `hash` does not pay for SQLAlchemy and the
# collectors at start-up; `--help` and unknown commands import them all.
_COMMANDS = {"hash": "hash", "bank": "bank", "audit": "audit", "demo": "audit",
             "ledger": "ledger", "bundle": "bundle", "key": "key", "reveal": "reveal",
             "notice": "notice", "recheck": "notice", "assess": "notice",
             "campaign": "campaign", "report": "campaign", "serve": "serve", "user": "serve"}
_COMMAND_MODULES = tuple(dict.fromkeys(_COMMANDS.values()))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"netwarden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    lang: str | None = typer.Option(None, "--lang", help="Language of summaries, errors and "
                                    "reports: en or ru (default: $NETWARDEN_LANG, else en)."),
) -> None:
    """Audit a provider's network for known illegal content and prove each instance."""
    if lang is not None and i18n.normalize(lang) is None:
        raise typer.BadParameter(f"{lang!r} is not one of {', '.join(i18n.LANGUAGES)}",
                                 param_hint="--lang")
    chosen = i18n.set_language(i18n.language_from_env(lang))
    if lang is not None:
        # reports written by this command (report.html) follow --lang too
        os.environ[i18n.ENV_LANG] = chosen


def _load_commands(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), None)
    names = [_COMMANDS[first]] if first in _COMMANDS else list(_COMMAND_MODULES)
    for name in names:
        module = f"netwarden.cli.{name}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def main() -> None:
    """Console-script entry point."""
    _load_commands()
    i18n.set_language(i18n.language_from_env())
    try:
        app()
    except InputError as exc:
        # the problem in the chosen language where the catalog has it (static messages are
        # marked with N_ where they are raised); names of inputs stay as given
        location = f"{exc.source}: {exc.where}" if exc.where else exc.source
        prefix = i18n.gettext("error:")
        typer.secho(f"{prefix} {location}: {i18n.gettext(exc.problem)}", err=True,
                    fg=typer.colors.RED)
        sys.exit(2)
