"""``python -m zoo.cli``: the same as the ``scorezoo`` command."""
from zoo.cli import main

main()
