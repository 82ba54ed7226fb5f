"""Promotion helpers the CLI calls: ``config diff A B`` and the ``promote`` readiness check.

Both return typed results with a rich renderable (``render()``) and plain text (``to_text()``); the CLI
decides how to print them and which exit code to use (``ConfigDiff.identical``, ``PromotionReport.ok``).
"""

from batchforge.promotion.config_diff import ConfigDiff, ConfigRow, diff_configs, diff_stack_configs
from batchforge.promotion.promote import CheckResult, PromotionReport, check_promotion

__all__ = [
    "CheckResult",
    "ConfigDiff",
    "ConfigRow",
    "PromotionReport",
    "check_promotion",
    "diff_configs",
    "diff_stack_configs",
]
