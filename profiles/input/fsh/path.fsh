// The client's path through the programme (domain page §7): the intake visit and its findings, the
// programme (EpisodeOfCare) with its enrolment, phases and ending, where she is on the referral Task
// (businessStatus), and the warm handover when she moves (a FHIR message).

// ---- Code systems ---------------------------------------------------------------------------

CodeSystem: VoorZorgPathStatus
Id: voorzorg-path-status
Title: "VoorZorg path status"
Description: "Where a referred client is on her path, as the referral Task's businessStatus tells the sender (the way HL7 Gravity SDOH and BSeR use Task.businessStatus beside Task.status)."
* insert VZCodeSystem
* #received "Ontvangen" "The referral is received; no decision yet (data is missing)."
* insert En(#received, Received)
* #decided "Besloten" "The referral is decided and does not lead to VoorZorg (not eligible)."
* insert En(#decided, Decided)
* #consult-pending "Consult loopt" "The decision waits for the advice of VoorZorg Consult."
* insert En(#consult-pending, Consult pending)
* #intake-planned "Intake gepland" "Accepted for a VoorZorg track; the nurse's intake visit (the first home visit) is still to come."
* insert En(#intake-planned, Intake planned)
* #enrolled "Ingeschreven" "Enrolled: the intake visit took place, she said yes, and the programme runs."
* insert En(#enrolled, Enrolled)
* #ended "Beëindigd" "The programme ended (or never started), with a reason and a date."
* insert En(#ended, Ended)

CodeSystem: VoorZorgEndingReason
Id: voorzorg-ending-reason
Title: "VoorZorg ending reasons"
Description: "Why a client's VoorZorg programme ended (domain page §7). The phase she ended in counts for attrition."
* insert VZCodeSystem
* #completed "Afgerond" "The programme was completed: the child turned 2 (or VoorZorg Verder ended)."
* insert En(#completed, Completed)
* #client-choice "Eigen keuze" "Her own choice: she no longer wants to take part, or is no longer motivated (also her no at the intake visit)."
* insert En(#client-choice, Her own choice)
* #moved "Verhuisd" "She moved out of the region; the programme is handed over warmly to the JGZ organisation of her new region."
* insert En(#moved, Moved out of the region)
* #not-reachable "Niet bereikbaar" "She could not be reached any more."
* insert En(#not-reachable, Not reachable)
* #pregnancy-ended-or-child-died "Zwangerschap beëindigd of kind overleden" "The pregnancy ended (miscarriage, stillbirth) or the child died."
* insert En(#pregnancy-ended-or-child-died, Pregnancy ended or child died)
* #child-placed-out-of-home "Kind uit huis geplaatst" "The child was placed out of home."
* insert En(#child-placed-out-of-home, Child placed out of home)
* #referred-to-other-care "Verwezen naar andere zorg" "Referred to other care, for example when safety needs a designated agency (VoorZorg never monitors safety)."
* insert En(#referred-to-other-care, Referred to other care)
* #other "Anders" "Another reason, said in words."
* insert En(#other, Other)

CodeSystem: VoorZorgProgrammePhase
Id: voorzorg-programme-phase
Title: "VoorZorg programme phases"
Description: "The phases of the programme (NFP): derived from the enrolment date and the (expected or actual) birth, never kept apart."
* insert VZCodeSystem
* #pregnancy "Zwangerschap" "From enrolment until the birth."
* insert En(#pregnancy, Pregnancy)
* #infancy "Zuigelingentijd" "From the birth until the child is 12 months."
* insert En(#infancy, Infancy)
* #toddler "Peutertijd" "From 12 until 24 months."
* insert En(#toddler, Toddler)
* #verder "VoorZorg Verder" "After 24 months, while VoorZorg Verder continues the programme."
* insert En(#verder, VoorZorg Verder)

CodeSystem: VoorZorgMessageEvent
Id: voorzorg-message-event
Title: "VoorZorg message events"
Description: "The events of the FHIR messages VoorZorg adapters exchange ($process-message)."
* insert VZCodeSystem
* #client-transfer "Overdracht cliënt" "A warm handover: the client's programme to the JGZ organisation of her new region, which continues it (no new eligibility decision; the plan goes on)."
* insert En(#client-transfer, Client transfer)

// ---- Value sets -----------------------------------------------------------------------------

ValueSet: VoorZorgPathStatusVS
Id: voorzorg-path-status
Title: "VoorZorg path status"
Description: "All codes of the VoorZorg path status code system."
* insert VZValueSet
* include codes from system VoorZorgPathStatus

ValueSet: VoorZorgEndingReasonVS
Id: voorzorg-ending-reason
Title: "VoorZorg ending reasons"
Description: "All codes of the VoorZorg ending reason code system."
* insert VZValueSet
* include codes from system VoorZorgEndingReason

ValueSet: VoorZorgProgrammePhaseVS
Id: voorzorg-programme-phase
Title: "VoorZorg programme phases"
Description: "All codes of the VoorZorg programme phase code system."
* insert VZValueSet
* include codes from system VoorZorgProgrammePhase

ValueSet: VoorZorgMessageEventVS
Id: voorzorg-message-event
Title: "VoorZorg message events"
Description: "All codes of the VoorZorg message event code system."
* insert VZValueSet
* include codes from system VoorZorgMessageEvent

ValueSet: VoorZorgIntakeFindingCodeVS
Id: voorzorg-intake-finding-code
Title: "VoorZorg intake visit findings"
Description: "What the nurse records at the intake visit: voluntariness, a (felt) forced framework, serious parenting problems with earlier children, parity, the pregnancy dating (estimated date of delivery or pregnancy duration), and the client's own yes or no."
* insert VZValueSet
* VoorZorgReferralItem#voluntary-participation
* VoorZorgReferralItem#forced-framework
* VoorZorgReferralItem#serious-parenting-problems
* VoorZorgReferralItem#takes-part
* $sct#161714006
* $loinc#11778-8
* $sct#57036006
* $loinc#18185-9
* $loinc#49051-6
* $sct#364325004
* $loinc#11977-6

ValueSet: VoorZorgBirthWeightUnitVS
Id: voorzorg-birth-weight-unit
Title: "Birth weight units"
Description: "UCUM units for a birth weight: grams or kilograms."
* insert VZValueSet
* $ucum#g
* $ucum#kg

// ---- Invariants -----------------------------------------------------------------------------

Invariant: vz-programme-1
Description: "An ended programme (finished, or cancelled by the JGZ) says why and when: the ending reason and period.end."
Severity: #error
Expression: "(status = 'finished' or extension.where(url = 'https://fhir.voorzorg.nl/StructureDefinition/voorzorg-ending-reason').exists()) implies (extension.where(url = 'https://fhir.voorzorg.nl/StructureDefinition/voorzorg-ending-reason').exists() and period.end.exists())"

Invariant: vz-programme-2
Description: "A programme that started (active or finished) has its enrolment date: period.start."
Severity: #error
Expression: "(status = 'active' or status = 'finished') implies period.start.exists()"

Invariant: vz-programme-3
Description: "The programme is typed as such (voorzorg-referral-item#voorzorg-programme) and names exactly one track (voorzorg-track)."
Severity: #error
Expression: "type.coding.where(system = 'https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item' and code = 'voorzorg-programme').exists() and type.coding.where(system = 'https://fhir.voorzorg.nl/CodeSystem/voorzorg-track').count() = 1"

Invariant: vz-finding-1
Description: "A yes/no finding (voluntary participation, forced framework, serious parenting problems, takes part) has valueBoolean."
Severity: #error
Expression: "code.coding.where(system = 'https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item').exists() implies value.is(boolean)"

// ---- Extensions on the programme --------------------------------------------------------------

RuleSet: VZProgrammeExtension
* ^status = #draft
* ^experimental = false
* ^publisher = "VoorZorg adapter project"
* ^context[0].type = #element
* ^context[0].expression = "EpisodeOfCare"

Extension: VoorZorgGestationalAgeAtEnrolmentExtension
Id: voorzorg-gestational-age-at-enrolment
Title: "Gestational age at enrolment, in days"
Description: "The gestational age on the enrolment date (the intake visit), in days: 280 minus the days from enrolment to the (expected) date of delivery. Derived from the dates; what monitoring counts (enrolled before 16 and before 28 weeks)."
* insert VZProgrammeExtension
* value[x] 1..1
* value[x] only integer

Extension: VoorZorgChildAgeAtEnrolmentExtension
Id: voorzorg-child-age-at-enrolment
Title: "Child's age at enrolment, in days"
Description: "When she enrolled after the birth (Late Start, up to 6 weeks after birth): the child's age in days on the enrolment date."
* insert VZProgrammeExtension
* value[x] 1..1
* value[x] only integer

Extension: VoorZorgProgrammePhaseExtension
Id: voorzorg-programme-phase
Title: "Programme phase"
Description: "One phase of the programme and its period, derived from the enrolment date, the (expected, or once reported the actual) birth and the ending: pregnancy until the birth, infancy until 12 months, toddler until 24 months, VoorZorg Verder after that. The phase on a date is the one whose period holds it; the last one of an ended programme is the phase she ended in."
* insert VZProgrammeExtension
* extension contains phase 1..1 and period 1..1
* extension[phase].value[x] only code
* extension[phase].valueCode from VoorZorgProgrammePhaseVS (required)
* extension[period].value[x] only Period

Extension: VoorZorgEndingReasonExtension
Id: voorzorg-ending-reason
Title: "Why the programme ended"
Description: "The reason the programme ended (voorzorg-ending-reason), with the JGZ's words as text; the date is period.end."
* insert VZProgrammeExtension
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from VoorZorgEndingReasonVS (required)

// ---- Profiles -------------------------------------------------------------------------------

Profile: VoorZorgIntakeVisit
Parent: Encounter
Id: voorzorg-intake-visit
Title: "VoorZorg intake visit"
Description: "The nurse's first home visit (class HH, type intake-visit), based on the referral: she confirms or corrects what the referral said (the findings: Observations of profile voorzorg-intake-finding pointing to this Encounter and the referral) and the client says yes or no. A client is enrolled on its date."
* insert VZProfile
* obeys vz-visit-1
* status MS
* status = #finished (exactly)
* class MS
* class = $v3-ActCode#HH
* type 1..1 MS
* type = VoorZorgReferralItem#intake-visit
* subject 1..1 MS
* subject only Reference(VoorZorgClient)
* basedOn 1..1 MS
* basedOn only Reference(VoorZorgReferral)
* basedOn ^short = "The referral the intake visit is for (hers)"
* participant MS
* participant.individual MS
* period 1..1 MS
* period.start 1..1 MS
* period.start ^short = "The date of the visit: her enrolment date when she takes part"
* serviceProvider MS

Profile: VoorZorgIntakeFinding
Parent: Observation
Id: voorzorg-intake-finding
Title: "VoorZorg intake visit finding"
Description: "What the nurse establishes at the intake visit; it outranks what the referrer reported, and the referral is decided again with the same rules: voluntariness, a (felt) forced framework, serious parenting problems with earlier children, parity, the pregnancy dating, and the client's own yes or no."
* insert VZProfile
* obeys vz-finding-1
* status MS
* code MS
* code from VoorZorgIntakeFindingCodeVS (required)
* subject 1..1 MS
* subject only Reference(VoorZorgClient)
* encounter 1..1 MS
* encounter only Reference(VoorZorgIntakeVisit)
* basedOn 1..1 MS
* basedOn only Reference(VoorZorgReferral)
* effective[x] MS
* value[x] 1..1 MS
* value[x] only boolean or dateTime or Quantity or integer

Profile: VoorZorgProgramme
Parent: EpisodeOfCare
Id: voorzorg-programme
Title: "VoorZorg programme"
Description: "The client's VoorZorg programme (domain page §7): planned from the referral, active from enrolment (the date of the intake visit, period.start), finished when it ends (period.end, with a reason); statusHistory keeps every change. It carries the track, the gestational age (or the child's age) at enrolment and the phases derived from the dates. Distinct from the OZKS summary (voorzorg-ozks-summary)."
* insert VZProfile
* obeys vz-programme-1 and vz-programme-2 and vz-programme-3
* extension contains
    VoorZorgGestationalAgeAtEnrolmentExtension named gestationalAgeAtEnrolment 0..1 MS and
    VoorZorgChildAgeAtEnrolmentExtension named childAgeAtEnrolment 0..1 MS and
    VoorZorgProgrammePhaseExtension named phase 0..* MS and
    VoorZorgEndingReasonExtension named endingReason 0..1 MS
* identifier MS
* status MS
* statusHistory MS
* type 2..* MS
* type ^short = "voorzorg-referral-item#voorzorg-programme (what this episode is), and the track (voorzorg-track)"
* patient 1..1 MS
* patient only Reference(VoorZorgClient)
* managingOrganization 1..1 MS
* referralRequest 1..1 MS
* referralRequest only Reference(VoorZorgReferral)
* period MS
* period ^short = "start: the enrolment date; end: the date it ended"
* careManager MS

Profile: VoorZorgTransferHeader
Parent: MessageHeader
Id: voorzorg-transfer-header
Title: "VoorZorg transfer message header"
Description: "The header of a warm handover (event client-transfer): from the JGZ organisation she leaves to the one of her new region. The message Bundle holds her programme (focus), the client, the referral and the decision it rests on, the care plan with the visits done and planned, the visits, the theme assessments and goals."
* insert VZProfile
* event[x] only Coding
* eventCoding = VoorZorgMessageEvent#client-transfer
* destination 1..* MS
* destination.receiver 1..1 MS
* sender 1..1 MS
* source.endpoint MS
* focus 1..* MS
* focus only Reference(VoorZorgProgramme or Patient or CarePlan)

// ---- Examples -------------------------------------------------------------------------------

Instance: example-intake-visit
InstanceOf: VoorZorgIntakeVisit
Usage: #example
Title: "Example intake visit"
Description: "The nurse's first home visit to example-client, on 2025-03-17."
* status = #finished
* class = $v3-ActCode#HH
* type = VoorZorgReferralItem#intake-visit "Intakebezoek VoorZorg"
* subject = Reference(example-client)
* basedOn = Reference(example-referral)
* participant[0].individual = Reference(example-voorzorg-nurse)
* period.start = "2025-03-17T10:00:00+01:00"
* period.end = "2025-03-17T11:30:00+01:00"

Instance: example-intake-takes-part
InstanceOf: VoorZorgIntakeFinding
Usage: #example
Title: "Example intake finding: she takes part"
Description: "At the intake visit example-client says yes to VoorZorg."
* status = #final
* code = VoorZorgReferralItem#takes-part "Doet mee aan VoorZorg"
* subject = Reference(example-client)
* encounter = Reference(example-intake-visit)
* basedOn = Reference(example-referral)
* effectiveDateTime = "2025-03-17"
* valueBoolean = true

Instance: example-intake-forced-framework
InstanceOf: VoorZorgIntakeFinding
Usage: #example
Title: "Example intake finding: no forced framework"
Description: "The nurse confirms there is no (felt) forced framework."
* status = #final
* code = VoorZorgReferralItem#forced-framework "(Ervaren) gedwongen kader"
* subject = Reference(example-client)
* encounter = Reference(example-intake-visit)
* basedOn = Reference(example-referral)
* effectiveDateTime = "2025-03-17"
* valueBoolean = false

Instance: example-programme
InstanceOf: VoorZorgProgramme
Usage: #example
Title: "Example programme"
Description: "example-client's programme: planned from the referral on 2025-03-10, enrolled at the intake visit on 2025-03-17 at 17+5 weeks, in the pregnancy phase until the expected birth on 2025-08-20."
* extension[gestationalAgeAtEnrolment].valueInteger = 124
* extension[phase][0].extension[phase].valueCode = #pregnancy
* extension[phase][0].extension[period].valuePeriod.start = "2025-03-17"
* extension[phase][0].extension[period].valuePeriod.end = "2025-08-19"
* extension[phase][1].extension[phase].valueCode = #infancy
* extension[phase][1].extension[period].valuePeriod.start = "2025-08-20"
* extension[phase][1].extension[period].valuePeriod.end = "2026-08-19"
* extension[phase][2].extension[phase].valueCode = #toddler
* extension[phase][2].extension[period].valuePeriod.start = "2026-08-20"
* extension[phase][2].extension[period].valuePeriod.end = "2027-08-19"
* status = #active
* statusHistory[0].status = #planned
* statusHistory[0].period.start = "2025-03-10"
* statusHistory[0].period.end = "2025-03-17"
* statusHistory[1].status = #active
* statusHistory[1].period.start = "2025-03-17"
* type[0] = VoorZorgReferralItem#voorzorg-programme "VoorZorg-traject"
* type[1] = VoorZorgTrack#voorzorg "VoorZorg"
* patient = Reference(example-client)
* managingOrganization = Reference(example-jgz-organization)
* referralRequest = Reference(example-referral)
* period.start = "2025-03-17"

Instance: example-programme-ended
InstanceOf: VoorZorgProgramme
Usage: #example
Title: "Example programme that ended early"
Description: "example-client-2's programme, enrolled after the birth and ended in the infancy phase: she could no longer be reached."
* extension[childAgeAtEnrolment].valueInteger = 28
* extension[phase][0].extension[phase].valueCode = #infancy
* extension[phase][0].extension[period].valuePeriod.start = "2025-06-09"
* extension[phase][0].extension[period].valuePeriod.end = "2025-11-03"
* extension[endingReason].valueCodeableConcept = VoorZorgEndingReason#not-reachable "Niet bereikbaar"
* extension[endingReason].valueCodeableConcept.text = "Three visits missed, phone and mail unanswered."
* status = #finished
* statusHistory[0].status = #planned
* statusHistory[0].period.start = "2025-06-02"
* statusHistory[0].period.end = "2025-06-09"
* statusHistory[1].status = #active
* statusHistory[1].period.start = "2025-06-09"
* statusHistory[1].period.end = "2025-11-03"
* statusHistory[2].status = #finished
* statusHistory[2].period.start = "2025-11-03"
* type[0] = VoorZorgReferralItem#voorzorg-programme "VoorZorg-traject"
* type[1] = VoorZorgTrack#late-start "VoorZorg Late Start"
* patient = Reference(example-client-2)
* managingOrganization = Reference(example-jgz-organization)
* referralRequest = Reference(example-referral-2)
* period.start = "2025-06-09"
* period.end = "2025-11-03"

Instance: example-transfer-header
InstanceOf: VoorZorgTransferHeader
Usage: #example
Title: "Example transfer message header"
Description: "example-client moves: her programme goes to the JGZ organisation of her new region."
* eventCoding = VoorZorgMessageEvent#client-transfer "Overdracht cliënt"
* destination[0].endpoint = "https://jgz-noord.example.nl/fhir"
* destination[0].receiver.identifier.system = $ura
* destination[0].receiver.identifier.value = "00008888"
* sender = Reference(example-jgz-organization)
* source.endpoint = "https://voorzorg.example.nl/fhir"
* focus[0] = Reference(example-programme)
