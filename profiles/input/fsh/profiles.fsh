// VoorZorg profiles. Canonical: https://fhir.voorzorg.nl/StructureDefinition/{id}

RuleSet: VZProfile
* ^status = #draft
* ^experimental = false
* ^publisher = "VoorZorg adapter project"

// ---- The referral -------------------------------------------------------------------------

Profile: VoorZorgClient
Parent: Patient
Id: voorzorg-client
Title: "VoorZorg client"
Description: "The pregnant woman (or mother) referred to VoorZorg. Matched on her BSN; her birth date gives her age at the referral date."
* insert VZProfile
* identifier 1..* MS
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier ^slicing.description = "Sliced by identifier system; the BSN is required."
* identifier contains bsn 1..1 MS
* identifier[bsn] ^short = "Burgerservicenummer (BSN), elfproef-valid"
* identifier[bsn].system 1..1 MS
* identifier[bsn].system = "http://fhir.nl/fhir/NamingSystem/bsn" (exactly)
* identifier[bsn].value 1..1 MS
* identifier[bsn] obeys bsn-elfproef
* name MS
* telecom MS
* address MS
* birthDate 1..1 MS
* birthDate ^short = "Birth date: her age is computed on the referral date"

Profile: VoorZorgReferral
Parent: ServiceRequest
Id: voorzorg-referral
Title: "VoorZorg referral"
Description: "A referral of a pregnant woman (or mother) to VoorZorg, as sent by an obstetric system. The referral date (authoredOn) is the date every age is computed on."
* insert VZProfile
* identifier 1..1 MS
* identifier ^short = "The sender's referral number (business identifier; a resend with the same identifier updates)"
* identifier.system 1..1 MS
* identifier.value 1..1 MS
* status MS
* status from VoorZorgReferralStatusVS (required)
* intent MS
* intent = #order (exactly)
* code 1..1 MS
* code = VoorZorgReferralItem#voorzorg-referral
* subject MS
* subject only Reference(VoorZorgClient)
* requester 1..1 MS
* requester only Reference(Organization or PractitionerRole)
* requester ^short = "The referrer: an Organization or PractitionerRole identified by AGB or URA"
* authoredOn 1..1 MS
* authoredOn ^short = "The referral date: every age is computed on this date"
* supportingInfo MS
* supportingInfo only Reference(Observation or Consent)
* supportingInfo ^short = "The pregnancy and situation Observations and the voluntary participation Consent"

Profile: VoorZorgReferralTask
Parent: Task
Id: voorzorg-referral-task
Title: "VoorZorg referral task"
Description: "The closed-loop handle of a VoorZorg referral (notified pull): the requester sets requested; the recipient moves it to accepted, on-hold (consult or incomplete) or rejected (not eligible), with statusReason."
* insert VZProfile
* obeys vz-task-1
* identifier MS
* status MS
* status from VoorZorgReferralTaskStatusVS (required)
* statusReason MS
* intent MS
* intent = #order (exactly)
* code MS
* code = VoorZorgReferralItem#voorzorg-referral
* focus 1..1 MS
* focus only Reference(VoorZorgReferral)
* for 1..1 MS
* for only Reference(VoorZorgClient)
* authoredOn MS
* requester 1..1 MS
* requester only Reference(Organization or PractitionerRole)
* owner MS
* owner only Reference(Organization or PractitionerRole)
* businessStatus MS
* businessStatus from VoorZorgPathStatusVS (required)
* businessStatus ^short = "Where she is on her path (received, decided, consult-pending, intake-planned, enrolled, ended)"
* output MS
* output ^short = "The eligibility decision (Reference to a VoorZorgEligibilityDecision GuidanceResponse) and the track"

