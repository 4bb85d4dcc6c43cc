// Examples. Scenario 1 (example-client): first child, 16+5 weeks at the referral date
// 2025-03-10, aged 20, voluntary, very vulnerable situation -> track voorzorg, proven-effective.
// Scenario 2 (example-client-2): earlier children with serious parenting problems, child born
// 21 days before the referral date 2025-06-02 -> consult, reason late-start-plus-2.
// example-referral-bundle is scenario 1 as the transaction Bundle an obstetric system sends.

// ---- Parties (base resources) -------------------------------------------------------------

Instance: example-referrer-organization
InstanceOf: Organization
Usage: #example
Title: "Example referrer: a midwifery practice"
Description: "The referring midwifery practice, identified by its AGB code."
* identifier[0].system = $agb-z
* identifier[0].value = "01099999"
* name = "Verloskundigenpraktijk De Wieg"

Instance: example-jgz-organization
InstanceOf: Organization
Usage: #example
Title: "Example JGZ organisation"
Description: "The youth healthcare (JGZ) organisation that delivers VoorZorg, identified by its URA."
* identifier[0].system = $ura
* identifier[0].value = "00009999"
* name = "JGZ Regio Voorbeeld"

Instance: example-voorzorg-consult-organization
InstanceOf: Organization
Usage: #example
Title: "Example VoorZorg Consult"
Description: "VoorZorg Consult, the national expert team."
* name = "VoorZorg Consult (NCJ)"
* telecom[0].system = #email
* telecom[0].value = "voorzorg@ncj.nl"

Instance: example-voorzorg-nurse
InstanceOf: Practitioner
Usage: #example
Title: "Example VoorZorg nurse"
Description: "A VoorZorg nurse of the JGZ organisation."
* name[0].family = "Jansen"
* name[0].given[0] = "Sanne"

// ---- Scenario 1 ----------------------------------------------------------------------------

Instance: example-client
InstanceOf: VoorZorgClient
Usage: #example
Title: "Example client"
Description: "A pregnant woman aged 20, expecting her first child; BSN 999911120 passes the elfproef."
* identifier[bsn].system = $bsn
* identifier[bsn].value = "999911120"
* name[0].family = "de Vries"
* name[0].given[0] = "Lisa"
* gender = #female
* birthDate = "2004-05-14"
* address[0].city = "Utrecht"

Instance: example-referral
InstanceOf: VoorZorgReferral
Usage: #example
Title: "Example VoorZorg referral"
Description: "The referral of example-client by her midwife, with the pregnancy and situation Observations and her consent as supportingInfo."
* identifier.system = "https://example.org/verloskundigenpraktijk-de-wieg/referral"
* identifier.value = "VZ-2025-0042"
* status = #active
* intent = #order
* code = VoorZorgReferralItem#voorzorg-referral "Verwijzing naar VoorZorg"
* subject = Reference(example-client)
* requester = Reference(example-referrer-organization)
* authoredOn = "2025-03-10"
* supportingInfo[0] = Reference(example-edd)
* supportingInfo[+] = Reference(example-parity)
* supportingInfo[+] = Reference(example-very-vulnerable-situation)
* supportingInfo[+] = Reference(example-serious-parenting-problems)
* supportingInfo[+] = Reference(example-forced-framework)
* supportingInfo[+] = Reference(example-voluntary-participation)
* note[0].text = "Jonge zwangere, eerste kind, weinig steun uit het netwerk, schulden."

Instance: example-edd
InstanceOf: VoorZorgEstimatedDeliveryDate
Usage: #example
Title: "Example estimated date of delivery"
Description: "EDD 2025-08-20: gestational age 117 days (16+5 weeks) on the referral date 2025-03-10."
* status = #final
* code = $sct#161714006
* code.coding[+] = $loinc#11778-8
* subject = Reference(example-client)
* effectiveDateTime = "2025-03-03"
* valueDateTime = "2025-08-20"

