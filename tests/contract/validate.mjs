// The checking half of the API contract test: every response that a real trumand gave in
// tests/integration/contract_test.cpp (build/contract-responses.json) must be one that
// openapi.yaml documents, and its body must validate against the documented schema.
//
//   node validate.mjs --tools DIR openapi.yaml contract-responses.json
//   node validate.mjs --tools DIR --expect-problems openapi.yaml bad-responses.json
//
// The second form is the validator's own test: every response in bad-responses.json breaks
// the contract in one way, and the validator must report a problem containing its
// expect_problem text (a validator that accepts everything would pass the first form).
// DIR holds the pinned node_modules (tests/contract/install-tools.sh). For each response:
// - the path template and method name an operation, and the status is one of its responses,
//   listed by number: `default` documents errors in general but is no license for a status the
//   document never mentions;
// - a documented body has the documented media type (parameters such as charset aside), a
//   204-style response without content has no body;
// - JSON bodies validate against the schema, NDJSON streams line by line, text bodies as a
//   string; OpenAPI 3.0 schemas become JSON Schema draft 4 through
//   @openapi-contrib/openapi-schema-to-json-schema (nullable and the OpenAPI-only keywords);
// - objects may carry only documented properties: the document leaves additionalProperties
//   open so that the API can grow, but a field the server sends today must be documented;
// - a method the path does not have must be a 405 whose Allow header lists exactly the
//   documented methods, a path the API does not have a 404, both with an Error body.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const args = process.argv.slice(2);
const expectProblems = args.includes("--expect-problems");
const toolsAt = args.indexOf("--tools");
const files = args.filter((a, i) => !a.startsWith("--") && i !== toolsAt + 1);
if (toolsAt < 0 || files.length !== 2) {
  console.error("usage: validate.mjs --tools DIR [--expect-problems] openapi.yaml responses.json");
  process.exit(2);
}
const tools = args[toolsAt + 1];
const [specPath, responsesPath] = files;

// The pinned packages live in the build tree, not beside this script.
const require = createRequire(resolve(tools, "package.json"));
const yaml = require("js-yaml");
const Ajv = require("ajv-draft-04");
const addFormats = require("ajv-formats");
const { openapiSchemaToJsonSchema } = require("@openapi-contrib/openapi-schema-to-json-schema");

