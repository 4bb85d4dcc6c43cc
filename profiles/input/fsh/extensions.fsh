// Extensions carrying the eligibility decision on a GuidanceResponse. They mirror the
// output parameters of $check-eligibility (see /work/shared/docs/referral-contract.md).

RuleSet: VZExtension
* ^status = #draft
* ^experimental = false
* ^publisher = "VoorZorg adapter project"
* ^context[0].type = #element
* ^context[0].expression = "GuidanceResponse"

Extension: VoorZorgTrackExtension
Id: voorzorg-track
Title: "VoorZorg track"
Description: "The track the eligibility decision reached (the `track` output parameter)."
* insert VZExtension
* value[x] 1..1
* value[x] only Coding
* value[x] from VoorZorgIntakeTrackVS (required)

Extension: VoorZorgEvidenceExtension
Id: voorzorg-evidence
Title: "VoorZorg evidence status"
Description: "The evidence status of the decided track for this client (the `evidence` output parameter)."
* insert VZExtension
* value[x] 1..1
* value[x] only Coding
* value[x] from VoorZorgEvidenceVS (required)

Extension: VoorZorgConsultRequiredExtension
Id: voorzorg-consult-required
Title: "VoorZorg Consult required"
Description: "Whether a VoorZorg Consult request must be made (the `consultRequired` output parameter)."
* insert VZExtension
* value[x] 1..1
* value[x] only boolean

Extension: VoorZorgMissingItemExtension
Id: voorzorg-missing-item
Title: "Missing referral item"
Description: "For an incomplete referral: one item the decision needs and the referral lacks, named (the `missing` output parameter)."
* insert VZExtension
* value[x] 1..1
* value[x] only string

Extension: VoorZorgGestationalAgeDaysExtension
Id: voorzorg-gestational-age-days
Title: "Gestational age in days at the referral date"
Description: "The gestational age, in days, the decision was computed on (the `gestationalAgeDays` output parameter)."
* insert VZExtension
* value[x] 1..1
* value[x] only integer

Extension: VoorZorgChildAgeDaysExtension
Id: voorzorg-child-age-days
Title: "Child's age in days at the referral date"
Description: "When the child is already born: the child's age, in days, the decision was computed on (the `childAgeDays` output parameter)."
* insert VZExtension
* value[x] 1..1
* value[x] only integer

Extension: VoorZorgConfirmAtIntakeExtension
Id: voorzorg-confirm-at-intake
Title: "Confirm at the intake visit"
Description: "A referral item the referrer did not report because it reports it only when it applies (a forced framework): none is known, the decision went on, and the nurse confirms it at the intake visit (the `confirmAtIntake` output parameter)."
* insert VZExtension
* value[x] 1..1
* value[x] only Coding
* value[x] from VoorZorgReferralItemVS (required)
