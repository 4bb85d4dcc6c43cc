// The project's own code systems. Canonical: https://fhir.voorzorg.nl/CodeSystem/{id}
// The referral contract (v1) only ever ADDS codes: never rename or drop one.
// Displays are Dutch (language nl); each concept carries an English designation.

RuleSet: VZCodeSystem
* ^status = #draft
* ^experimental = false
* ^publisher = "VoorZorg adapter project"
* ^language = #nl
* ^caseSensitive = true
* ^content = #complete

RuleSet: En(code, text)
* {code} ^designation[+].language = #en
* {code} ^designation[=].value = "{text}"

CodeSystem: VoorZorgReferralItem
Id: voorzorg-referral-item
Title: "VoorZorg referral items"
Description: "What a referral to VoorZorg is about and the referrer's findings it carries: the referral itself, the situation assessments read by the eligibility decision, the request to VoorZorg Consult and the home visit."
* insert VZCodeSystem
* #voorzorg-referral "Verwijzing naar VoorZorg" "The referral of a pregnant woman (or a mother whose child was born at most 6 weeks ago) to the VoorZorg nurse home-visiting programme of the youth healthcare (JGZ)."
* insert En(#voorzorg-referral, VoorZorg referral)
* #very-vulnerable-situation "Zeer kwetsbare situatie" "The referrer's assessment that the (expectant) family is in a very vulnerable situation: a cumulation of social and psychosocial risk factors with protective factors that fall short."
* insert En(#very-vulnerable-situation, Very vulnerable situation)
* #serious-parenting-problems "Ernstige opvoedproblemen met eerdere kinderen" "There are, or were, serious parenting problems with the client's earlier children."
* insert En(#serious-parenting-problems, Serious parenting problems with earlier children)
* #forced-framework "(Ervaren) gedwongen kader" "A forced framework applies (for example a child protection measure), or the client experiences her situation as one (a felt forced framework). Both are recorded as this code with value true."
* insert En(#forced-framework, Forced framework (also a felt forced framework\))
* #voorzorg-consult-request "Consultvraag aan VoorZorg Consult" "A request for advice on measure to VoorZorg Consult, the national expert team, for a referral that falls outside the regular tracks."
* insert En(#voorzorg-consult-request, Request to VoorZorg Consult)
* #home-visit "Huisbezoek VoorZorg" "A home visit by a VoorZorg nurse as part of the programme."
* insert En(#home-visit, VoorZorg home visit)
* #intake-visit "Intakebezoek VoorZorg" "The nurse's first home visit (the intake): she confirms or corrects what the referral said, and the client says whether she takes part. Its findings outrank the referrer's; a client is enrolled on its date."
* insert En(#intake-visit, VoorZorg intake visit)
* #voluntary-participation "Vrijwillige deelname" "Participation is voluntary (value true) or not (false), as the nurse establishes it at the intake visit."
* insert En(#voluntary-participation, Voluntary participation)
* #takes-part "Doet mee aan VoorZorg" "The client's own yes (true) or no (false) to VoorZorg, at the intake visit."
* insert En(#takes-part, Client takes part)
* #voorzorg-programme "VoorZorg-traject" "The client's VoorZorg programme: from referral through enrolment (the first home visit) and the phases until it ends."
* insert En(#voorzorg-programme, VoorZorg programme)
* #live-born "Levend geboren" "The child was born alive (value true) or not (false: stillbirth), as the birth report says."
* insert En(#live-born, Live born)

CodeSystem: VoorZorgTrack
Id: voorzorg-track
Title: "VoorZorg tracks"
Description: "The track a referral leads to, as decided by the eligibility decision (and voorzorg-verder, the continuation after the regular programme)."
* insert VZCodeSystem
* #voorzorg "VoorZorg" "Regular VoorZorg: first child, referred before 28 weeks of pregnancy."
* insert En(#voorzorg, VoorZorg (regular\))
* #voorzorg-2 "VoorZorg 2" "Regular VoorZorg plus the modules on earlier children and parenting, for a woman with earlier children and serious parenting problems, referred before 28 weeks of pregnancy."
* insert En(#voorzorg-2, VoorZorg 2)
* #late-start "VoorZorg Late Start" "VoorZorg Late Start: condensed visits and a priority overview, for a first child referred from 28 weeks of pregnancy until 6 weeks after birth."
* insert En(#late-start, VoorZorg Late Start)
* #consult "VoorZorg Consult" "The question goes to VoorZorg Consult, the national expert team, for advice on measure."
* insert En(#consult, Referred to VoorZorg Consult)
* #not-eligible "Geen VoorZorg" "Not VoorZorg; other support may fit and the nurse can advise on local options."
* insert En(#not-eligible, Not eligible for VoorZorg)
* #incomplete "Verwijzing onvolledig" "The referral lacks data needed to decide; the missing items are named."
* insert En(#incomplete, Referral incomplete)
* #voorzorg-verder "VoorZorg Verder" "Continuation after the regular programme ends (child aged 2) while support is still needed. Not an intake track."
* insert En(#voorzorg-verder, VoorZorg continued)

CodeSystem: VoorZorgDecisionReason
Id: voorzorg-decision-reason
Title: "VoorZorg eligibility decision reasons"
Description: "Why the eligibility decision reached its track, or why a consult is required."
* insert VZCodeSystem
* #not-very-vulnerable "Geen zeer kwetsbare situatie" "The referrer did not assess the situation as very vulnerable; lighter JGZ support (the prenatal home visit, Stevig Ouderschap) may fit."
* insert En(#not-very-vulnerable, Not a very vulnerable situation)
* #child-older-than-6-weeks "Kind ouder dan 6 weken" "The child was born more than 6 weeks (42 days) before the referral date; home visits may still be offered, but it is not VoorZorg."
* insert En(#child-older-than-6-weeks, Child born more than 6 weeks ago)
* #forced-framework "(Ervaren) gedwongen kader of niet vrijwillig" "Participation is not voluntary, or there is a (felt) forced framework: VoorZorg Consult advises on measure; it can still become VoorZorg, with agreed evaluation moments."
* insert En(#forced-framework, Forced framework or not voluntary)
* #late-start-plus-2 "Late Start plus 2 (LS+2)" "Earlier children with serious parenting problems, referred from 28 weeks of pregnancy (or born at most 6 weeks ago): a pretest LS+2 is possible; the client is not part of the research."
* insert En(#late-start-plus-2, Late Start plus VoorZorg 2)
* #outside-criteria "Buiten de criteria" "Earlier children without serious parenting problems: outside the VoorZorg criteria; VoorZorg Consult advises."
* insert En(#outside-criteria, Outside the criteria)
* #nurse-not-trained "Verpleegkundige niet geschoold voor module" "The track needs an extra module (VoorZorg 2 or Late Start) for which the receiving organisation's nurses are not trained; the track stays and a consult is required."
* insert En(#nurse-not-trained, Nurse not trained for the module)
* #age-over-25 "Ouder dan 25 jaar" "First child, referred before 28 weeks, but the woman is older than 25 (26 or older) at the referral date: VoorZorg without extra modules, outside the proven-effective research population."
* insert En(#age-over-25, Older than 25)
* #missing-data "Ontbrekende gegevens" "Data needed for the decision is missing from the referral; each missing item is named."
* insert En(#missing-data, Missing data)

CodeSystem: VoorZorgEvidence
Id: voorzorg-evidence
Title: "VoorZorg evidence status"
Description: "The evidence status of the decided track for this client."
* insert VZCodeSystem
* #proven-effective "Bewezen effectief" "Within the research population for which VoorZorg is proven effective: first pregnancy (first child), referred before 28 weeks, voluntary, aged 25 or younger."
* insert En(#proven-effective, Proven effective)
* #under-research "In onderzoek" "A module whose effect is still being researched (VoorZorg 2, Late Start)."
* insert En(#under-research, Under research)

CodeSystem: VoorZorgTheme
Id: voorzorg-theme
Title: "VoorZorg themes (ontwikkelvelden)"
Description: "The nine themes (ontwikkelvelden) VoorZorg works on, as named by the national intervention database (Loket Gezond Leven, VoorZorg, recognised 2021). The nurse assesses each theme (Observation, profile voorzorg-theme-observation) and agrees goals per theme (Goal, profile voorzorg-theme-goal). Kept as data: the list may change; codes are only ever added."
* insert VZCodeSystem
* #ouderschap "Ouderschap" "Growing into parenthood: how the mother (and father) see and take up their role as parent, from pregnancy on."
* insert En(#ouderschap, Parenthood)
* #hechting "Hechting" "Attachment: the bond between parent and child, and the parent's sensitivity and responsiveness to the child's signals."
* insert En(#hechting, Attachment)
* #opvoedvaardigheden "Opvoedvaardigheden" "Parenting skills: caring for, stimulating and raising the child in line with its development."
* insert En(#opvoedvaardigheden, Parenting skills)
* #gezondheid "Gezondheid" "Health: the mother's physical and mental health and lifestyle during and after pregnancy (smoking, alcohol, drugs, nutrition), and the child's health and growth."
* insert En(#gezondheid, Health)
* #veiligheid "Veiligheid" "Safety of mother and child at home and in their surroundings, including domestic violence. VoorZorg never monitors safety: where it is at stake a designated agency stays involved."
* insert En(#veiligheid, Safety)
* #persoonlijke-ontwikkeling "Persoonlijke ontwikkeling" "Personal development of the mother: education, work, future plans, and planning a next pregnancy."
* insert En(#persoonlijke-ontwikkeling, Personal development)
* #financiele-stabiliteit "Financiële stabiliteit" "Financial stability of the family: income, debts, housing costs and the benefits the family is entitled to."
* insert En(#financiele-stabiliteit, Financial stability)
* #relatie-partner-familie "Relatie met partner en familie" "The relationship with the partner and family, and the social network the family can rely on."
* insert En(#relatie-partner-familie, Relationship with partner and family)
* #gemeenschapsvoorzieningen "Gebruik van gemeenschapsvoorzieningen" "Use of community services and facilities: knowing and using health care, youth and social services, and local provisions."
* insert En(#gemeenschapsvoorzieningen, Use of community services)

CodeSystem: VoorZorgThemeAssessment
Id: voorzorg-theme-assessment
Title: "VoorZorg theme assessment"
Description: "An ordinal concern scale for the nurse's assessment of a theme, from no concern (0) to acute concern (3). The property ordinalValue orders the codes: a lower value is better, so the trend of a theme (improved, unchanged, worsened) is computed by comparing ordinalValue, never from the codes themselves."
* insert VZCodeSystem
* ^property[0].code = #ordinalValue
* ^property[=].description = "Position on the ordinal concern scale: 0 = no concern .. 3 = acute concern; lower is better."
* ^property[=].type = #integer
* #no-concern "Geen zorgen" "No concern on this theme: the family manages it on its own strength."
* insert En(#no-concern, No concern)
* #no-concern ^property[0].code = #ordinalValue
* #no-concern ^property[0].valueInteger = 0
* #attention-needed "Aandacht nodig" "The theme needs attention in the visits, without being a priority of the plan."
* insert En(#attention-needed, Attention needed)
* #attention-needed ^property[0].code = #ordinalValue
* #attention-needed ^property[0].valueInteger = 1
* #concern "Zorgen" "There are concerns on this theme; it is a priority in the plan and has a goal."
* insert En(#concern, Concern)
* #concern ^property[0].code = #ordinalValue
* #concern ^property[0].valueInteger = 2
* #acute-concern "Acute zorgen" "Acute concern: act now; where safety is at stake a designated agency must be involved."
* insert En(#acute-concern, Acute concern)
* #acute-concern ^property[0].code = #ordinalValue
* #acute-concern ^property[0].valueInteger = 3

CodeSystem: VoorZorgThemeTrend
Id: voorzorg-theme-trend
Title: "VoorZorg theme trend"
Description: "How a theme developed since intake: the latest assessment compared with the first one on the ordinal concern scale (voorzorg-theme-assessment, property ordinalValue). Answered by Patient/$themes."
* insert VZCodeSystem
* #improved "Verbeterd" "The latest assessment shows less concern than the first one."
* insert En(#improved, Improved)
* #unchanged "Gelijk gebleven" "The latest assessment is on the same level of the scale as the first one."
* insert En(#unchanged, Unchanged)
* #worsened "Verslechterd" "The latest assessment shows more concern than the first one."
* insert En(#worsened, Worsened)
* #baseline-only "Alleen beginmeting" "The theme has been assessed once: there is no trend yet."
* insert En(#baseline-only, Baseline only)
