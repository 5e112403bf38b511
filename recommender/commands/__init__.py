"""Commands beyond the core four, one module each. Each module defines plain functions with
typer annotations; ``recommender.cli`` registers them. Modules here import only what their
signatures need at import time (typer, the shared option types): anything heavy (boto3,
google-cloud-compute, matplotlib, HTTP clients) is imported inside the function body, so
``carbonplan suggest`` never pays for it."""
