"""The build tool: the host side of a build (CLI, recipes and headers, planning, kernels, store,
cache keys, progress).

It never imports TensorFlow, and changing it never changes a result: a recipe's cache key is
made of what the recipe used from :mod:`pipeline.library`, never of this package.
"""
