#!/usr/bin/env node
// Repackage the conformance resources of the npm package `hl7.fhir.r4.examples@4.0.1`
// (the full R4 build output: base StructureDefinitions with snapshots, CodeSystems,
// ValueSets, SearchParameters, ...) as the FHIR package `hl7.fhir.r4.core#4.0.1` in the
// local FHIR package cache, so that SUSHI resolves its core dependency without
// contacting a FHIR package registry.
//
// Usage: node repackage-core.js <source-dir> <fhir-packages-dir>
//   <source-dir>        node_modules/hl7.fhir.r4.examples (or its package/ subfolder)
//   <fhir-packages-dir> usually ~/.fhir/packages
'use strict';
const fs = require('fs');
const path = require('path');

const CORE_NAME = 'hl7.fhir.r4.core';
const CORE_VERSION = '4.0.1';
// Marker written last; its presence means a complete, usable repackaged core.
const MARKER = '.voorzorg-repackaged';
// Resource types that make up the real hl7.fhir.r4.core package (definitions, not examples).
const KEEP = new Set([
  'StructureDefinition', 'CodeSystem', 'ValueSet', 'SearchParameter', 'OperationDefinition',
  'ConceptMap', 'CompartmentDefinition', 'CapabilityStatement', 'NamingSystem'
]);

function main() {
  const [srcArg, cacheArg] = process.argv.slice(2);
  if (!srcArg || !cacheArg) {
    console.error('usage: repackage-core.js <source-dir> <fhir-packages-dir>');
    process.exit(2);
  }
  let src = path.resolve(srcArg);
  // npm unpacks the tarball's package/ folder into the module root; accept either layout.
  if (fs.existsSync(path.join(src, 'package', 'package.json'))) src = path.join(src, 'package');
  const srcPkg = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8'));
  if (srcPkg.name !== 'hl7.fhir.r4.examples' || srcPkg.version !== CORE_VERSION) {
    console.error(`expected hl7.fhir.r4.examples@${CORE_VERSION} in ${src}, found ${srcPkg.name}@${srcPkg.version}`);
    process.exit(1);
  }

  const target = path.join(path.resolve(cacheArg), `${CORE_NAME}#${CORE_VERSION}`);
  const targetPkg = path.join(target, 'package');
  if (fs.existsSync(path.join(targetPkg, MARKER))) {
    console.log(`${CORE_NAME}#${CORE_VERSION} already in ${target} (repackaged); nothing to do`);
    return;
  }
  if (fs.existsSync(path.join(targetPkg, 'package.json')) && fs.existsSync(path.join(targetPkg, '.index.json'))) {
    const existing = JSON.parse(fs.readFileSync(path.join(targetPkg, 'package.json'), 'utf8'));
    if (existing.name === CORE_NAME && existing.version === CORE_VERSION) {
      console.log(`${CORE_NAME}#${CORE_VERSION} already in ${target} (not ours); leaving it alone`);
      return;
    }
  }

  // Build in a sibling temp folder, then rename: a half-written cache entry is never visible.
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(target), `.${CORE_NAME}-tmp-`));
  const tmpPkg = path.join(tmp, 'package');
  fs.mkdirSync(tmpPkg);

  const files = [];
  for (const name of fs.readdirSync(src).sort()) {
    if (!name.endsWith('.json') || name === 'package.json' || name.startsWith('.')) continue;
    let res;
    try {
      res = JSON.parse(fs.readFileSync(path.join(src, name), 'utf8'));
    } catch (e) {
      continue;
    }
    if (!res || !KEEP.has(res.resourceType)) continue;
    fs.copyFileSync(path.join(src, name), path.join(tmpPkg, name));
    const entry = { filename: name, resourceType: res.resourceType, id: res.id };
    for (const k of ['url', 'version', 'kind', 'type']) {
      if (res[k] !== undefined) entry[k] = res[k];
    }
    if (res.resourceType === 'StructureDefinition' && res.derivation) entry.derivation = res.derivation;
    if (res.resourceType === 'CodeSystem' && res.content) entry.content = res.content;
    files.push(entry);
  }

  const pkg = {
    name: CORE_NAME,
    version: CORE_VERSION,
    tools_version: 3,
    type: 'Core',
    date: '20191030123000',
    license: 'CC0-1.0',
    canonical: 'http://hl7.org/fhir',
    url: 'http://hl7.org/fhir/R4',
    title: 'FHIR Core package',
    description: `FHIR Core package - the NPM package that contains all the definitions for the base FHIR specification (repackaged locally from hl7.fhir.r4.examples@${CORE_VERSION})`,
    fhirVersions: [CORE_VERSION],
    dependencies: {},
    author: 'HL7 Inc',
    jurisdiction: 'http://unstats.un.org/unsd/methods/m49/m49.htm#001'
  };
  fs.writeFileSync(path.join(tmpPkg, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  fs.writeFileSync(path.join(tmpPkg, '.index.json'), JSON.stringify({ 'index-version': 1, files }, null, 1) + '\n');
  fs.writeFileSync(path.join(tmpPkg, MARKER), `repackaged from hl7.fhir.r4.examples@${CORE_VERSION}\n`);

  if (fs.existsSync(target)) fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(tmp, target);
  console.log(`repackaged ${files.length} conformance resources as ${CORE_NAME}#${CORE_VERSION} in ${target}`);
}

main();
