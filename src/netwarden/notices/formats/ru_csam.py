"""Report of CSAM to Roskomnadzor under 149-ФЗ ст. 15.1 (the Russian CSAM route).

Why a format of its own, not ``ru_hosting``: the copyright notice is a rightholder's written
statement under ГК РФ ст. 1253.1 п. 3 — civil law about exclusive rights, which says nothing
about child sexual abuse material. CSAM is entered in the unified register of prohibited
information *without a court decision* (149-ФЗ ст. 15.1 [S]); the register entry and RKN's
notice start the hosting provider's duty to inform the owner immediately, the owner's duty to
delete within 24 hours, and the access operators' duty to block [S]. So this report asks RKN
for the register entry and names what the register holds — page URLs and network addresses —
with the evidence (digests and hash-list entries, never the material: netwarden keeps none).

Required for the report to be usable (``missing`` otherwise): each item's network address (URL
or IP and port) and the ground of inclusion. The research note gives no checked field list for
reports to RKN, so nothing else is required; the notifier may give contacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from netwarden.notices.formats.base import NoticeFormat, NoticeInput, Rendered, hashes, utc

GROUND = ("материалы с порнографическими изображениями несовершеннолетних (149-ФЗ ст. 15.1 "
          "ч. 5 п. 1 подп. «а» — основание для включения в единый реестр без решения суда)")


def _matches(f: Mapping[str, Any]) -> str:
    items = f.get("matches") or [{"bank": f.get("bank"), "reference": f.get("reference"),
                                  "algorithm": f.get("match_algorithm"),
                                  "method": f.get("match_method"),
                                  "distance": f.get("match_distance")}]
    return "; ".join(f"{m.get('bank')}/{m.get('reference')} ({m.get('algorithm')}"
                     + (f", расстояние {m.get('distance')}" if m.get("method") == "perceptual"
                        else "") + ")" for m in items)


class RuCsamFormat(NoticeFormat):
    """Сообщение в Роскомнадзор о материалах с порнографическими изображениями
    несовершеннолетних (149-ФЗ ст. 15.1)."""

    name: ClassVar[str] = "ru_csam"
    title: ClassVar[str] = "report to Roskomnadzor (149-ФЗ ст. 15.1, CSAM)"
    jurisdiction: ClassVar[str] = "ru"
    categories: ClassVar[tuple[str, ...]] = ("csam",)

    def render(self, data: NoticeInput) -> Rendered:
        self.check_input(data)
        n = data.notifier
        missing = [f"сетевой адрес (URL, IP и порт) элемента {f.get('id')}"
                   for f in data.findings
                   if not (f.get("location") and f.get("host") and f.get("port"))]
        lines = ["СООБЩЕНИЕ О РАЗМЕЩЕНИИ ЗАПРЕЩЁННОЙ ИНФОРМАЦИИ",
                 "(материалы с порнографическими изображениями несовершеннолетних; "
                 "Федеральный закон № 149-ФЗ «Об информации…», ст. 15.1)",
                 f"№ {data.notice_id} от {utc(data.created_at)}", "",
                 f"Кому: {data.recipient.entity} <{data.recipient.email}>",
                 f"От: {n.entity or 'заявитель'} {n.address} {n.phone} {n.email}".rstrip(),
                 *([f"Основание проверки: {data.authorization}"] if data.authorization else []),
                 *([f"Проверка: {data.check_id}"] if data.check_id else []), "",
                 f"Основание для включения в единый реестр: {GROUND}.", "",
                 "Просим включить указанные страницы и сетевые адреса в единый реестр и "
                 "направить уведомление провайдеру хостинга и операторам связи. Материалы "
                 "не прилагаются: система хранит только хеш-суммы, не содержимое.", ""]
        for i, f in enumerate(data.findings, start=1):
            served = f.get("evidence_level") == "served"
            lines += [f"{i}. Страница / сетевой адрес: {f.get('location')} "
                      f"(IP {f.get('host')}, порт {f.get('port')}, протокол "
                      f"{f.get('protocol')})",
                      f"   Время фиксации (UTC): {utc(f.get('observed_at'))}; имя файла "
                      f"{f.get('name')!r}; размер {f.get('size')} байт",
                      "   Хеш-суммы полученных данных: "
                      + ", ".join(f"{a}={v}" for a, v in hashes(f)),
                      f"   Совпадения с перечнями: {_matches(f)}",
                      "   Доказательство: " + ("данные получены с этого адреса и проверены по "
                                               "хеш-сумме" if served else
                                               "только сведения о наличии (не проверено)"), ""]
        lines += ["Сроки после включения в реестр (149-ФЗ ст. 15.1): провайдер хостинга "
                  "незамедлительно уведомляет владельца ресурса; владелец удаляет страницу в "
                  "течение суток; операторы связи ограничивают доступ (в течение суток с "
                  "момента обновления реестра).",
                  "Вопрос об уголовной ответственности (УК РФ ст. 242.1) требует сведений о "
                  "лицах и умысле, которых технические данные не содержат.", "",
                  "English summary: report of child sexual abuse material to Roskomnadzor for "
                  "entry in the unified register of prohibited information (Federal Law "
                  "149-FZ art. 15.1); the network addresses, times and digests above identify "
                  "the items; no material is attached."]
        text = "\n".join(lines) + "\n"
        return Rendered(subject=f"Сообщение о запрещённой информации (149-ФЗ ст. 15.1) "
                                f"№ {data.notice_id}",
                        text=text, attachments=((f"report-{data.notice_id}.txt",
                                                 "text/plain; charset=utf-8",
                                                 text.encode("utf-8")),),
                        missing=tuple(missing))
