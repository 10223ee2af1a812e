"""Allow ``python -m envrun``."""

from __future__ import annotations

from envrun.cli.app import main

raise SystemExit(main())
