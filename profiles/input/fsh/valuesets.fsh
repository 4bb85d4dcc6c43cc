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

ValueSet: VoorZorgThemeTrendVS
Id: voorzorg-theme-trend
Title: "VoorZorg theme trend"
Description: "How a theme developed since intake (the trend Patient/$themes answers)."
* insert VZValueSet
* include codes from system VoorZorgThemeTrend

ValueSet: VoorZorgGoalAchievementVS
Id: voorzorg-goal-achievement
Title: "VoorZorg goal achievement status"
Description: "The achievement statuses of a theme goal: the codes of the core goal-achievement code system, listed so that a required binding can be checked without a terminology server."
* insert VZValueSet
* $goal-achievement#in-progress "In Progress"
* $goal-achievement#improving "Improving"
* $goal-achievement#worsening "Worsening"
* $goal-achievement#no-change "No Change"
* $goal-achievement#achieved "Achieved"
* $goal-achievement#sustaining "Sustaining"
* $goal-achievement#not-achieved "Not Achieved"
* $goal-achievement#no-progress "No Progress"
* $goal-achievement#not-attainable "Not Attainable"

// ---- Value sets used by the profiles -----------------------------------------------------

ValueSet: VoorZorgSituationCodeVS
Id: voorzorg-situation-code
Title: "VoorZorg situation codes"
Description: "The referrer's situation assessments carried as Observations with valueBoolean."
* insert VZValueSet
* VoorZorgReferralItem#very-vulnerable-situation
* VoorZorgReferralItem#serious-parenting-problems
* VoorZorgReferralItem#forced-framework

ValueSet: VoorZorgReferralStatusVS
Id: voorzorg-referral-status
Title: "VoorZorg referral statuses"
Description: "The statuses a VoorZorg referral (ServiceRequest) can have: active (open), revoked (withdrawn by the sender), completed."
* insert VZValueSet
* http://hl7.org/fhir/request-status#active
* http://hl7.org/fhir/request-status#revoked
* http://hl7.org/fhir/request-status#completed

ValueSet: VoorZorgReferralTaskStatusVS
Id: voorzorg-referral-task-status
Title: "VoorZorg referral task statuses"
Description: "The closed-loop statuses of a referral or consult Task: the requester sets draft, requested or cancelled; the recipient sets accepted, rejected, in-progress, on-hold, completed or failed."
* insert VZValueSet
* http://hl7.org/fhir/task-status#draft
* http://hl7.org/fhir/task-status#requested
* http://hl7.org/fhir/task-status#cancelled
* http://hl7.org/fhir/task-status#accepted
* http://hl7.org/fhir/task-status#rejected
* http://hl7.org/fhir/task-status#in-progress
* http://hl7.org/fhir/task-status#on-hold
* http://hl7.org/fhir/task-status#completed
* http://hl7.org/fhir/task-status#failed

ValueSet: VoorZorgParticipationConsentStatusVS
Id: voorzorg-participation-consent-status
Title: "VoorZorg voluntary participation statuses"
Description: "active = she agrees to take part; rejected = she does not."
* insert VZValueSet
* http://hl7.org/fhir/consent-state-codes#active
* http://hl7.org/fhir/consent-state-codes#rejected

ValueSet: VoorZorgEstimatedDeliveryDateCodeVS
Id: voorzorg-estimated-delivery-date-code
Title: "Estimated date of delivery codes"
Description: "Codes for the estimated date of delivery: SNOMED CT (zib Pregnancy) and LOINC (obstetric systems)."
* insert VZValueSet
* $sct#161714006
* $loinc#11778-8

ValueSet: VoorZorgPregnancyDurationCodeVS
Id: voorzorg-pregnancy-duration-code
Title: "Pregnancy duration codes"
Description: "Codes for the pregnancy duration (gestational age): SNOMED CT (zib Pregnancy) and LOINC."
* insert VZValueSet
* $sct#57036006
* $loinc#18185-9
* $loinc#49051-6

ValueSet: VoorZorgPregnancyDurationUnitVS
Id: voorzorg-pregnancy-duration-unit
Title: "Pregnancy duration units"
Description: "UCUM units for a pregnancy duration: days or weeks."
* insert VZValueSet
* $ucum#d
* $ucum#wk

ValueSet: VoorZorgParityCodeVS
Id: voorzorg-parity-code
Title: "Parity codes"
Description: "Codes for parity (number of earlier births): SNOMED CT (zib Pregnancy) and LOINC."
* insert VZValueSet
* $sct#364325004
* $loinc#11977-6

ValueSet: VoorZorgGravidityCodeVS
Id: voorzorg-gravidity-code
Title: "Gravidity codes"
Description: "Codes for gravidity (number of pregnancies): SNOMED CT and LOINC."
* insert VZValueSet
* $sct#161732006
* $loinc#11996-6

ValueSet: VoorZorgLastMenstruationDateCodeVS
Id: voorzorg-last-menstruation-date-code
Title: "Date of last menstruation codes"
Description: "Codes for the date of the last menstrual period (zib Pregnancy)."
* insert VZValueSet
* $sct#21840007
