"""Metrics: the protocols, the state helpers and the built-in metrics."""

from burnish.metric.accuracy import AccuracyMetric
from burnish.metric.base import (
    FormatOptions,
    Metric,
    MetricEntry,
    MetricMetadata,
    Numeric,
    NumericEntry,
    Progress,
    input_type_of,
    resolve_entries,
)
from burnish.metric.loss import LossMetric
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import RangeGuard

__all__ = [
    "AccuracyMetric",
    "FormatOptions",
    "LossMetric",
    "Metric",
    "MetricEntry",
    "MetricMetadata",
    "Numeric",
    "NumericEntry",
    "NumericMetricState",
    "NumericStateMetric",
    "Progress",
    "RangeGuard",
    "input_type_of",
    "resolve_entries",
]
