"""VoorZorg FHIR R4 adapter."""
