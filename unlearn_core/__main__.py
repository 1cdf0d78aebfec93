"""`python -m unlearn_core ...`: see cli.py."""

from unlearn_core.cli.main import main

raise SystemExit(main())
