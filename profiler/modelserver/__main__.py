"""Process entry for the simulated model server (`python -m profiler.modelserver`)."""

from profiler.modelserver.process import main

raise SystemExit(main())
