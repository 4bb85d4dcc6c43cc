"""Bulk Data export (FHIR Bulk Data Access v2 `$export`): jobs, their files, the pseudonymised variant."""
