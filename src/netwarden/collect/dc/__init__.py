"""Direct Connect (ADC and NMDC) hubs: protocol modules, file lists, TTH checks, the collector.

Importing :mod:`netwarden.collect.dc.collector` registers the collector for the ``adc``,
``adcs``, ``nmdc`` and ``dchub`` schemes.
"""
