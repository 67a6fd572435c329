"""A loopback operator network with real servers, for ``netwarden demo`` and end-to-end tests.

``DemoNetwork`` is the demo's network (see :mod:`.network`); :mod:`.hostile` has servers that
lie, stall and attack, for the bad-input tests; :mod:`.servers` starts single real servers.
"""

from netwarden.testbed.network import BankFile, DemoNetwork, Expected, Plant, Reference
from netwarden.testbed.servers import Gate, RunningServer, serve_ftp, serve_http

__all__ = ["BankFile", "DemoNetwork", "Expected", "Gate", "Plant", "Reference",
           "RunningServer", "serve_ftp", "serve_http"]
