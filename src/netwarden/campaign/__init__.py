"""Campaigns: audits over many operators, on one machine or on a Ray cluster, resumable.

``load_campaign`` parses ``campaign.toml``; ``run_campaign`` coordinates the attempts with an
executor from ``make_executor`` (``local`` worker processes or ``ray`` tasks); the state lives
in the installation database (``campaigns``, ``campaign_jobs``, ``campaign_attempts``), so a
crashed coordinator resumes where it stopped. See ``docs/campaigns.md``.
"""

from __future__ import annotations

from netwarden.campaign.config import Campaign, OperatorEntry, load_campaign
from netwarden.campaign.executors import Ended, LocalExecutor, make_executor
from netwarden.campaign.runner import CampaignResult, run_campaign

__all__ = ["Campaign", "CampaignResult", "Ended", "LocalExecutor", "OperatorEntry",
           "load_campaign", "make_executor", "run_campaign"]
