"""``python -m cs224n_nmt_plugin COMMAND``: the same as the ``cs224n-nmt`` console script."""
import sys

from cs224n_nmt_plugin.cli import main

sys.exit(main())
