"""Reports for people: the run's HTML report (and, later, per-operator and campaign reports)."""
