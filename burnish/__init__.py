"""burnish: Burn's learner and metric design, typed, on PyTorch."""

from typing import TYPE_CHECKING

from burnish.adaptor import (
    AccuracyInput,
    Adaptor,
    AurocInput,
    ConfusionStatsInput,
    HammingScoreInput,
    LossInput,
    MetricInput,
    PerplexityInput,
    StepAdaptations,
    TopKAccuracyInput,
    adapt,
    check_adaptable,
    register_adaptor,
    supported_inputs,
)
from burnish.builder import LearnerBuilder
from burnish.learner import (
    Aggregate,
    BestCheckpoint,
    CheckpointError,
    ComposedCheckpointingStrategy,
    Direction,
    FitResult,
    Interrupter,
    KeepLastNCheckpoints,
    Learner,
    LearnerCallback,
    LearnerSummary,
    MetricCheckpointingStrategy,
    MetricEarlyStoppingStrategy,
    NoImprovementSince,
    NonFiniteLossError,
    RunDirectoryError,
    Split,
    TrainOutput,
    TrainStep,
    ValidStep,
)
from burnish.logger import (
    CsvMetricLogger,
    InMemoryMetricLogger,
    JsonlMetricLogger,
    MetricLogger,
    MlflowMetricLogger,
    TensorBoardMetricLogger,
    read_run,
)
from burnish.metric import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    BatchWise,
    BootStrapper,
    BootstrapResult,
    Classwise,
    ConfusionMatrixMetric,
    DerivedMetric,
    FBetaScoreMetric,
    FormatOptions,
    FunctionMetric,
    HammingScoreMetric,
    LossMetric,
    Metric,
    MetricCollection,
    MetricEntry,
    MetricMetadata,
    Numeric,
    NumericEntry,
    NumericMetricState,
    NumericStateMetric,
    PerplexityMetric,
    PrecisionMetric,
    Progress,
    RangeGuard,
    RecallMetric,
    Running,
    RunningEpochWise,
    TopKAccuracyMetric,
    derive,
    input_type_of,
    resolve_entries,
)
from burnish.metric.confusion import DecisionRule
from burnish.metric.iteration_speed import IterationSpeedMetric
from burnish.metric.learning_rate import LearningRateMetric
from burnish.metric.system import (
    CpuMemory,
    CpuTemperature,
    CpuUse,
    CudaMetric,
    GpuTemperature,
    GpuUtilization,
)
from burnish.output import ClassificationOutput, MultiLabelClassificationOutput, RegressionOutput
from burnish.renderer import MetricsRenderer, default_renderer

if TYPE_CHECKING:
    from burnish.renderer import PlainRenderer, TuiRenderer

__all__ = [
    "AccuracyInput",
    "AccuracyMetric",
    "Adaptor",
    "Aggregate",
    "AucPrMetric",
    "AurocInput",
    "AurocMetric",
    "BatchWise",
    "BestCheckpoint",
    "BootStrapper",
    "BootstrapResult",
    "CheckpointError",
    "ClassificationOutput",
    "Classwise",
    "ComposedCheckpointingStrategy",
    "ConfusionMatrixMetric",
    "ConfusionStatsInput",
    "CpuMemory",
    "CpuTemperature",
    "CpuUse",
    "CsvMetricLogger",
    "CudaMetric",
    "DecisionRule",
    "DerivedMetric",
    "Direction",
    "FBetaScoreMetric",
    "FitResult",
    "FormatOptions",
    "FunctionMetric",
    "GpuTemperature",
    "GpuUtilization",
    "HammingScoreInput",
    "HammingScoreMetric",
    "InMemoryMetricLogger",
    "Interrupter",
    "IterationSpeedMetric",
    "JsonlMetricLogger",
    "KeepLastNCheckpoints",
    "Learner",
    "LearnerBuilder",
    "LearnerCallback",
    "LearnerSummary",
    "LearningRateMetric",
    "LossInput",
    "LossMetric",
    "Metric",
    "MetricCheckpointingStrategy",
    "MetricCollection",
    "MetricEarlyStoppingStrategy",
    "MetricEntry",
    "MetricInput",
    "MetricLogger",
    "MetricMetadata",
    "MetricsRenderer",
    "MlflowMetricLogger",
    "MultiLabelClassificationOutput",
    "NoImprovementSince",
    "NonFiniteLossError",
    "Numeric",
    "NumericEntry",
    "NumericMetricState",
    "NumericStateMetric",
    "PerplexityInput",
    "PerplexityMetric",
    "PlainRenderer",
    "PrecisionMetric",
    "Progress",
    "RangeGuard",
    "RecallMetric",
    "RegressionOutput",
    "RunDirectoryError",
    "Running",
    "RunningEpochWise",
    "Split",
    "StepAdaptations",
    "TensorBoardMetricLogger",
    "TopKAccuracyInput",
    "TopKAccuracyMetric",
    "TrainOutput",
    "TrainStep",
    "TuiRenderer",
    "ValidStep",
    "adapt",
    "check_adaptable",
    "default_renderer",
    "derive",
    "input_type_of",
    "read_run",
    "register_adaptor",
    "resolve_entries",
    "supported_inputs",
]
__version__ = "0.1.0"

# Imported on first use (PEP 562): the renderers load rich and the dashboard, which a script
# that only imports burnish, or passes its own renderer, never needs.


def __getattr__(name: str) -> object:
    if name not in ("PlainRenderer", "TuiRenderer"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from burnish import renderer  # noqa: PLC0415

    value: object = getattr(renderer, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
