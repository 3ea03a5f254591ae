"""Entry point for ``python -m pipeline``."""

from pipeline.build.cli import main

raise SystemExit(main())
