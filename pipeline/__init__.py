"""nn-explainers: a static-site generator for visual explainers of neural-network training.

Three rooms, one sub-package each:

- :mod:`pipeline.builder`: the build tool (``python -m pipeline build``), host side;
- :mod:`pipeline.site`: the mkdocs side, which shows the build store as pages;
- :mod:`pipeline.library`: the explainer library that recipes import.

The build tool and the site import only the library's TensorFlow-free parts; the library imports
neither. Importing the package does not import TensorFlow. Its one side effect: a finder at the
end of ``sys.meta_path`` (:mod:`pipeline._moved`) that answers only for module names of earlier
layouts (``pipeline.datasets`` ...), with an error that says where the module moved.
"""

from pipeline import _moved

__version__ = "0.1.0"

_moved.install()
