"""Helpers for one explainer family each (the CIFAR-10 page, the small-CNN pages, the seed-000
replay figure), kept out of the general library modules."""
