"""``netwarden notice send|list|show|ingest|ack``, ``netwarden recheck``, ``netwarden assess``."""

from __future__ import annotations

import json
import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select

from netwarden.cli import app
from netwarden.errors import InputError
from netwarden.i18n import N_, _, word
from netwarden.store import open_store

notice_app = typer.Typer(help="Notices to providers and the providers' response.",
                         no_args_is_help=True)
app.add_typer(notice_app, name="notice")

DB = typer.Option(None, "--db", help="Database URL (default: $NETWARDEN_DB or the "
                  "installation's SQLite file).")


def _ledger(store: Any) -> Any:
    from netwarden.ledger import Ledger

    return Ledger.open(store)


def _duration(text: str | None, option: str) -> timedelta | None:
    if text is None:
        return None
    from netwarden.scope import parse_duration

    return parse_duration(text, option, option)


def _config(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), N_("no such file")) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), _("is not valid TOML: {reason}").format(
            reason=exc)) from None


@notice_app.command("send")
def send_command(
    run_dir: Path = typer.Argument(..., help="Run directory (with findings.jsonl)."),
    fmt: str = typer.Option(..., "--format", help="acns, dsa, ru_hosting (copyright); "
                            "ru_csam, us_cybertipline, dsa (CSAM)."),
    config: Path = typer.Option(..., "--config", help="TOML with [notifier], [recipient] and "
                                "[smtp] tables (see docs/notices.md)."),
    finding: list[str] = typer.Option([], "--finding", help="Only this finding (repeatable)."),
    per_finding: bool = typer.Option(False, "--per-finding", help="One notice per finding "
                                     "instead of one per operator."),
    deadline: str | None = typer.Option(None, "--deadline", help="Override the "
                                        "jurisdiction's deadline (e.g. 24h)."),
    draft: bool = typer.Option(False, "--draft", help="Make and ledger, do not send."),
    include_leads: bool = typer.Option(False, "--include-leads", help="Also findings that "
                                       "are not verified distribution."),
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make notices about a run's findings, ledger them and deliver them over SMTP."""
    from netwarden.notices.formats.base import Party
    from netwarden.notices.outgoing import send_notices
    from netwarden.notices.send import SmtpSettings

    data = _config(config)
    source = str(config)
    notifier = Party.from_table(data.get("notifier", {}), source, "notifier")
    recipient = Party.from_table(data.get("recipient", {}), source, "recipient")
    smtp = None
    if not draft:
        table = dict(data.get("smtp") or {})
        if not table:
            raise InputError(source, N_("an [smtp] table is required unless --draft"), "smtp")
        env = table.pop("password_env", None)
        if env:
            table["password"] = os.environ.get(str(env), "")
        smtp = SmtpSettings.from_table(table, source)
    store = open_store(db)
    try:
        sent = send_notices(store, run_dir, fmt=fmt, notifier=notifier, recipient=recipient,
                            smtp=smtp, ledger=_ledger(store), finding_ids=finding,
                            group=not per_finding, deadline=_duration(deadline, "--deadline"),
                            served_only=not include_leads)
    finally:
        store.close()
    rows = [{"id": s.id, "format": s.format, "findings": list(s.finding_ids),
             "state": s.state, "complete": s.complete, "missing": list(s.missing),
             "delivery": s.delivery.as_dict() if s.delivery else None,
             "deadline_at": s.deadline_at.isoformat() if s.deadline_at else None}
            for s in sent]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for s in sent:
            answer = (f"{s.delivery.outcome} {s.delivery.code} {s.delivery.message}"
                      if s.delivery else None)
            deadline_text = (" — " + _("deadline {time}").format(time=s.deadline_at.isoformat())
                             if s.deadline_at else "")
            typer.echo(_("{id} {format} {count} finding(s): {state}").format(
                id=s.id, format=s.format, count=len(s.finding_ids), state=word(s.state))
                + f"{' — ' + answer if answer else ''}{deadline_text}")
            for m in s.missing:
                typer.secho("  " + _("incomplete: lacks {what}").format(what=m),
                            fg=typer.colors.YELLOW)
    if any(s.state == "failed" for s in sent):
        raise typer.Exit(1)


@notice_app.command("list")
def list_command(
    run: str | None = typer.Option(None, "--run", help="Only this run id."),
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List notices (outgoing and ingested) with their state and deadline."""
    from netwarden.notices.models import NoticeRow

    store = open_store(db)
    try:
        with store.session() as session:
            query = select(NoticeRow).order_by(NoticeRow.created_at)
            if run:
                query = query.where(NoticeRow.run_id == run)
            rows = [{"id": r.id, "direction": r.direction, "format": r.format,
                     "state": r.state, "recipient": r.recipient, "run_id": r.run_id,
                     "findings": len(r.finding_ids or []),
                     "created_at": r.created_at.isoformat(),
                     "deadline_at": r.deadline_at.isoformat() if r.deadline_at else None}
                    for r in session.scalars(query)]
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['id']}  {r['direction']:8} {r['format']:10} {r['state']:15} "
                   f"{r['recipient'] or '-'}  findings={r['findings']}  "
                   f"deadline={r['deadline_at'] or '-'}")


@notice_app.command("show")
def show_command(
    notice_id: str = typer.Argument(...),
    message: bool = typer.Option(False, "--message", help="Print the MIME message too."),
    db: str | None = DB,
) -> None:
    """Show one notice, its state history and (optionally) the exact message."""
    from netwarden.notices.models import NoticeRow

    store = open_store(db)
    try:
        with store.session() as session:
            row = session.get(NoticeRow, notice_id)
            if row is None:
                raise InputError(notice_id, N_("no such notice"))
            doc = {c.name: getattr(row, c.name) for c in NoticeRow.__table__.columns
                   if c.name != "message"}
            doc["events"] = [{"at": e.at.isoformat(), "state": e.state,
                              "finding_id": e.finding_id, "detail": e.detail,
                              "leaf_index": e.leaf_index} for e in row.events]
            raw = row.message
    finally:
        store.close()
    typer.echo(json.dumps(doc, indent=2, default=str, ensure_ascii=False))
    if message and raw:
        typer.echo(raw.decode("utf-8", "replace"))


@notice_app.command("ack")
def ack_command(notice_id: str = typer.Argument(...),
                note: str = typer.Option("", "--note"), db: str | None = DB) -> None:
    """Record that the provider acknowledged receipt of a notice."""
    from netwarden.notices.tracking import acknowledge

    store = open_store(db)
    try:
        acknowledge(store, notice_id, _ledger(store), note)
    finally:
        store.close()
    typer.echo(f"{notice_id}: {word('acknowledged')}")


@notice_app.command("ingest")
def ingest_command(
    eml: Path = typer.Argument(..., help="The notice e-mail (.eml)."),
    scope: Path | None = typer.Option(None, "--scope", help="Scope file naming the "
                                      "subscriber logs for attribution."),
    cache: Path = typer.Option(Path(".netwarden-cache"), "--cache",
                               help="Where attribution indexes are kept."),
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Parse ACNS notices from an e-mail, attribute them to a pseudonym and record them."""
    from netwarden.notices.ingest import ingest

    attributor = None
    if scope is not None:
        from netwarden.attribute import Attributor
        from netwarden.scope import load_scope

        attributor = Attributor.from_scope(load_scope(scope), cache)
    store = open_store(db)
    try:
        result = ingest(eml, store, attributor, ledger=_ledger(store))
    finally:
        store.close()
    rows = [{"id": i, **n.as_dict(), "attribution": a} for i, n, a in
            zip(result.notice_ids, result.notices, result.attributions, strict=True)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
        return
    for r in rows:
        a = r["attribution"]
        who = a.get("pseudonym") or _("no attribution ({code}: {reason})").format(
            code=a.get("reason_code"), reason=a.get("reason"))
        typer.echo(_("{id} case {case}: {address} at {time} → {who}").format(
            id=r["id"], case=r["case_id"], address=f"{r['ip']}:{r['port']}",
            time=r["timestamp"], who=who))


@app.command("recheck")
def recheck_command(
    run_dir: Path = typer.Argument(..., help="Run directory of the noticed findings."),
    scope: Path = typer.Option(..., "--scope", help="Scope file (the authorization must "
                               "still be valid)."),
    notice: list[str] = typer.Option([], "--notice", help="Only this notice (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Re-check even before the deadline "
                               "(a still-available result then does not count as failure)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds per service."),
    assess: bool = typer.Option(True, "--assess/--no-assess", help="Re-assess afterwards."),
    db: str | None = DB,
) -> None:
    """After the deadline, re-collect noticed locations and record removed / still there."""
    from netwarden.notices.recheck import recheck
    from netwarden.scope import load_scope

    the_scope = load_scope(scope)
    store = open_store(db)
    try:
        ledger = _ledger(store)
        results = recheck(store, the_scope, run_dir, ledger=ledger, notice_ids=notice,
                          force=force, timeout=timeout)
        for r in results:
            typer.echo(f"{r.notice_id} {r.finding_id}: {word(r.result)} — {r.reason}")
        if not results:
            typer.echo(_("no delivered notice is due for a re-check"))
        if assess:
            _assess(run_dir, store, ledger, None, (), False)
    finally:
        store.close()


def _assess(run_dir: Path, store: Any, ledger: Any, facts: Path | None,
            jurisdiction: list[str] | tuple[str, ...], as_json: bool) -> None:
    from netwarden.liability.assess import assess_run
    from netwarden.liability.facts import DeclaredFacts
    from netwarden.notices.runs import recorded_run
    from netwarden.notices.tracking import notice_facts
    from netwarden.store.models_findings import record_findings

    declared = DeclaredFacts.load(facts) if facts else None
    report = assess_run(run_dir, notice_facts(store), ledger=ledger, declared=declared,
                        jurisdictions=list(jurisdiction) or None)
    if recorded_run(store, run_dir) is not None:
        # the findings table is what the web, campaigns and notices read: keep it current
        record_findings(store, report.assessed)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        for text in report.texts.values():
            typer.echo(text)


@app.command("assess")
def assess_command(
    run_dir: Path = typer.Argument(..., help="Run directory (findings.jsonl)."),
    facts: Path | None = typer.Option(None, "--facts", help="TOML of declared facts with "
                                      "their basis (see docs/liability.md)."),
    jurisdiction: list[str] = typer.Option([], "--jurisdiction", help="Only these "
                                           "(default: every rules file)."),
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Assess liability per finding and per operator; fills findings.jsonl's assessment."""
    store = open_store(db)
    try:
        _assess(run_dir, store, _ledger(store), facts, jurisdiction, as_json)
    finally:
        store.close()
