"""The ``netwarden`` command: thin, it parses, calls the library and prints.

Each command group lives in its own module under ``netwarden.cli`` and registers itself on
:data:`app`. Exit codes (docs/cli.md):

- 0 ok (an audit: every service was checked);
- 1 a findings problem (a verification failed, a ledger or bundle did not verify, the demo did
  not find what it planted, a campaign left operators unaudited);
- 2 usage or input error: a file, key or option is wrong; the message names the file, the key
  and the problem, and no traceback is shown for anything a user can type or point to;
- 3 incomplete audit: at least one service could not be checked (each is named on stderr); the
  run directory is complete for the services that were.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from contextlib import ExitStack

import typer

from netwarden import __version__, i18n
from netwarden.errors import InputError

app = typer.Typer(
    name="netwarden",
    help="Audit a provider's network for known illegal content and prove each instance.",
    epilog="Exit codes: 0 ok; 1 a findings problem; 2 usage or input error; 3 an audit that "
           "could not check every service (docs/cli.md).",
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
             "campaign": "campaign", "report": "campaign", "serve": "serve", "user": "serve",
             "export": "export", "token": "token", "webhook": "webhook"}
_COMMAND_MODULES = tuple(dict.fromkeys(_COMMANDS.values()))

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INCOMPLETE = 3


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


def _fail(message: str) -> None:
    prefix = i18n.gettext("error:")
    typer.secho(f"{prefix} {message}", err=True, fg=typer.colors.RED)
    sys.exit(EXIT_INPUT)


def main() -> None:
    """Console-script entry point.

    Bad input of any kind ends with one ``error:`` line and exit 2, never a traceback: an
    :class:`InputError` (which names the file, the key and the problem), a file or directory
    that cannot be used (``--out /proc/x``), or a database that is not a netwarden database at
    the current schema (a missing table). ``NETWARDEN_NET_GUARD=loopback`` runs the command
    under the loopback-only net guard (the test suite sets it for the commands it starts).
    """
    with ExitStack() as stack:
        if os.environ.get("NETWARDEN_NET_GUARD") == "loopback":
            from netwarden import netguard

            stack.enter_context(netguard.guarded(netguard.loopback_policy))
        _load_commands()
        i18n.set_language(i18n.language_from_env())
        try:
            app()
        except InputError as exc:
            # the problem in the chosen language where the catalog has it (static messages are
            # marked with N_ where they are raised); names of inputs stay as given
            location = f"{exc.source}: {exc.where}" if exc.where else exc.source
            _fail(f"{location}: {i18n.gettext(exc.problem)}")
        except OSError as exc:
            if exc.filename is None:
                raise
            _fail(f"{exc.filename}: {exc.strerror or exc}")
        except Exception as exc:
            import sqlite3

            from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchTableError

            if isinstance(exc, ArgumentError):
                _fail(f"--db: not a database URL ({str(exc).splitlines()[0][:200]})")
            # raw cursors (the ledger's batch paths) raise the driver's own errors
            driver_errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
            try:
                import psycopg

                driver_errors += (psycopg.DatabaseError,)
            except ImportError:
                pass
            if isinstance(exc, (DBAPIError, NoSuchTableError, *driver_errors)):
                detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
                _fail(f"database: {detail} (is it a netwarden database at the current schema? "
                      "`netwarden` creates and migrates its own database)")
            raise
