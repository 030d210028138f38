"""Stateless metric functions: tensors in, tensor out. The metric classes are built on them."""

from burnish.functional.accuracy import accuracy, accuracy_counts

__all__ = ["accuracy", "accuracy_counts"]