Instance: example-pregnancy-duration
InstanceOf: VoorZorgPregnancyDuration
Usage: #example
Title: "Example pregnancy duration"
Description: "16 weeks of pregnancy measured on 2025-03-03."
* status = #final
* code = $sct#57036006
* subject = Reference(example-client)
* effectiveDateTime = "2025-03-03"
* valueQuantity = 16 'wk' "weeks"

Instance: example-parity
InstanceOf: VoorZorgParity
Usage: #example
Title: "Example parity"
Description: "Parity 0: expecting her first child."
* status = #final
* code = $sct#364325004
* code.coding[+] = $loinc#11977-6
* subject = Reference(example-client)
* valueInteger = 0

Instance: example-gravidity
InstanceOf: VoorZorgGravidity
Usage: #example
Title: "Example gravidity"
Description: "Gravidity 1: her first pregnancy."
* status = #final
* code = $loinc#11996-6
* subject = Reference(example-client)
* valueInteger = 1

Instance: example-pregnancy
InstanceOf: VoorZorgPregnancy
Usage: #example
Title: "Example pregnancy panel"
Description: "The zib Pregnancy-like panel, with the pregnancy facts as hasMember."
* status = #final
* code = $sct#118185001
* subject = Reference(example-client)
* effectiveDateTime = "2025-03-03"
* hasMember[0] = Reference(example-edd)
* hasMember[+] = Reference(example-pregnancy-duration)
* hasMember[+] = Reference(example-parity)
* hasMember[+] = Reference(example-gravidity)
* hasMember[+] = Reference(example-last-menstruation-date)

Instance: example-last-menstruation-date
InstanceOf: VoorZorgLastMenstruationDate
Usage: #example
Title: "Example date of last menstruation"
Description: "Last menstrual period 2024-11-13 (consistent with the EDD 2025-08-20)."
* status = #final
* code = $sct#21840007
* subject = Reference(example-client)
* valueDateTime = "2024-11-13"

Instance: example-very-vulnerable-situation
InstanceOf: VoorZorgSituation
Usage: #example
Title: "Example: very vulnerable situation"
Description: "The referrer assesses the situation as very vulnerable."
* status = #final
* code = VoorZorgReferralItem#very-vulnerable-situation "Zeer kwetsbare situatie"
* subject = Reference(example-client)
* effectiveDateTime = "2025-03-10"
* valueBoolean = true
* note[0].text = "Jong, weinig sociaal netwerk, financiële problemen, geen vaste woonplek."

Instance: example-serious-parenting-problems
InstanceOf: VoorZorgSituation
Usage: #example
Title: "Example: no serious parenting problems"
Description: "No serious parenting problems (she has no earlier children)."
* status = #final
* code = VoorZorgReferralItem#serious-parenting-problems "Ernstige opvoedproblemen met eerdere kinderen"
* subject = Reference(example-client)
* effectiveDateTime = "2025-03-10"
* valueBoolean = false

Instance: example-forced-framework
InstanceOf: VoorZorgSituation
Usage: #example
Title: "Example: no forced framework"
Description: "No forced framework, and none felt."
* status = #final
* code = VoorZorgReferralItem#forced-framework "(Ervaren) gedwongen kader"
* subject = Reference(example-client)
* effectiveDateTime = "2025-03-10"
* valueBoolean = false

Instance: example-voluntary-participation
InstanceOf: VoorZorgVoluntaryParticipation
Usage: #example
Title: "Example voluntary participation"
Description: "She agrees to take part in VoorZorg."
* status = #active
* scope = $consentscope#treatment
* category = $loinc#59284-0
* patient = Reference(example-client)
* dateTime = "2025-03-10"
* policyRule = $v3-ActCode#OPTIN

Instance: example-referral-task
InstanceOf: VoorZorgReferralTask
Usage: #example
Title: "Example referral task (accepted)"
Description: "The closed-loop Task of example-referral, accepted by the JGZ organisation after the decision voorzorg."
* status = #accepted
* intent = #order
* code = VoorZorgReferralItem#voorzorg-referral
* focus = Reference(example-referral)
* for = Reference(example-client)
* authoredOn = "2025-03-10"
* requester = Reference(example-referrer-organization)
* owner = Reference(example-jgz-organization)
* output[0].type.text = "eligibility decision"
* output[0].valueReference = Reference(example-eligibility-decision)
* businessStatus = VoorZorgPathStatus#intake-planned "Intake gepland"

