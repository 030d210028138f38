"""Stateless metric functions: tensors in, tensor out. The metric classes are built on them."""

from burnish.functional.accuracy import accuracy, accuracy_counts
from burnish.functional.confusion import (
    confusion_matrix,
    confusion_score,
    decide,
    fbeta_score,
    multiclass_counts,
    precision,
    recall,
    threshold_counts,
)
from burnish.functional.hamming import hamming_counts, hamming_score
from burnish.functional.perplexity import perplexity, token_nll
from burnish.functional.ranking import (
    auc_pr,
    auroc,
    average_ranking_scores,
    binned_counts,
    binned_ranking_scores,
    one_vs_rest,
    ranking_scores,
)
from burnish.functional.topk import topk_accuracy, topk_accuracy_counts, topk_hits

__all__ = [
    "accuracy",
    "accuracy_counts",
    "auc_pr",
    "auroc",
    "average_ranking_scores",
    "binned_counts",
    "binned_ranking_scores",
    "confusion_matrix",
    "confusion_score",
    "decide",
    "fbeta_score",
    "hamming_counts",
    "hamming_score",
    "multiclass_counts",
    "one_vs_rest",
    "perplexity",
    "precision",
    "ranking_scores",
    "recall",
    "threshold_counts",
    "token_nll",
    "topk_accuracy",
    "topk_accuracy_counts",
    "topk_hits",
]
