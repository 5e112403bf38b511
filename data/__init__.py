"""Shipped data: offers, regions and GPUs, built by scripts/build_data.py (see data/*.md)."""
