"""``python -m recommender`` runs the carbonplan CLI."""

from recommender.cli import run

run()
