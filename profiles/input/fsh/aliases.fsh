// Code systems and identifier systems used throughout the VoorZorg profiles.
Alias: $sct = http://snomed.info/sct
Alias: $loinc = http://loinc.org
Alias: $ucum = http://unitsofmeasure.org
Alias: $v3-ActCode = http://terminology.hl7.org/CodeSystem/v3-ActCode
Alias: $consentscope = http://terminology.hl7.org/CodeSystem/consentscope
Alias: $consentcategory = http://terminology.hl7.org/CodeSystem/consentcategorycodes
Alias: $v3-ActReason = http://terminology.hl7.org/CodeSystem/v3-ActReason
Alias: $obs-category = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $goal-achievement = http://terminology.hl7.org/CodeSystem/goal-achievement
Alias: $bsn = http://fhir.nl/fhir/NamingSystem/bsn
Alias: $agb-z = http://fhir.nl/fhir/NamingSystem/agb-z
Alias: $ura = http://fhir.nl/fhir/NamingSystem/ura