Profile: VoorZorgConsultRequest
Parent: ServiceRequest
Id: voorzorg-consult-request
Title: "VoorZorg Consult request"
Description: "A request for advice on measure to VoorZorg Consult, the national expert team, made when the eligibility decision requires a consult."
* insert VZProfile
* identifier MS
* basedOn MS
* basedOn only Reference(VoorZorgReferral)
* basedOn ^short = "The VoorZorg referral this consult is about"
* status MS
* intent MS
* intent = #order (exactly)
* code 1..1 MS
* code = VoorZorgReferralItem#voorzorg-consult-request
* category 1..1 MS
* category = $sct#11429006 "Consultation"
* category ^short = "Consultation (SNOMED CT 11429006): what the consult role may read"
* subject MS
* subject only Reference(VoorZorgClient)
* subject ^short = "The client, by reference only: the consult team never reads her identity (Patient)"
* authoredOn 1..1 MS
* requester 1..1 MS
* requester only Reference(Organization or PractitionerRole or Practitioner)
* performer MS
* performer only Reference(Organization or PractitionerRole)
* reasonCode 1..* MS
* reasonCode from VoorZorgDecisionReasonVS (extensible)
* reasonCode ^short = "Why the consult is needed (forced-framework, late-start-plus-2, outside-criteria, nurse-not-trained, ...)"
* reasonReference MS
* reasonReference ^short = "Findings behind the consult question"
* supportingInfo MS
* supportingInfo ^short = "The minimal facts of the situation, as contained Observations: ages (never a birth date), pregnancy duration, parity, the referrer's assessments, voluntariness"
* note MS
* note ^short = "The consult question in words"

Profile: VoorZorgConsultTask
Parent: Task
Id: voorzorg-consult-task
Title: "VoorZorg Consult task"
Description: "The closed-loop handle of a VoorZorg Consult request, owned by VoorZorg Consult: requested, then accepted, then completed with the advice (or rejected, or cancelled by the requester)."
* insert VZProfile
* obeys vz-task-1 and vz-consult-1 and vz-consult-2
* identifier MS
* status MS
* status from VoorZorgConsultTaskStatusVS (required)
* statusReason MS
* intent MS
* intent = #order (exactly)
* code 1..1 MS
* code = VoorZorgReferralItem#voorzorg-consult-request
* focus 1..1 MS
* focus only Reference(VoorZorgConsultRequest)
* for 1..1 MS
* for only Reference(VoorZorgClient)
* authoredOn MS
* requester 1..1 MS
* requester only Reference(Organization or PractitionerRole or Practitioner)
* owner MS
* owner only Reference(Organization or PractitionerRole)
* basedOn MS
* basedOn only Reference(VoorZorgReferral)
* basedOn ^short = "The VoorZorg referral the consult is about"
* partOf MS
* partOf only Reference(VoorZorgReferralTask)
* partOf ^short = "The referral's closed-loop Task, on hold while the consult runs"
* output MS
* output ^slicing.discriminator.type = #pattern
* output ^slicing.discriminator.path = "type"
* output ^slicing.rules = #open
* output ^slicing.description = "The advice, and the agreed evaluation moments"
* output contains advice 0..1 MS and evaluationMoment 0..* MS
* output[advice].type = VoorZorgConsultItem#advice
* output[advice].value[x] only CodeableConcept
* output[advice].valueCodeableConcept from VoorZorgConsultAdviceVS (required)
* output[advice] ^short = "The advice (voorzorg-consult-advice); in words as text"
* output[evaluationMoment].type = VoorZorgConsultItem#evaluation-moment
* output[evaluationMoment].value[x] only date
* output[evaluationMoment] ^short = "An agreed evaluation moment for motivation and progress"

// ---- Pregnancy (zib Pregnancy-like) ---------------------------------------------------------

RuleSet: VZObservation
* status MS
* subject 1..1 MS
* subject only Reference(VoorZorgClient)
* effective[x] MS

Profile: VoorZorgPregnancy
Parent: Observation
Id: voorzorg-pregnancy
Title: "VoorZorg pregnancy"
Description: "The pregnancy as a panel, like zib Pregnancy (nl-core): SNOMED 118185001 with the pregnancy facts as hasMember. The facts may also be sent standalone."
* insert VZProfile
* insert VZObservation
* code = $sct#118185001
* value[x] 0..0
* hasMember 1..* MS
* hasMember only Reference(VoorZorgEstimatedDeliveryDate or VoorZorgPregnancyDuration or VoorZorgParity or VoorZorgGravidity or VoorZorgDeliveryDate or VoorZorgLastMenstruationDate)

