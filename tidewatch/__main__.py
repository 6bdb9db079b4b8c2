"""``python -m tidewatch``: the same as the ``tidewatch`` console script."""

from tidewatch.cli import main

main()
