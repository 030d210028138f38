"""Metrics: the protocols, the state helpers and the built-in metrics."""

from typing import TYPE_CHECKING

from burnish.lazy import lazy_exports

if TYPE_CHECKING:
    from burnish.metric.accuracy import AccuracyMetric
    from burnish.metric.arithmetic import (
        DerivedMetric,
        NumericMetricMixin,
        derive,
    )
    from burnish.metric.base import (
        Metric,
        MetricMetadata,
        Numeric,
        Progress,
        input_type_of,
    )
    from burnish.metric.bleu import BleuScore
    from burnish.metric.collection import MetricCollection
    from burnish.metric.composite import (
        Composite,
        CompositeMetric,
    )
    from burnish.metric.confusion import (
        DecisionRule,
        FBetaScoreMetric,
        PrecisionMetric,
        RecallMetric,
    )
    from burnish.metric.confusion_matrix import ConfusionMatrixMetric
    from burnish.metric.confusion_state import ConfusionStatsState
    from burnish.metric.dice import DiceMetric
    from burnish.metric.entry import (
        FormatOptions,
        MetricEntry,
        NumericEntry,
        resolve_entries,
    )
    from burnish.metric.exact_match import MultilabelExactMatchMetric
    from burnish.metric.function import FunctionMetric
    from burnish.metric.hamming import HammingScoreMetric
    from burnish.metric.loss import LossMetric
    from burnish.metric.matthews import MatthewsCorrCoefMetric
    from burnish.metric.mixins import MetricMixin
    from burnish.metric.ms_ssim import MultiScaleSsimMetric
    from burnish.metric.perplexity import PerplexityMetric
    from burnish.metric.predictions import (
        PredictionAccumulator,
        ScoreHistogram,
    )
    from burnish.metric.ranking import (
        AucPrMetric,
        AurocMetric,
    )
    from burnish.metric.regression import (
        ExplainedVarianceMetric,
        MeanAbsoluteErrorMetric,
        MeanSquaredErrorMetric,
        R2ScoreMetric,
        RootMeanSquaredErrorMetric,
    )
    from burnish.metric.rouge import RougeScore
    from burnish.metric.sequence import (
        CharErrorRate,
        WordErrorRate,
    )
    from burnish.metric.state import (
        NumericMetricState,
        NumericStateMetric,
    )
    from burnish.metric.topk import TopKAccuracyMetric
    from burnish.metric.totals import (
        Accumulative,
        Totals,
    )
    from burnish.metric.validation import (
        DeferredChecks,
        GuardBounds,
        RangeGuard,
    )
    from burnish.metric.vision import (
        PsnrMetric,
        SsimMetric,
    )
    from burnish.metric.wrappers import (
        BatchWise,
        BootStrapper,
        BootstrapResult,
        Classwise,
        Running,
        RunningEpochWise,
    )


__all__ = [
    "Accumulative",
    "AccuracyMetric",
    "AucPrMetric",
    "AurocMetric",
    "BatchWise",
    "BleuScore",
    "BootStrapper",
    "BootstrapResult",
    "CharErrorRate",
    "Classwise",
    "Composite",
    "CompositeMetric",
    "ConfusionMatrixMetric",
    "ConfusionStatsState",
    "DecisionRule",
    "DeferredChecks",
    "DerivedMetric",
    "DiceMetric",
    "ExplainedVarianceMetric",
    "FBetaScoreMetric",
    "FormatOptions",
    "FunctionMetric",
    "GuardBounds",
    "HammingScoreMetric",
    "LossMetric",
    "MatthewsCorrCoefMetric",
    "MeanAbsoluteErrorMetric",
    "MeanSquaredErrorMetric",
    "Metric",
    "MetricCollection",
    "MetricEntry",
    "MetricMetadata",
    "MetricMixin",
    "MultiScaleSsimMetric",
    "MultilabelExactMatchMetric",
    "Numeric",
    "NumericEntry",
    "NumericMetricMixin",
    "NumericMetricState",
    "NumericStateMetric",
    "PerplexityMetric",
    "PrecisionMetric",
    "PredictionAccumulator",
    "Progress",
    "PsnrMetric",
    "R2ScoreMetric",
    "RangeGuard",
    "RecallMetric",
    "RootMeanSquaredErrorMetric",
    "RougeScore",
    "Running",
    "RunningEpochWise",
    "ScoreHistogram",
    "SsimMetric",
    "TopKAccuracyMetric",
    "Totals",
    "WordErrorRate",
    "derive",
    "input_type_of",
    "resolve_entries",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
