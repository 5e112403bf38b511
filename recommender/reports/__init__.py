"""Render results: rich tables for people, JSON and CSV for programs."""
