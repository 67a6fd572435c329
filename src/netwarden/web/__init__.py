"""The analysts' web application: pages, the versioned REST API and Prometheus metrics.

``netwarden serve`` runs :func:`netwarden.web.app.create_app`. Nothing here is imported by the
pipeline; the web layer only reads what audits wrote and appends review decisions and pseudonym
views to the ledger.
"""
