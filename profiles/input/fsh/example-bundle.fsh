// The referral contract (v1) as an obstetric system sends it: a transaction Bundle with the
// Patient, the ServiceRequest, the pregnancy and situation Observations, the Consent and the
// Task (scenario 1 of examples.fsh). References between entries use the entries' urn:uuid
// fullUrls. The Patient and the ServiceRequest are conditional creates on their business
// identifiers, so a resend updates instead of duplicating.

Instance: example-referral-bundle
InstanceOf: Bundle
Usage: #example
Title: "Example referral transaction Bundle"
Description: "A complete VoorZorg referral (contract v1) as a transaction Bundle."
* type = #transaction
* entry[0].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* entry[=].resource = bundle-client
* entry[=].request.method = #POST
* entry[=].request.url = "Patient"
* entry[=].request.ifNoneExist = "identifier=http://fhir.nl/fhir/NamingSystem/bsn|999911120"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0002"
* entry[=].resource = bundle-referrer
* entry[=].request.method = #POST
* entry[=].request.url = "Organization"
* entry[=].request.ifNoneExist = "identifier=http://fhir.nl/fhir/NamingSystem/agb-z|01099999"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0003"
* entry[=].resource = bundle-referral
* entry[=].request.method = #POST
* entry[=].request.url = "ServiceRequest"
* entry[=].request.ifNoneExist = "identifier=https://example.org/verloskundigenpraktijk-de-wieg/referral|VZ-2025-0042"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0004"
* entry[=].resource = bundle-edd
* entry[=].request.method = #POST
* entry[=].request.url = "Observation"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0005"
* entry[=].resource = bundle-parity
* entry[=].request.method = #POST
* entry[=].request.url = "Observation"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0006"
* entry[=].resource = bundle-very-vulnerable-situation
* entry[=].request.method = #POST
* entry[=].request.url = "Observation"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0007"
* entry[=].resource = bundle-serious-parenting-problems
* entry[=].request.method = #POST
* entry[=].request.url = "Observation"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0008"
* entry[=].resource = bundle-forced-framework
* entry[=].request.method = #POST
* entry[=].request.url = "Observation"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0009"
* entry[=].resource = bundle-voluntary-participation
* entry[=].request.method = #POST
* entry[=].request.url = "Consent"
* entry[+].fullUrl = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0010"
* entry[=].resource = bundle-referral-task
* entry[=].request.method = #POST
* entry[=].request.url = "Task"

Instance: bundle-client
InstanceOf: VoorZorgClient
Usage: #inline
* identifier[bsn].system = $bsn
* identifier[bsn].value = "999911120"
* name[0].family = "de Vries"
* name[0].given[0] = "Lisa"
* gender = #female
* birthDate = "2004-05-14"

Instance: bundle-referrer
InstanceOf: Organization
Usage: #inline
* identifier[0].system = $agb-z
* identifier[0].value = "01099999"
* name = "Verloskundigenpraktijk De Wieg"

Instance: bundle-referral
InstanceOf: VoorZorgReferral
Usage: #inline
* identifier.system = "https://example.org/verloskundigenpraktijk-de-wieg/referral"
* identifier.value = "VZ-2025-0042"
* status = #active
* intent = #order
* code = VoorZorgReferralItem#voorzorg-referral "Verwijzing naar VoorZorg"
* subject.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* requester.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0002"
* authoredOn = "2025-03-10"
* supportingInfo[0].reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0004"
* supportingInfo[+].reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0005"
* supportingInfo[+].reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0006"
* supportingInfo[+].reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0007"
* supportingInfo[+].reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0008"
* supportingInfo[+].reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0009"

Instance: bundle-edd
InstanceOf: VoorZorgEstimatedDeliveryDate
Usage: #inline
* status = #final
* code = $sct#161714006
* code.coding[+] = $loinc#11778-8
* subject.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* effectiveDateTime = "2025-03-03"
* valueDateTime = "2025-08-20"

Instance: bundle-parity
InstanceOf: VoorZorgParity
Usage: #inline
* status = #final
* code = $sct#364325004
* code.coding[+] = $loinc#11977-6
* subject.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* valueInteger = 0

Instance: bundle-very-vulnerable-situation
InstanceOf: VoorZorgSituation
Usage: #inline
* status = #final
* code = VoorZorgReferralItem#very-vulnerable-situation "Zeer kwetsbare situatie"
* subject.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* effectiveDateTime = "2025-03-10"
* valueBoolean = true

Instance: bundle-serious-parenting-problems
InstanceOf: VoorZorgSituation
Usage: #inline
* status = #final
* code = VoorZorgReferralItem#serious-parenting-problems "Ernstige opvoedproblemen met eerdere kinderen"
* subject.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* effectiveDateTime = "2025-03-10"
* valueBoolean = false

Instance: bundle-forced-framework
InstanceOf: VoorZorgSituation
Usage: #inline
* status = #final
* code = VoorZorgReferralItem#forced-framework "(Ervaren) gedwongen kader"
* subject.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* effectiveDateTime = "2025-03-10"
* valueBoolean = false

Instance: bundle-voluntary-participation
InstanceOf: VoorZorgVoluntaryParticipation
Usage: #inline
* status = #active
* scope = $consentscope#treatment
* category = $loinc#59284-0
* patient.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* dateTime = "2025-03-10"
* policyRule = $v3-ActCode#OPTIN

Instance: bundle-referral-task
InstanceOf: VoorZorgReferralTask
Usage: #inline
* status = #requested
* intent = #order
* code = VoorZorgReferralItem#voorzorg-referral
* focus.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0003"
* for.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0001"
* authoredOn = "2025-03-10"
* requester.reference = "urn:uuid:6f1c2b1e-0a4d-4c39-9b0e-2d1f5a7c0002"