Instance: example-eligibility-decision
InstanceOf: VoorZorgEligibilityDecision
Usage: #example
Title: "Example eligibility decision: voorzorg"
Description: "Track voorzorg, proven effective, no consult needed."
* extension[track].valueCoding = VoorZorgTrack#voorzorg "VoorZorg"
* extension[evidence].valueCoding = VoorZorgEvidence#proven-effective "Bewezen effectief"
* extension[consultRequired].valueBoolean = false
* extension[gestationalAgeDays].valueInteger = 117
* requestIdentifier.system = "https://example.org/verloskundigenpraktijk-de-wieg/referral"
* requestIdentifier.value = "VZ-2025-0042"
* moduleUri = "https://fhir.voorzorg.nl/OperationDefinition/check-eligibility"
* status = #success
* subject = Reference(example-client)
* occurrenceDateTime = "2025-03-10T14:05:00+01:00"
* note[0].text = "Eerste kind, 16+5 weken zwanger op de verwijsdatum, 20 jaar, vrijwillige deelname en een zeer kwetsbare situatie: VoorZorg (bewezen effectief)."

Instance: example-eligibility-decision-incomplete
InstanceOf: VoorZorgEligibilityDecision
Usage: #example
Title: "Example eligibility decision: incomplete"
Description: "A referral without parity or gravidity and without the situation assessment: incomplete, data-required."
* extension[track].valueCoding = VoorZorgTrack#incomplete "Verwijzing onvolledig"
* extension[consultRequired].valueBoolean = false
* extension[missing][0].valueString = "parity (or gravidity 1)"
* extension[missing][+].valueString = "very-vulnerable-situation"
* moduleUri = "https://fhir.voorzorg.nl/OperationDefinition/check-eligibility"
* status = #data-required
* subject = Reference(example-client)
* occurrenceDateTime = "2025-03-10T14:05:00+01:00"
* reasonCode = VoorZorgDecisionReason#missing-data "Ontbrekende gegevens"
* note[0].text = "De verwijzing is onvolledig: pariteit en de beoordeling zeer kwetsbare situatie ontbreken."

Instance: example-careplan
InstanceOf: VoorZorgCarePlan
Usage: #example
Title: "Example VoorZorg care plan"
Description: "The VoorZorg plan of example-client: one visit done, one missed, one planned (a real plan holds 40-60 visits)."
* status = #active
* intent = #plan
* category = VoorZorgTrack#voorzorg "VoorZorg"
* title = "VoorZorg-plan Lisa de Vries"
* subject = Reference(example-client)
* period.start = "2025-03-24"
* period.end = "2027-08-20"
* author = Reference(example-jgz-organization)
* supportingInfo[0] = Reference(example-referral)
* supportingInfo[+] = Reference(example-eligibility-decision)
* goal = Reference(example-theme-goal)
* activity[0].outcomeReference = Reference(example-home-visit)
* activity[0].detail.kind = #Appointment
* activity[0].detail.code = VoorZorgReferralItem#home-visit "Huisbezoek VoorZorg"
* activity[0].detail.status = #completed
* activity[0].detail.scheduledPeriod.start = "2025-03-24"
* activity[0].detail.scheduledPeriod.end = "2025-03-30"
* activity[1].detail.kind = #Appointment
* activity[1].detail.code = VoorZorgReferralItem#home-visit "Huisbezoek VoorZorg"
* activity[1].detail.status = #cancelled
* activity[1].detail.statusReason.text = "missed: client not at home"
* activity[1].detail.scheduledPeriod.start = "2025-03-31"
* activity[1].detail.scheduledPeriod.end = "2025-04-06"
* activity[2].detail.kind = #Appointment
* activity[2].detail.code = VoorZorgReferralItem#home-visit "Huisbezoek VoorZorg"
* activity[2].detail.status = #scheduled
* activity[2].detail.scheduledPeriod.start = "2025-04-07"
* activity[2].detail.scheduledPeriod.end = "2025-04-13"

