"""Helpers for one explainer family each (the CIFAR-10 page, the small-CNN pages), kept out of
the general library modules."""
