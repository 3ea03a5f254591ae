"""Entry point for ``python -m pipeline``."""

from pipeline.builder.cli import main

raise SystemExit(main())