Profile: VoorZorgEstimatedDeliveryDate
Parent: Observation
Id: voorzorg-estimated-delivery-date
Title: "VoorZorg estimated date of delivery"
Description: "The estimated date of delivery (EDD); the gestational age at the referral date is 280 days minus (EDD minus referral date)."
* insert VZProfile
* insert VZObservation
* code MS
* code from VoorZorgEstimatedDeliveryDateCodeVS (required)
* value[x] 1..1 MS
* value[x] only dateTime

Profile: VoorZorgPregnancyDuration
Parent: Observation
Id: voorzorg-pregnancy-duration
Title: "VoorZorg pregnancy duration"
Description: "The pregnancy duration (gestational age) in days or weeks, measured at effectiveDateTime (default: the referral date)."
* insert VZProfile
* insert VZObservation
* code MS
* code from VoorZorgPregnancyDurationCodeVS (required)
* effective[x] only dateTime
* effective[x] ^short = "When the duration was measured (default: the referral date)"
* value[x] 1..1 MS
* value[x] only Quantity
* valueQuantity.value 1..1 MS
* valueQuantity.system 1..1 MS
* valueQuantity.system = "http://unitsofmeasure.org" (exactly)
* valueQuantity.code 1..1 MS
* valueQuantity.code from VoorZorgPregnancyDurationUnitVS (required)

Profile: VoorZorgParity
Parent: Observation
Id: voorzorg-parity
Title: "VoorZorg parity"
Description: "Parity: the number of earlier births (0 = expecting her first child)."
* insert VZProfile
* insert VZObservation
* obeys vz-count-1
* code MS
* code from VoorZorgParityCodeVS (required)
* value[x] 1..1 MS
* value[x] only integer

Profile: VoorZorgGravidity
Parent: Observation
Id: voorzorg-gravidity
Title: "VoorZorg gravidity"
Description: "Gravidity: the number of pregnancies including the current one. Gravidity 1 implies parity 0; gravidity 2 or more without parity leaves parity unknown."
* insert VZProfile
* insert VZObservation
* obeys vz-count-1
* code MS
* code from VoorZorgGravidityCodeVS (required)
* value[x] 1..1 MS
* value[x] only integer

Profile: VoorZorgDeliveryDate
Parent: Observation
Id: voorzorg-delivery-date
Title: "VoorZorg delivery date"
Description: "The date (and time) of delivery, when the child is already born (LOINC 93857-1). As the birth report (from the obstetric system or the nurse) it may carry the birth outcome as components: the gestational age at birth, and per child the birth weight and whether it was born alive."
* insert VZProfile
* insert VZObservation
* code = $loinc#93857-1
* value[x] 1..1 MS
* value[x] only dateTime
* component MS
* component ^slicing.discriminator.type = #pattern
* component ^slicing.discriminator.path = "code"
* component ^slicing.rules = #open
* component ^slicing.description = "The birth outcome, by code"
* component contains gestationalAgeAtBirth 0..1 MS and birthWeight 0..* MS and liveBorn 0..* MS
* component[gestationalAgeAtBirth].code = $loinc#76516-4
* component[gestationalAgeAtBirth].value[x] 1..1
* component[gestationalAgeAtBirth].value[x] only Quantity
* component[gestationalAgeAtBirth].valueQuantity.system = "http://unitsofmeasure.org" (exactly)
* component[gestationalAgeAtBirth].valueQuantity.code from VoorZorgPregnancyDurationUnitVS (required)
* component[gestationalAgeAtBirth] ^short = "Gestational age at birth (LOINC 76516-4), in UCUM d or wk"
* component[birthWeight].code = $loinc#8339-4
* component[birthWeight].value[x] 1..1
* component[birthWeight].value[x] only Quantity
* component[birthWeight].valueQuantity.system = "http://unitsofmeasure.org" (exactly)
* component[birthWeight].valueQuantity.code from VoorZorgBirthWeightUnitVS (required)
* component[birthWeight] ^short = "Birth weight of a child (LOINC 8339-4), in UCUM g or kg; one per child"
* component[liveBorn].code = VoorZorgReferralItem#live-born
* component[liveBorn].value[x] 1..1
* component[liveBorn].value[x] only boolean
* component[liveBorn] ^short = "Born alive (true) or stillborn (false); one per child"