Instance: example-home-visit
InstanceOf: VoorZorgHomeVisit
Usage: #example
Title: "Example home visit"
Description: "The first VoorZorg home visit to example-client."
* status = #finished
* class = $v3-ActCode#HH "home health"
* type = VoorZorgReferralItem#home-visit "Huisbezoek VoorZorg"
* subject = Reference(example-client)
* participant[0].individual = Reference(example-voorzorg-nurse)
* period.start = "2025-03-25T10:00:00+01:00"
* period.end = "2025-03-25T11:15:00+01:00"
* reasonCode[0] = VoorZorgTheme#gezondheid "Gezondheid"
* reasonCode[+] = VoorZorgTheme#financiele-stabiliteit "Financiële stabiliteit"
* serviceProvider = Reference(example-jgz-organization)

Instance: example-theme-observation
InstanceOf: VoorZorgThemeObservation
Usage: #example
Title: "Example theme assessment: financial stability"
Description: "Financial stability assessed as a concern at the first home visit."
* identifier[0].system = "https://example.org/jgz-regio-voorbeeld/theme-assessment"
* identifier[0].value = "TA-2025-0001"
* status = #final
* code = VoorZorgTheme#financiele-stabiliteit "Financiële stabiliteit"
* subject = Reference(example-client)
* encounter = Reference(example-home-visit)
* effectiveDateTime = "2025-03-25T11:00:00+01:00"
* performer = Reference(example-voorzorg-nurse)
* valueCodeableConcept = VoorZorgThemeAssessment#concern "Zorgen"
* note[0].text = "Schulden bij de zorgverzekeraar en de energieleverancier; nog geen overzicht."

Instance: example-child
InstanceOf: Patient
Usage: #example
Title: "Example child"
Description: "The child of example-client, linked to its mother as the birth report makes it (link type seealso)."
* identifier[0].system = $bsn
* identifier[0].value = "999912033"
* name[0].family = "de Vries"
* name[0].given[0] = "Noor"
* gender = #female
* birthDate = "2025-08-28"
* link[0].other = Reference(example-client)
* link[0].type = #seealso

Instance: example-theme-observation-child
InstanceOf: VoorZorgThemeObservation
Usage: #example
Title: "Example theme assessment about the child: attachment"
Description: "Attachment assessed as needing attention at a visit after the birth; the subject is the child."
* identifier[0].system = "https://example.org/jgz-regio-voorbeeld/theme-assessment"
* identifier[0].value = "TA-2025-0002"
* status = #final
* code = VoorZorgTheme#hechting "Hechting"
* subject = Reference(example-child)
* effectiveDateTime = "2025-09-15T11:05:00+02:00"
* performer = Reference(example-voorzorg-nurse)
* valueCodeableConcept = VoorZorgThemeAssessment#attention-needed "Aandacht nodig"

Instance: example-theme-goal
InstanceOf: VoorZorgThemeGoal
Usage: #example
Title: "Example theme goal: financial stability"
Description: "A goal within the theme financial stability: from concern to attention needed before the birth."
* identifier[0].system = "https://example.org/jgz-regio-voorbeeld/theme-goal"
* identifier[0].value = "TG-2025-0001"
* lifecycleStatus = #active
* achievementStatus = $goal-achievement#in-progress "In Progress"
* category = VoorZorgTheme#financiele-stabiliteit "Financiële stabiliteit"
* description.text = "Voor de geboorte heeft Lisa een overzicht van haar schulden en een afspraak met schuldhulpverlening."
* subject = Reference(example-client)
* startDate = "2025-03-25"
* target[0].measure = VoorZorgTheme#financiele-stabiliteit "Financiële stabiliteit"
* target[0].detailCodeableConcept = VoorZorgThemeAssessment#attention-needed "Aandacht nodig"
* target[0].dueDate = "2025-08-01"
* addresses = Reference(example-theme-observation)

