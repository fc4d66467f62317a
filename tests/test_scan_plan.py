"""scan_plan.query_settings: what each plan's KNN query runs with (no database needed)."""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings

from shop_clip.scan_plan import ScanPlan, query_settings


def test_exact_search_runs_without_parallel_workers_by_default():
    assert query_settings(10, ScanPlan.EXACT) == {"enable_seqscan": "off", "max_parallel_workers_per_gather": "0"}


def test_exact_search_workers_none_keeps_the_servers_setting():
    with override_settings(SHOP_CLIP={**settings.SHOP_CLIP, "EXACT_SEARCH_WORKERS": None}):
        assert query_settings(10, ScanPlan.EXACT) == {"enable_seqscan": "off"}


def test_index_plans_keep_the_servers_parallel_workers():
    assert "max_parallel_workers_per_gather" not in query_settings(10, ScanPlan.INDEX)
