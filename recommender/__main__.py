"""``python -m recommender`` runs the carbonplan CLI."""

from recommender.entry import run

run()
