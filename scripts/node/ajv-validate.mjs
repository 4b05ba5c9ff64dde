// Validate JSON documents against the factory's schemas with ajv, offline: every schema
// in the folder is added under its file name, which is how their relative $refs
// ("spec.schema.json#/$defs/owner") name each other. No network is ever asked.
//
//   node scripts/node/ajv-validate.mjs SCHEMA_DIR KIND DOC.json...   (KIND: spec, defaults, platform)
//
// Prints "<file> valid" or "<file> invalid" with ajv's errors; exits 1 if any is invalid.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [schemaDir, kind, ...docs] = process.argv.slice(2);
const ajv = new Ajv2020({ allErrors: true, strict: false, loadSchema: undefined });
addFormats(ajv);
for (const name of readdirSync(schemaDir).filter((n) => n.endsWith(".schema.json"))) {
  ajv.addSchema(JSON.parse(readFileSync(join(schemaDir, name), "utf8")), name);
}
const validate = ajv.getSchema(`${kind}.schema.json`);
let failed = 0;
for (const doc of docs) {
  if (validate(JSON.parse(readFileSync(doc, "utf8")))) {
    console.log(`${doc} valid`);
  } else {
    failed += 1;
    console.log(`${doc} invalid ${JSON.stringify(validate.errors)}`);
  }
}
process.exit(failed ? 1 : 0);