Profile: VoorZorgLastMenstruationDate
Parent: Observation
Id: voorzorg-last-menstruation-date
Title: "VoorZorg date of last menstruation"
Description: "The date of the last menstrual period (zib Pregnancy, SNOMED 21840007)."
* insert VZProfile
* insert VZObservation
* code MS
* code from VoorZorgLastMenstruationDateCodeVS (required)
* value[x] 1..1 MS
* value[x] only dateTime

// ---- Situation and voluntariness ------------------------------------------------------------

Profile: VoorZorgSituation
Parent: Observation
Id: voorzorg-situation
Title: "VoorZorg situation assessment"
Description: "A referrer's yes/no assessment: very vulnerable situation, serious parenting problems with earlier children, or a (felt) forced framework. Risk factors seen may be attached via hasMember or derivedFrom."
* insert VZProfile
* insert VZObservation
* code MS
* code from VoorZorgSituationCodeVS (required)
* value[x] 1..1 MS
* value[x] only boolean
* hasMember ^short = "Risk factors seen (Observations)"
* derivedFrom ^short = "Risk factors or assessments this is based on"

Profile: VoorZorgVoluntaryParticipation
Parent: Consent
Id: voorzorg-voluntary-participation
Title: "VoorZorg voluntary participation"
Description: "Whether she agrees to take part in VoorZorg: status active = she agrees, rejected = she does not. No Consent means voluntariness is unknown."
* insert VZProfile
* status MS
* status from VoorZorgParticipationConsentStatusVS (required)
* scope MS
* scope = $consentscope#treatment
* patient 1..1 MS
* patient only Reference(VoorZorgClient)
* dateTime MS
* performer MS

// ---- Decision, plan and visits --------------------------------------------------------------

Profile: VoorZorgEligibilityDecision
Parent: GuidanceResponse
Id: voorzorg-eligibility-decision
Title: "VoorZorg eligibility decision"
Description: "The outcome of the VoorZorg eligibility decision ($check-eligibility) as a GuidanceResponse: track, reasons, evidence status, whether a consult is required, missing items, and the explanation (note) in words a nurse reads. status data-required when the referral is incomplete."
* insert VZProfile
* obeys vz-decision-1
* extension contains
    VoorZorgTrackExtension named track 1..1 MS and
    VoorZorgEvidenceExtension named evidence 0..1 MS and
    VoorZorgConsultRequiredExtension named consultRequired 1..1 MS and
    VoorZorgMissingItemExtension named missing 0..* MS and
    VoorZorgConfirmAtIntakeExtension named confirmAtIntake 0..* MS and
    VoorZorgGestationalAgeDaysExtension named gestationalAgeDays 0..1 MS and
    VoorZorgChildAgeDaysExtension named childAgeDays 0..1 MS
* requestIdentifier MS
* requestIdentifier ^short = "The referral's business identifier (ServiceRequest.identifier)"
* module[x] only uri
* moduleUri = "https://fhir.voorzorg.nl/OperationDefinition/check-eligibility" (exactly)
* status MS
* subject 1..1 MS
* subject only Reference(VoorZorgClient)
* occurrenceDateTime 1..1 MS
* reasonCode MS
* reasonCode from VoorZorgDecisionReasonVS (required)
* note 1..* MS
* note ^short = "The explanation of the decision, in words a nurse reads"

Profile: VoorZorgCarePlan
Parent: CarePlan
Id: voorzorg-careplan
Title: "VoorZorg care plan"
Description: "The VoorZorg plan of a client: the track (category), the programme period (from intake until the child is 2), the theme goals, and 40-60 planned home visits as activities whose status shows done, planned or missed."
* insert VZProfile
* status MS
* intent MS
* intent = #plan (exactly)
* category 1..1 MS
* category from VoorZorgTrackVS (required)
* category ^short = "The VoorZorg track"
* subject MS
* subject only Reference(VoorZorgClient)
* period 1..1 MS
* period.start 1..1 MS
* author MS
* supportingInfo MS
* supportingInfo ^short = "The referral (ServiceRequest) and the eligibility decision (GuidanceResponse)"
* goal MS
* goal only Reference(VoorZorgThemeGoal)
* activity MS
* activity.outcomeReference MS
* activity.outcomeReference ^short = "The home visit (Encounter) that carried out this planned visit"
* activity.detail MS
* activity.detail.code MS
* activity.detail.code ^short = "VoorZorgReferralItem#home-visit for a planned home visit"
* activity.detail.status MS
* activity.detail.scheduled[x] MS

