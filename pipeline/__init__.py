"""nn-explainers: a static-site generator for visual explainers of neural-network training.

Three rooms, one sub-package each:

- :mod:`pipeline.builder`: the build tool (``python -m pipeline build``), host side;
- :mod:`pipeline.site`: the mkdocs side, which shows the build store as pages;
- :mod:`pipeline.library`: the explainer library that recipes import.

The build tool and the site import only the library's TensorFlow-free parts; the library imports
neither. Importing the package has no side effects and does not import TensorFlow.
"""

__version__ = "0.1.0"
