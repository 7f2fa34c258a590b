"""``python -m modelyard`` runs the command line."""

from modelyard.cli.main import main

main()
