"""nn-explainers: a static-site generator for visual explainers of neural-network training.

The package is both the build tool (``python -m pipeline build``) and the library that recipes
import (``pipeline.runtime``, ``pipeline.datasets``, ``pipeline.replay`` ...). Importing it has no
side effects and does not import TensorFlow.
"""

__version__ = "0.1.0"
