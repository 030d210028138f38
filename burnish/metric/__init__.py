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
from burnish.metric.collection import MetricCollection
from burnish.metric.confusion import (
    DecisionRule,
    FBetaScoreMetric,
    PrecisionMetric,
    RecallMetric,
)
from burnish.metric.confusion_matrix import ConfusionMatrixMetric
from burnish.metric.hamming import HammingScoreMetric
from burnish.metric.loss import LossMetric
from burnish.metric.perplexity import PerplexityMetric
from burnish.metric.ranking import AucPrMetric, AurocMetric
from burnish.metric.state import (
    ConfusionStatsState,
    NumericMetricState,
    NumericStateMetric,
    PredictionAccumulator,
    ScoreHistogram,
)
from burnish.metric.topk import TopKAccuracyMetric
from burnish.metric.validation import DeferredChecks, GuardBounds, RangeGuard

__all__ = [
    "AccuracyMetric",
    "AucPrMetric",
    "AurocMetric",
    "ConfusionMatrixMetric",
    "ConfusionStatsState",
    "DecisionRule",
    "DeferredChecks",
    "FBetaScoreMetric",
    "FormatOptions",
    "GuardBounds",
    "HammingScoreMetric",
    "LossMetric",
    "Metric",
    "MetricCollection",
    "MetricEntry",
    "MetricMetadata",
    "Numeric",
    "NumericEntry",
    "NumericMetricState",
    "NumericStateMetric",
    "PerplexityMetric",
    "PrecisionMetric",
    "PredictionAccumulator",
    "Progress",
    "RangeGuard",
    "RecallMetric",
    "ScoreHistogram",
    "TopKAccuracyMetric",
    "input_type_of",
    "resolve_entries",
]
