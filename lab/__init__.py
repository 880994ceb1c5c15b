"""The lab: simulated readers, offline evaluation and the online check. Tools around the recommender, not the
production path: ``service/`` never imports this package (its commands reach the ``paperboy`` command through the
``paperboy.commands`` entry-point group)."""
