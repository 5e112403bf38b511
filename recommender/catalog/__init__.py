"""Load and validate the shipped data (offers, regions, GPUs) and resolve user-given names."""

from recommender.catalog.load import Catalog, load_catalog
from recommender.catalog.names import (
    PROVIDERS,
    parse_region,
    resolve_gpu,
    resolve_provider,
)

__all__ = [
    "PROVIDERS",
    "Catalog",
    "load_catalog",
    "parse_region",
    "resolve_gpu",
    "resolve_provider",
]
