// VoorZorg Consult: what a consult request holds and what its answer gives back.
// Grounded in seed 002 ("Wat als ...", and its schematic summary): VoorZorg Consult gives advice on
// measure for a (felt) forced framework - it can still be VoorZorg, with clearly agreed evaluation
// moments for motivation and progress -, makes a pretest VoorZorg LS+2 possible for earlier children
// with serious parenting problems from 28 weeks, is the route when the nurse is not yet trained for
// VoorZorg 2 or Late Start, and can say that it is not VoorZorg.

CodeSystem: VoorZorgConsultAdvice
Id: voorzorg-consult-advice
Title: "VoorZorg Consult advice"
Description: "The advice VoorZorg Consult, the national expert team, gives on a consult request (Task.output advice of a voorzorg-consult-task). Accepting it makes the referral's new decision: each advice names the track the referral then follows."
* insert VZCodeSystem
* #start-voorzorg "Start VoorZorg" "Start regular VoorZorg, tailored as always; the track voorzorg."
* insert En(#start-voorzorg, Start VoorZorg)
* #start-voorzorg-with-evaluation-moments "Start VoorZorg met evaluatiemomenten" "Start VoorZorg with clearly agreed evaluation moments to gauge motivation and progress (a (felt) forced framework where the nurse senses the client's motivation can grow); the moments are given as dates (Task.output evaluation-moment). VoorZorg never monitors the safety of the family: a designated agency stays involved."
* insert En(#start-voorzorg-with-evaluation-moments, Start VoorZorg with evaluation moments)
* #start-voorzorg-2 "Start VoorZorg 2" "Start VoorZorg 2, regular VoorZorg with the modules on earlier children and parenting (also when the nurse is not yet trained for the module, with the support of VoorZorg Consult)."
* insert En(#start-voorzorg-2, Start VoorZorg 2)
* #start-late-start "Start VoorZorg Late Start" "Start VoorZorg Late Start, the condensed visits with a priority overview (also when the nurse is not yet trained for the module, with the support of VoorZorg Consult)."
* insert En(#start-late-start, Start VoorZorg Late Start)
* #pretest-late-start-plus-2 "Pretest VoorZorg LS+2" "Earlier children with serious parenting problems and 28 weeks or more pregnant (or born at most 6 weeks ago): start as a pretest LS+2, the condensed Late Start rhythm with the materials and knowledge of VoorZorg 2 and VoorZorg Late Start. The client is not part of the research."
* insert En(#pretest-late-start-plus-2, Pretest VoorZorg LS+2)
* #not-voorzorg "Geen VoorZorg" "Not VoorZorg; other support may fit, and the nurse can advise on the local options."
* insert En(#not-voorzorg, Not VoorZorg)

CodeSystem: VoorZorgConsultItem
Id: voorzorg-consult-item
Title: "VoorZorg Consult items"
Description: "The parts of a VoorZorg Consult request and its answer that no standard code names: facts of the situation (never the client's identity: an age, not a birth date) and the advice with its evaluation moments."
* insert VZCodeSystem
* #age-at-referral "Leeftijd bij aanmelding" "The client's age in whole years at the referral date (the consult team needs the age, never the birth date)."
* insert En(#age-at-referral, Age at the referral date)
* #child-age-at-referral "Leeftijd kind bij aanmelding" "When the child is already born: the child's age in days at the referral date."
* insert En(#child-age-at-referral, Child's age at the referral date)
* #voluntary-participation "Vrijwillige deelname" "Whether the client takes part voluntarily (true) or not (false), as the referral's Consent says."
* insert En(#voluntary-participation, Voluntary participation)
* #advice "Advies VoorZorg Consult" "The advice of VoorZorg Consult (a voorzorg-consult-advice code; the advice in words as text)."
* insert En(#advice, VoorZorg Consult advice)
* #evaluation-moment "Evaluatiemoment" "An agreed evaluation moment (a date) to gauge motivation and progress."
* insert En(#evaluation-moment, Evaluation moment)

ValueSet: VoorZorgConsultAdviceVS
Id: voorzorg-consult-advice
Title: "VoorZorg Consult advice"
Description: "All codes of the VoorZorg Consult advice code system."
* insert VZValueSet
* include codes from system VoorZorgConsultAdvice

ValueSet: VoorZorgConsultItemVS
Id: voorzorg-consult-item
Title: "VoorZorg Consult items"
Description: "All codes of the VoorZorg Consult item code system."
* insert VZValueSet
* include codes from system VoorZorgConsultItem

ValueSet: VoorZorgConsultTaskStatusVS
Id: voorzorg-consult-task-status
Title: "VoorZorg Consult task statuses"
Description: "The life cycle of a consult request: requested (by the JGZ); accepted, rejected or completed with the advice (by VoorZorg Consult); cancelled (by the JGZ, or by the adapter when the referral no longer needs the consult)."
* insert VZValueSet
* http://hl7.org/fhir/task-status#requested
* http://hl7.org/fhir/task-status#accepted
* http://hl7.org/fhir/task-status#rejected
* http://hl7.org/fhir/task-status#completed
* http://hl7.org/fhir/task-status#cancelled

Invariant: vz-consult-1
Description: "A completed consult request gives its advice (Task.output advice)."
Severity: #error
Expression: "status = 'completed' implies output.where(type.coding.where(system = 'https://fhir.voorzorg.nl/CodeSystem/voorzorg-consult-item' and code = 'advice').exists()).exists()"

Invariant: vz-consult-2
Description: "The advice to start VoorZorg with evaluation moments names at least one evaluation moment."
Severity: #error
Expression: "output.where(type.coding.where(code = 'advice').exists()).value.ofType(CodeableConcept).coding.where(code = 'start-voorzorg-with-evaluation-moments').exists() implies output.where(type.coding.where(code = 'evaluation-moment').exists()).exists()"

// ---- Examples ------------------------------------------------------------------------------

Instance: example-consult-fact-age
InstanceOf: Observation
Usage: #inline
* status = #final
* code = VoorZorgConsultItem#age-at-referral "Leeftijd bij aanmelding"
* effectiveDateTime = "2025-06-02"
* valueQuantity = $ucum#a "jaar"
* valueQuantity.value = 29

Instance: example-consult-fact-child-age
InstanceOf: Observation
Usage: #inline
* status = #final
* code = VoorZorgConsultItem#child-age-at-referral "Leeftijd kind bij aanmelding"
* effectiveDateTime = "2025-06-02"
* valueQuantity = $ucum#d "dagen"
* valueQuantity.value = 21

Instance: example-consult-fact-problems
InstanceOf: Observation
Usage: #inline
* status = #final
* code = VoorZorgReferralItem#serious-parenting-problems "Ernstige opvoedproblemen met eerdere kinderen"
* effectiveDateTime = "2025-06-02"
* valueBoolean = true

Instance: example-consult-task-completed
InstanceOf: VoorZorgConsultTask
Usage: #example
Title: "Example VoorZorg Consult task, answered"
Description: "example-consult-task after VoorZorg Consult answered: a pretest LS+2."
* status = #completed
* intent = #order
* code = VoorZorgReferralItem#voorzorg-consult-request
* focus = Reference(example-consult-request)
* basedOn = Reference(example-referral-2)
* for = Reference(example-client-2)
* authoredOn = "2025-06-03"
* lastModified = "2025-06-10T14:00:00+02:00"
* requester = Reference(example-jgz-organization)
* owner = Reference(example-voorzorg-consult-organization)
* output[advice].type = VoorZorgConsultItem#advice "Advies VoorZorg Consult"
* output[advice].valueCodeableConcept = VoorZorgConsultAdvice#pretest-late-start-plus-2 "Pretest VoorZorg LS+2"
* output[advice].valueCodeableConcept.text = "Start als pretest LS+2: het Late Start ritme, met de materialen van VoorZorg 2 en Late Start."
