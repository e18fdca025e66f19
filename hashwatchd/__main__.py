"""`python -m hashwatchd` is the same as the `hashwatchd` console script."""

from hashwatchd.cli import main

raise SystemExit(main())
