// FHIRPath invariants of the VoorZorg profiles.
// tests/test_profile_package.py evaluates them (fhirpathpy) against the examples and, for the
// elfproef, against generated valid and invalid numbers.

Invariant: bsn-elfproef
Description: "A BSN is 9 digits (or 8, read with a leading 0), not all zeros, and passes the elfproef: 9a+8b+7c+6d+5e+4f+3g+2h-1i is a multiple of 11."
Severity: #error
Expression: "(value.matches('^[0-9]{9}$') and value != '000000000' and ((value.substring(0,1).toInteger() * 9 + value.substring(1,1).toInteger() * 8 + value.substring(2,1).toInteger() * 7 + value.substring(3,1).toInteger() * 6 + value.substring(4,1).toInteger() * 5 + value.substring(5,1).toInteger() * 4 + value.substring(6,1).toInteger() * 3 + value.substring(7,1).toInteger() * 2 - value.substring(8,1).toInteger()) mod 11 = 0)) or (value.matches('^[0-9]{8}$') and value != '00000000' and ((value.substring(0,1).toInteger() * 8 + value.substring(1,1).toInteger() * 7 + value.substring(2,1).toInteger() * 6 + value.substring(3,1).toInteger() * 5 + value.substring(4,1).toInteger() * 4 + value.substring(5,1).toInteger() * 3 + value.substring(6,1).toInteger() * 2 - value.substring(7,1).toInteger()) mod 11 = 0))"

Invariant: vz-task-1
Description: "A rejected or on-hold Task says why in statusReason."
Severity: #error
Expression: "(status = 'rejected' or status = 'on-hold') implies statusReason.exists()"

Invariant: vz-count-1
Description: "A count (parity, gravidity) is not negative."
Severity: #error
Expression: "value.exists() implies value >= 0"

Invariant: vz-decision-1
Description: "An incomplete decision has status data-required and names each missing item."
Severity: #error
Expression: "extension.where(url = 'https://fhir.voorzorg.nl/StructureDefinition/voorzorg-track').value.code = 'incomplete' implies (status = 'data-required' and extension.where(url = 'https://fhir.voorzorg.nl/StructureDefinition/voorzorg-missing-item').exists())"

Invariant: vz-visit-1
Description: "A finished home visit has a start time."
Severity: #error
Expression: "status = 'finished' implies period.start.exists()"

Invariant: vz-goal-1
Description: "A theme goal's target measures its own theme: target.measure, where given, is the theme in category."
Severity: #error
Expression: "(target.measure.coding.where(system = 'https://fhir.voorzorg.nl/CodeSystem/voorzorg-theme').code | category.coding.where(system = 'https://fhir.voorzorg.nl/CodeSystem/voorzorg-theme').code).count() = category.coding.where(system = 'https://fhir.voorzorg.nl/CodeSystem/voorzorg-theme').code.distinct().count()"
