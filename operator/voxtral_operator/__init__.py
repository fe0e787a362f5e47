"""A kopf operator that reconciles VoxtralService resources (voxtral.dev/v1alpha1)."""

__version__ = "0.1.0"
