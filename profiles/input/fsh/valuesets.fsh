// One ValueSet per own CodeSystem (same id, all codes), plus the intake tracks.
// Canonical: https://fhir.voorzorg.nl/ValueSet/{id}

RuleSet: VZValueSet
* ^status = #draft
* ^experimental = false
* ^publisher = "VoorZorg adapter project"

ValueSet: VoorZorgReferralItemVS
Id: voorzorg-referral-item
Title: "VoorZorg referral items"
Description: "All codes of the VoorZorg referral item code system."
* insert VZValueSet
* include codes from system VoorZorgReferralItem

ValueSet: VoorZorgTrackVS
Id: voorzorg-track
Title: "VoorZorg tracks"
Description: "All VoorZorg tracks, including the continuation track voorzorg-verder."
* insert VZValueSet
* include codes from system VoorZorgTrack

ValueSet: VoorZorgIntakeTrackVS
Id: voorzorg-intake-track
Title: "VoorZorg intake tracks"
Description: "The outcomes of the eligibility decision at intake (the `track` of $check-eligibility): every track except voorzorg-verder."
* insert VZValueSet
* VoorZorgTrack#voorzorg
* VoorZorgTrack#voorzorg-2
* VoorZorgTrack#late-start
* VoorZorgTrack#consult
* VoorZorgTrack#not-eligible
* VoorZorgTrack#incomplete

ValueSet: VoorZorgDecisionReasonVS
Id: voorzorg-decision-reason
Title: "VoorZorg eligibility decision reasons"
Description: "All codes of the VoorZorg decision reason code system."
* insert VZValueSet
* include codes from system VoorZorgDecisionReason

ValueSet: VoorZorgEvidenceVS
Id: voorzorg-evidence
Title: "VoorZorg evidence status"
Description: "All codes of the VoorZorg evidence status code system."
* insert VZValueSet
* include codes from system VoorZorgEvidence

ValueSet: VoorZorgThemeVS
Id: voorzorg-theme
Title: "VoorZorg themes (ontwikkelvelden)"
Description: "The nine VoorZorg themes."
* insert VZValueSet
* include codes from system VoorZorgTheme

ValueSet: VoorZorgThemeAssessmentVS
Id: voorzorg-theme-assessment
Title: "VoorZorg theme assessment"
Description: "The ordinal scale for assessing a VoorZorg theme."
* insert VZValueSet
* include codes from system VoorZorgThemeAssessment
