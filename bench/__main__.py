"""`python -m bench`."""

from bench.main import main

raise SystemExit(main())