const spec = yaml.load(readFileSync(specPath, "utf8"));
const responses = JSON.parse(readFileSync(responsesPath, "utf8"));
const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// Inlines local $refs ("#/components/..."); the converter does not follow them.
function deref(node, seen = []) {
  if (Array.isArray(node)) return node.map((n) => deref(n, seen));
  if (node === null || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    if (!node.$ref.startsWith("#/")) throw new Error(`only local $refs are supported: ${node.$ref}`);
    if (seen.includes(node.$ref)) throw new Error(`recursive $ref ${node.$ref}`);
    let target = spec;
    for (const part of node.$ref.slice(2).split("/"))
      target = target[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    if (target === undefined) throw new Error(`dangling $ref ${node.$ref}`);
    return deref(target, [...seen, node.$ref]);
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = deref(v, seen);
  return out;
}

function closeObjects(schema) {
  if (Array.isArray(schema)) return schema.forEach(closeObjects);
  if (schema === null || typeof schema !== "object") return;
  if (schema.properties && schema.additionalProperties === undefined)
    schema.additionalProperties = false;
  for (const v of Object.values(schema)) closeObjects(v);
}

const compiled = new Map();
function validatorFor(openapiSchema) {
  if (!compiled.has(openapiSchema)) {
    const schema = openapiSchemaToJsonSchema(deref(openapiSchema));
    closeObjects(schema);
    compiled.set(openapiSchema, ajv.compile(schema));
  }
  return compiled.get(openapiSchema);
}

const baseMediaType = (t) => t.split(";")[0].trim().toLowerCase();

// Returns the problems with one recorded response (empty when it keeps the contract).
function check(r) {
  const problems = [];
  const method = r.method.toLowerCase();
  const pathItem = r.path === "" ? undefined : spec.paths[r.path];
  let documented;
  if (r.path !== "" && !pathItem) return [`path ${r.path} is not in openapi.yaml`];
  if (!pathItem) {
    if (r.status !== 404) problems.push(`an unknown path answered ${r.status}, not 404`);
    documented = { content: { "application/json": { schema: spec.components.schemas.Error } } };
  } else if (!pathItem[method]) {
    if (r.status !== 405) problems.push(`an undocumented method answered ${r.status}, not 405`);
    const want = METHODS.filter((m) => pathItem[m]).map((m) => m.toUpperCase()).sort();
    const allow = r.allow.split(",").map((m) => m.trim()).filter(Boolean).sort();
    if (want.join(",") !== allow.join(","))
      problems.push(`Allow: "${r.allow}", documented methods: ${want.join(", ")}`);
    documented = { content: { "application/json": { schema: spec.components.schemas.Error } } };
  } else {
    documented = deref(pathItem[method].responses[String(r.status)] ?? null);
    if (!documented) return [`status ${r.status} is not documented for this operation`];
  }

  const content = documented.content ?? {};
  if (Object.keys(content).length === 0) {
    if (r.body !== "") problems.push(`no body is documented, but one came: ${r.body.slice(0, 200)}`);
    return problems;
  }
  const mediaType = baseMediaType(r.content_type);
  const key = Object.keys(content).find((k) => baseMediaType(k) === mediaType);
  if (!key) {
    const listed = Object.keys(content).join(", ");
    return [...problems, `Content-Type "${r.content_type}" is not documented (${listed})`];
  }
  const validate = validatorFor(content[key].schema ?? {});
  const values = [];
  try {
    if (mediaType === "application/json") {
      values.push(JSON.parse(r.body));
    } else if (mediaType === "application/x-ndjson") {
      if (r.body !== "" && !r.body.endsWith("\n")) problems.push("the stream's last line has no newline");
      for (const line of r.body.split("\n").filter((l) => l !== "")) values.push(JSON.parse(line));
    } else {
      values.push(r.body);
    }
  } catch (e) {
    return [...problems, `the body is not ${mediaType}: ${e.message}`];
  }
  for (const v of values)
    if (!validate(v))
      problems.push(`${ajv.errorsText(validate.errors)} in ${JSON.stringify(v).slice(0, 300)}`);
  return problems;
}

function problemsOf(r) {
  try {
    return check(r);
  } catch (e) {
    return [`validator error: ${e.stack}`];
  }
}

let failed = 0;
if (expectProblems) {
  for (const r of responses) {
    const name = `${r.method} ${r.path} -> ${r.status} (${r.expect_problem})`;
    const problems = problemsOf(r);
    if (problems.some((p) => p.includes(r.expect_problem))) {
      console.log(`ok    ${name}`);
    } else {
      failed++;
      console.log(`FAIL  ${name}: not reported; got: ${JSON.stringify(problems)}`);
    }
  }
  console.log(`validator self-test: ${responses.length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 && responses.length > 0 ? 0 : 1);
}

const seen = new Set();
for (const r of responses) {
  const name = `${r.method} ${r.target} -> ${r.status}`;
  seen.add(`${r.method.toLowerCase()} ${r.path}`);
  const problems = problemsOf(r);
  if (problems.length === 0) {
    console.log(`ok    ${name}`);
  } else {
    failed++;
    for (const p of problems) console.log(`FAIL  ${name}: ${p}`);
  }
}
// Every documented operation must have been exercised, or the test proves less than it says.
for (const [path, item] of Object.entries(spec.paths))
  for (const m of METHODS)
    if (item[m] && !seen.has(`${m} ${path}`)) {
      failed++;
      console.log(`FAIL  ${m.toUpperCase()} ${path}: documented but never exercised`);
    }
console.log(`contract: ${responses.length} responses checked, ${failed} problems`);
process.exit(failed === 0 && responses.length > 0 ? 0 : 1);
