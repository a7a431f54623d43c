"""``python -m stack.cli``: the same command line as ``hookstack``."""

from stack.cli import main

main()
