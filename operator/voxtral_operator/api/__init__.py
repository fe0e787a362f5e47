"""What a VoxtralService means: its models (the single source of truth), the CRD
generated from them, presets, names, and the resolution of a spec into concrete settings."""
