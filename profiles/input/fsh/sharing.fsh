// Sharing with the regional OZKS exchange (and the JGZ dossier) on the client's consent, and the
// minimal summary the OZKS gets. mappings/sharing.yaml says, per recipient, what holds without a Consent.

CodeSystem: VoorZorgSharing
Id: voorzorg-sharing
Title: "VoorZorg sharing"
Description: "What a client's sharing consent is about: a recipient of her VoorZorg data outside the VoorZorg team."
* insert VZCodeSystem
* #ozks-summary "Samenvatting aan het OZKS" "A minimal summary (VoorZorg yes/no, track, status, the nurse's contact) to the regional Overleg Zwangere in een Kwetsbare Situatie (OZKS) exchange. Shared only while she consents."
* insert En(#ozks-summary, Summary for the OZKS)
* #jgz-dossier "Overdracht naar het JGZ-dossier" "Her VoorZorg dossier (care plan, visits, theme assessments and goals) to the JGZ client dossier. Shared unless she objects."
* insert En(#jgz-dossier, Transfer into the JGZ dossier)
* #jgz-transfer "Warme overdracht bij verhuizing" "When she moves out of the region: her VoorZorg programme (client, programme, care plan with the visits done and planned, theme assessments and goals) to the JGZ organisation of her new region, which continues it. Only with her consent."
* insert En(#jgz-transfer, Warm handover when moving)

ValueSet: VoorZorgSharingVS
Id: voorzorg-sharing
Title: "VoorZorg sharing"
Description: "The recipients a sharing consent can be about."
* insert VZValueSet
* include codes from system VoorZorgSharing

ValueSet: VoorZorgSharingConsentStatusVS
Id: voorzorg-sharing-consent-status
Title: "VoorZorg sharing consent status"
Description: "active: in force; inactive: withdrawn or ended; rejected: she said no; entered-in-error: never counted."
* insert VZValueSet
* http://hl7.org/fhir/consent-state-codes#active
* http://hl7.org/fhir/consent-state-codes#inactive
* http://hl7.org/fhir/consent-state-codes#rejected
* http://hl7.org/fhir/consent-state-codes#entered-in-error

Profile: VoorZorgSharingConsent
Parent: Consent
Id: voorzorg-sharing-consent
Title: "VoorZorg sharing consent"
Description: "The client's decision on sharing her data with one recipient (provision.code): permit or deny, from dateTime on (within provision.period when given). Withdrawal: status inactive, or a newer Consent that denies. The newest Consent in force decides."
* insert VZProfile
* status MS
* status from VoorZorgSharingConsentStatusVS (required)
* scope MS
* scope = $consentscope#patient-privacy
* category 1..* MS
* category = $loinc#59284-0
* patient 1..1 MS
* patient only Reference(VoorZorgClient)
* dateTime 1..1 MS
* policyRule 1..1 MS
* policyRule ^short = "OPTIN (she agrees) or OPTOUT (she objects) (v3-ActCode); core invariant ppc-1 asks for a policy"
* provision 1..1 MS
* provision.type 1..1 MS
* provision.period MS
* provision.code 1..* MS
* provision.code from VoorZorgSharingVS (required)

Profile: VoorZorgOzksSummary
Parent: EpisodeOfCare
Id: voorzorg-ozks-summary
Title: "VoorZorg summary for the OZKS"
Description: "The minimal summary the regional OZKS exchange may see while the client consents: whether she is in VoorZorg (status), the track (type), since when (period) and whom to contact (careManager: the nurse, managingOrganization: the JGZ organisation). Nothing else: no visits, no assessments."
* insert VZProfile
* status MS
* type 1..1 MS
* type from VoorZorgTrackVS (required)
* patient MS
* patient only Reference(VoorZorgClient)
* managingOrganization 1..1 MS
* period MS
* careManager MS
* diagnosis 0..0
* referralRequest 0..0
* team 0..0
* account 0..0

Instance: example-ozks-consent
InstanceOf: VoorZorgSharingConsent
Usage: #example
Title: "Example OZKS sharing consent"
Description: "She agrees that the OZKS sees a summary of her VoorZorg participation."
* status = #active
* scope = $consentscope#patient-privacy
* category = $loinc#59284-0
* patient = Reference(example-client)
* dateTime = "2025-03-12"
* policyRule = $v3-ActCode#OPTIN
* provision.type = #permit
* provision.code = VoorZorgSharing#ozks-summary

Instance: example-ozks-summary
InstanceOf: VoorZorgOzksSummary
Usage: #example
Title: "Example OZKS summary"
Description: "example-client is in VoorZorg (track voorzorg) since 2025-03-10; contact: her VoorZorg nurse."
* status = #active
* type = VoorZorgTrack#voorzorg
* patient = Reference(example-client)
* managingOrganization = Reference(example-jgz-organization)
* period.start = "2025-03-10"
* careManager = Reference(example-voorzorg-nurse)