// ---- Scenario 2 ----------------------------------------------------------------------------

Instance: example-client-2
InstanceOf: VoorZorgClient
Usage: #example
Title: "Example client 2"
Description: "A mother of three whose youngest child was born on 2025-05-12; BSN 999912021 passes the elfproef."
* identifier[bsn].system = $bsn
* identifier[bsn].value = "999912021"
* name[0].family = "Bakker"
* name[0].given[0] = "Naima"
* gender = #female
* birthDate = "1996-02-03"

Instance: example-referral-2
InstanceOf: VoorZorgReferral
Usage: #example
Title: "Example VoorZorg referral 2 (after birth)"
Description: "The referral of example-client-2, 21 days after the birth of her third child."
* identifier.system = "https://example.org/verloskundigenpraktijk-de-wieg/referral"
* identifier.value = "VZ-2025-0107"
* status = #active
* intent = #order
* code = VoorZorgReferralItem#voorzorg-referral "Verwijzing naar VoorZorg"
* subject = Reference(example-client-2)
* requester = Reference(example-referrer-organization)
* authoredOn = "2025-06-02"
* supportingInfo[0] = Reference(example-delivery-date)

Instance: example-delivery-date
InstanceOf: VoorZorgDeliveryDate
Usage: #example
Title: "Example delivery date"
Description: "The child of example-client-2 was born on 2025-05-12, alive, at 38+2 weeks, weighing 3,150 g: the birth report with the birth outcome as components."
* status = #final
* code = $loinc#93857-1
* subject = Reference(example-client-2)
* valueDateTime = "2025-05-12T03:40:00+02:00"
* component[gestationalAgeAtBirth].code = $loinc#76516-4
* component[gestationalAgeAtBirth].valueQuantity = 268 'd' "days"
* component[birthWeight].code = $loinc#8339-4
* component[birthWeight].valueQuantity = 3150 'g' "g"
* component[liveBorn].code = VoorZorgReferralItem#live-born
* component[liveBorn].valueBoolean = true

Instance: example-consult-request
InstanceOf: VoorZorgConsultRequest
Usage: #example
Title: "Example VoorZorg Consult request"
Description: "Earlier children with serious parenting problems, child born 21 days ago: consult, reason late-start-plus-2."
* basedOn = Reference(example-referral-2)
* status = #active
* intent = #order
* code = VoorZorgReferralItem#voorzorg-consult-request "Consultvraag aan VoorZorg Consult"
* category = $sct#11429006 "Consultation"
* subject = Reference(example-client-2)
* authoredOn = "2025-06-03"
* requester = Reference(example-jgz-organization)
* performer = Reference(example-voorzorg-consult-organization)
* reasonCode = VoorZorgDecisionReason#late-start-plus-2 "Late Start plus 2 (LS+2)"
* note[0].text = "Derde kind 21 dagen oud, ernstige opvoedproblemen met de eerdere kinderen. Graag advies op maat (pretest LS+2?)."
* contained[0] = example-consult-fact-age
* contained[1] = example-consult-fact-child-age
* contained[2] = example-consult-fact-problems
* supportingInfo[0] = Reference(example-consult-fact-age)
* supportingInfo[1] = Reference(example-consult-fact-child-age)
* supportingInfo[2] = Reference(example-consult-fact-problems)

Instance: example-consult-task
InstanceOf: VoorZorgConsultTask
Usage: #example
Title: "Example VoorZorg Consult task"
Description: "The closed-loop Task of example-consult-request, owned by VoorZorg Consult."
* status = #requested
* intent = #order
* code = VoorZorgReferralItem#voorzorg-consult-request
* focus = Reference(example-consult-request)
* for = Reference(example-client-2)
* authoredOn = "2025-06-03"
* requester = Reference(example-jgz-organization)
* owner = Reference(example-voorzorg-consult-organization)
