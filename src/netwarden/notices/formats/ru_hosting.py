"""Notice to a hosting intermediary under ГК РФ ст. 1253.1 п. 3 (Russian Civil Code).

Per the research note (§7) [T], the hosting intermediary keeps its exemption only if, on a
*written statement from the rightholder* that names the *site page and/or network address*
where the material is placed, it takes the necessary and sufficient measures in due time. The
notice therefore states: who the rightholder is (and the agent, if any), the work, the
infringement of the exclusive right, and the page / network address (URL, IP, port). It is
sent by e-mail; the written text is also attached as UTF-8 text. The Federal Law 149-ФЗ
art. 15.7 field list is [M] in the note (to verify) and is therefore not required here.
"""

from __future__ import annotations

from typing import ClassVar

from netwarden.notices.formats.base import NoticeFormat, NoticeInput, Rendered, hashes, utc


class RuHostingFormat(NoticeFormat):
    """Уведомление информационному посреднику (ст. 1253.1 п. 3 ГК РФ)."""

    name: ClassVar[str] = "ru_hosting"
    title: ClassVar[str] = "notice to a hosting intermediary (ГК РФ ст. 1253.1 п. 3)"
    jurisdiction: ClassVar[str] = "ru"
    categories: ClassVar[tuple[str, ...]] = ("copyright",)

    def render(self, data: NoticeInput) -> Rendered:
        self.check_input(data)
        n = data.notifier
        rightholder = n.on_behalf_of or n.entity
        missing = []
        if not rightholder:
            missing.append("п. 3 подп. 2: заявление правообладателя (rightholder)")
        if not (n.email or n.address):
            missing.append("contact of the rightholder or its representative")
        lines = ["УВЕДОМЛЕНИЕ О НАРУШЕНИИ ИСКЛЮЧИТЕЛЬНЫХ ПРАВ",
                 "(письменное заявление правообладателя, ст. 1253.1 п. 3 ГК РФ)",
                 f"№ {data.notice_id} от {utc(data.created_at)}", "",
                 f"Кому: {data.recipient.entity} <{data.recipient.email}>",
                 f"Правообладатель: {rightholder}",
                 *( [f"Представитель: {n.entity}"] if n.on_behalf_of else [] ),
                 f"Контакты: {n.address} {n.phone} {n.email}".rstrip(), "",
                 "Правообладатель сообщает, что в вашей сети без его разрешения размещены "
                 "материалы, нарушающие исключительные права на следующие произведения, и "
                 "требует принять необходимые и достаточные меры для прекращения нарушения:", ""]
        for i, f in enumerate(data.findings, start=1):
            digest = ", ".join(f"{a}={v}" for a, v in hashes(f)[:2])
            lines += [f"{i}. Произведение: {f.get('title') or f.get('reference')} "
                      f"(идентификатор {f.get('reference')})",
                      f"   Страница / сетевой адрес: {f['location']} "
                      f"(IP {f['host']}, порт {f['port']})",
                      f"   Время фиксации (UTC): {utc(f['observed_at'])}; имя файла "
                      f"{f.get('name')!r}; размер {f.get('size')} байт; {digest}", ""]
        if data.deadline_at:
            lines.append(f"Повторная проверка будет проведена после {utc(data.deadline_at)}.")
        lines += ["", f"Подпись: {n.signature or '—'}", "",
                  "English summary: written notice of the rightholder under art. 1253.1 p. 3 "
                  "of the Russian Civil Code naming the network addresses above; please take "
                  "the necessary and sufficient measures to stop the infringement in due time."]
        text = "\n".join(lines) + "\n"
        return Rendered(subject=f"Уведомление о нарушении исключительных прав № {data.notice_id}",
                        text=text, attachments=((f"notice-{data.notice_id}.txt",
                                                 "text/plain; charset=utf-8",
                                                 text.encode("utf-8")),),
                        missing=tuple(missing))
