"""Several loopback operator networks and a campaign file over them, for the campaign tests.

Operator k runs on 127.(OCTET0+k).0.0/16 with its own seed: its own servers, banks, RADIUS
log and pseudonym key. The campaign imports every operator's bank files (a shared bank).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from netwarden.testbed import DemoNetwork, Gate

OCTET0 = 120


@contextlib.contextmanager
def operator_networks(workdir: Path, count: int, octet0: int = OCTET0, *,
                      gate: Gate | None = None) -> Iterator[list[DemoNetwork]]:
    """Start ``count`` operator testbeds (stopped when the block ends).

    With ``gate``, every subscriber's file transfer is held until the gate is released, so a
    test can kill or cut something while an audit is certainly running; the gate is released
    when the block ends, whatever happened."""
    with contextlib.ExitStack() as stack:
        if gate is not None:
            stack.callback(gate.release)  # runs before the servers stop (reverse order)
        nets = []
        for k in range(count):
            net = DemoNetwork(workdir / f"op{k:02d}", seed=100 + k, prefix_octet=octet0 + k,
                              operator=f"Operator {k:02d} Telecom", gate=gate)
            stack.enter_context(net)
            nets.append(net)
        yield nets


def write_campaign(path: Path, nets: list[DemoNetwork], name: str = "test-campaign", *,
                   workers: int = 2, retries: int = 2, extra: str = "") -> Path:
    """A campaign.toml listing every network's scope and bank files."""
    lines = ["[campaign]", f'name = "{name}"', f"workers = {workers}", f"retries = {retries}",
             'out = "runs"', extra, ""]
    for net in nets:
        lines += ["[[operators]]", f'scope = "{net.scope_path}"', ""]
        for bank in net.banks:
            lines += ["[[banks]]", f'name = "{bank.name}"', f'category = "{bank.category}"',
                      f'format = "{bank.format}"', f'path = "{bank.path}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def expected_served(nets: list[DemoNetwork]) -> set[tuple[str, str, str]]:
    """(host, location, reference) of every planted copy over all operators."""
    return {tuple(e) for net in nets for e in net.expected}
