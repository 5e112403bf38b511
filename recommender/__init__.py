"""carbonplan: plan GPU training jobs across clouds for the least CO2e within budget and time."""

__version__ = "0.1.0"
