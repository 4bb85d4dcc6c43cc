"""VoorZorg FHIR R4 adapter."""

__version__ = "0.1.0"
