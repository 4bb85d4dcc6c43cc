// Dutch identifier systems used by the profiles. These are national systems, described here as
// NamingSystems so the package is self-contained; the owners are the Dutch authorities named.

Instance: bsn
InstanceOf: NamingSystem
Usage: #definition
Title: "BSN"
Description: "Burgerservicenummer: the Dutch citizen service number, 9 digits passing the elfproef."
* name = "BSN"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "VoorZorg adapter project"
* responsible = "Rijksdienst voor Identiteitsgegevens (RvIG)"
* description = "Burgerservicenummer (BSN): the Dutch citizen service number. 9 digits (an 8-digit number is padded with a leading 0); 9a+8b+7c+6d+5e+4f+3g+2h-1i must be a multiple of 11 (the elfproef); all zeros is invalid."
* jurisdiction = urn:iso:std:iso:3166#NL "Netherlands"
* uniqueId[0].type = #uri
* uniqueId[=].value = "http://fhir.nl/fhir/NamingSystem/bsn"
* uniqueId[=].preferred = true
* uniqueId[+].type = #oid
* uniqueId[=].value = "2.16.840.1.113883.2.4.6.3"
* uniqueId[=].preferred = false

Instance: agb-z
InstanceOf: NamingSystem
Usage: #definition
Title: "AGB-Z"
Description: "AGB-Z: the Dutch healthcare provider code (Algemeen GegevensBeheer Zorgverleners)."
* name = "AGBZ"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "VoorZorg adapter project"
* responsible = "Vektis"
* description = "AGB code (Algemeen GegevensBeheer Zorgverleners): identifies Dutch healthcare providers and organisations, 8 digits."
* jurisdiction = urn:iso:std:iso:3166#NL "Netherlands"
* uniqueId[0].type = #uri
* uniqueId[=].value = "http://fhir.nl/fhir/NamingSystem/agb-z"
* uniqueId[=].preferred = true
* uniqueId[+].type = #oid
* uniqueId[=].value = "2.16.840.1.113883.2.4.6.1"
* uniqueId[=].preferred = false

Instance: ura
InstanceOf: NamingSystem
Usage: #definition
Title: "URA"
Description: "URA: the UZI register subscriber number of a Dutch healthcare organisation."
* name = "URA"
* status = #active
* kind = #identifier
* date = "2025-01-01"
* publisher = "VoorZorg adapter project"
* responsible = "CIBG (UZI-register)"
* description = "UZI Register Abonneenummer (URA): identifies a Dutch healthcare organisation subscribed to the UZI register."
* jurisdiction = urn:iso:std:iso:3166#NL "Netherlands"
* uniqueId[0].type = #uri
* uniqueId[=].value = "http://fhir.nl/fhir/NamingSystem/ura"
* uniqueId[=].preferred = true
* uniqueId[+].type = #oid
* uniqueId[=].value = "2.16.528.1.1007.3.3"
* uniqueId[=].preferred = false
