"""Refreshers of cloud prices and offers (``carbonplan data refresh``): the Azure Retail Prices
API, the AWS Price List and EC2 APIs, and the GCP Cloud Billing Catalog, each behind the
:class:`~recommender.pricing.base.PriceSource` interface, written to the user's overlay by
:mod:`recommender.pricing.store` and merged into the catalog by
:mod:`recommender.catalog.overlay`. Nothing here is imported by ``suggest``."""