Profile: VoorZorgHomeVisit
Parent: Encounter
Id: voorzorg-home-visit
Title: "VoorZorg home visit"
Description: "A home visit by a VoorZorg nurse (class HH, home health)."
* insert VZProfile
* obeys vz-visit-1
* status MS
* class MS
* class = $v3-ActCode#HH
* type 1..1 MS
* type = VoorZorgReferralItem#home-visit
* subject 1..1 MS
* subject only Reference(VoorZorgClient)
* participant MS
* participant.individual MS
* period MS
* reasonCode MS
* reasonCode from VoorZorgThemeVS (extensible)
* reasonCode ^short = "The themes worked on in this visit"
* serviceProvider MS

Profile: VoorZorgThemeObservation
Parent: Observation
Id: voorzorg-theme-observation
Title: "VoorZorg theme assessment"
Description: "The nurse's assessment of one of the nine VoorZorg themes, on the ordinal scale no-concern .. acute-concern. The subject is the client (the mother) or, where the theme is about the child, the child: a Patient linked to the mother (Patient.link, type seealso), as the birth report makes it."
* insert VZProfile
* identifier MS
* identifier ^short = "The nurse system's id of this assessment: a resend with the same identifier is the same assessment"
* status MS
* code MS
* code from VoorZorgThemeVS (required)
* code ^short = "The VoorZorg theme assessed"
* subject 1..1 MS
* subject only Reference(Patient)
* subject ^short = "The client (the mother), or her child (a Patient linked to her) where the theme is about the child"
* effective[x] 1..1 MS
* effective[x] only dateTime
* encounter MS
* encounter only Reference(VoorZorgHomeVisit)
* encounter ^short = "The home visit the assessment was made in"
* performer 1..* MS
* performer only Reference(Practitioner or PractitionerRole)
* performer ^short = "The VoorZorg nurse"
* value[x] 1..1 MS
* value[x] only CodeableConcept
* value[x] from VoorZorgThemeAssessmentVS (required)
* note MS

Profile: VoorZorgThemeGoal
Parent: Goal
Id: voorzorg-theme-goal
Title: "VoorZorg theme goal"
Description: "A goal the client and nurse agreed on within one VoorZorg theme, listed in the client's CarePlan (CarePlan.goal). Its target is the assessment level aimed at (target.detailCodeableConcept, on the theme assessment scale) by a due date; achievementStatus shows the progress."
* insert VZProfile
* obeys vz-goal-1
* identifier MS
* identifier ^short = "The nurse system's id of this goal: a resend with the same identifier updates the same goal"
* lifecycleStatus MS
* achievementStatus 1..1 MS
* achievementStatus from VoorZorgGoalAchievementVS (required)
* category 1..1 MS
* category from VoorZorgThemeVS (required)
* category ^short = "The VoorZorg theme"
* description MS
* subject MS
* subject only Reference(Patient)
* subject ^short = "The client (the mother), or her child (a Patient linked to her) where the goal is about the child"
* start[x] MS
* target 1..* MS
* target.measure MS
* target.measure from VoorZorgThemeVS (required)
* target.measure ^short = "The theme whose assessment is the measure (the same as category)"
* target.detail[x] MS
* target.detail[x] only CodeableConcept
* target.detail[x] from VoorZorgThemeAssessmentVS (required)
* target.detail[x] ^short = "The assessment level aimed at, e.g. no-concern or attention-needed"
* target.due[x] MS
* target.due[x] only date
* addresses MS
* addresses only Reference(VoorZorgThemeObservation)
* addresses ^short = "The theme assessment(s) this goal responds to"
