"""``python -m service`` is the ``paperboy`` command."""

from service.cli import run

run()
