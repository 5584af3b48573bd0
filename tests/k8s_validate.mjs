// Validates Kubernetes manifests (the output of `helm template`) offline:
//  - every object against the OpenAPI schema of its kind: kubernetes-models (Kubernetes' own
//    schemas), @kubernetes-models/prometheus-operator and @kubernetes-models/cert-manager (the
//    CRDs' schemas); a kind none of them knows is an error;
//  - no field the schema does not define (the API server drops or refuses unknown fields; the
//    schemas do not say additionalProperties: false, so this script records which properties the
//    compiled validator reads and reports the others);
//  - the name rules the API server checks beyond the schema: object names (DNS-1123 subdomain;
//    DNS-1035 label for Services), label keys and values, container and port names.
//
// Usage: node tests/k8s_validate.mjs --modules DIR FILE...
//   DIR: the node_modules folder tools/install-deps.sh fills (.tools/node/node_modules).
// Prints one line per problem ("FILE: Kind/name: problem") and a summary; exits 1 on a problem,
// 2 on a usage or setup error.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function usage(message) {
  console.error(`k8s_validate: ${message}\nusage: node k8s_validate.mjs --modules DIR FILE...`);
  process.exit(2);
}

const args = process.argv.slice(2);
const modulesAt = args.indexOf("--modules");
if (modulesAt < 0 || modulesAt + 1 >= args.length) usage("--modules DIR is required");
const modules = args[modulesAt + 1];
const files = args.filter((_, i) => i !== modulesAt && i !== modulesAt + 1);
if (files.length === 0) usage("no manifest file given");

async function load(relative) {
  const path = join(modules, relative);
  try {
    return await import(pathToFileURL(path).href);
  } catch (error) {
    console.error(`k8s_validate: cannot load ${path}: ${error.message} (run tools/install-deps.sh)`);
    process.exit(2);
  }
}

const kubernetes = await load("kubernetes-models/index.js");
const prometheusOperator = await load("@kubernetes-models/prometheus-operator/index.js");
const certManager = await load("@kubernetes-models/cert-manager/index.js");
const yamlModule = await load("yaml/dist/index.js");
const YAML = yamlModule.default ?? yamlModule;

// "networking.k8s.io" -> "networkingK8sIo", the name each package exports a group under.
function groupKey(group) {
  return group.replace(/[.-]([a-z0-9])/g, (_, c) => c.toUpperCase());
}

// The model class of apiVersion + kind, or undefined.
function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  for (const pkg of [kubernetes, prometheusOperator, certManager]) {
    const versions = group === "" ? pkg : pkg[groupKey(group)];
    const model = versions?.[version]?.[kind];
    if (model && typeof model.prototype?.validate === "function") return model;
  }
  return undefined;
}

// A deep copy of `value` whose objects record which properties are read. `records` receives
// one entry per object: its path, its keys, the keys read, and whether its keys were enumerated
// (a map, such as labels, whose keys the schema does not name).
function tracked(value, path, records) {
  if (Array.isArray(value)) {
    return value.map((item, i) => tracked(item, `${path}/${i}`, records));
  }
  if (value === null || typeof value !== "object") return value;
  const record = { path, keys: Object.keys(value), read: new Set(), enumerated: false };
  records.push(record);
  const copy = {};
  for (const key of record.keys) copy[key] = tracked(value[key], `${path}/${key}`, records);
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") record.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") record.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const labelName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const portName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkLabels(labels, where, problems) {
  for (const [key, value] of Object.entries(labels ?? {})) {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : "";
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (prefix && (prefix.length > 253 || !dns1123Subdomain.test(prefix))) {
      problems.push(`${where}: label key ${key}: bad prefix`);
    }
    if (name.length > 63 || !labelName.test(name)) problems.push(`${where}: label key ${key}: bad name`);
    if (typeof value !== "string" || value.length > 63 || !labelValue.test(value)) {
      problems.push(`${where}: label ${key}: bad value ${JSON.stringify(value)}`);
    }
  }
}

// The pod template of a workload, if it has one.
function podSpecOf(object) {
  return object.spec?.template?.spec;
}

// API server rules beyond the schema.
function checkNames(object, problems) {
  const name = object.metadata?.name ?? "";
  if (name.length > 253 || !dns1123Subdomain.test(name)) {
    problems.push(`metadata.name ${JSON.stringify(name)}: not a DNS-1123 subdomain`);
  }
  if (object.kind === "Service" && (name.length > 63 || !dns1035Label.test(name))) {
    problems.push(`metadata.name ${JSON.stringify(name)}: a Service name must be a DNS-1035 label (63 at most)`);
  }
  if (object.kind === "StatefulSet" && name.length > 52) {
    // The controller-revision-hash label value is <name>-<10 characters>.
    problems.push(`metadata.name ${JSON.stringify(name)}: longer than 52 characters`);
  }
  checkLabels(object.metadata?.labels, "metadata.labels", problems);
  checkLabels(object.spec?.template?.metadata?.labels, "spec.template.metadata.labels", problems);
  const pod = podSpecOf(object);
  if (!pod) return;
  const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
  const seen = new Set();
  for (const container of containers) {
    if (!dns1123Label.test(container.name ?? "") || container.name.length > 63) {
      problems.push(`container name ${JSON.stringify(container.name)}: not a DNS-1123 label`);
    }
    if (seen.has(container.name)) problems.push(`container name ${container.name}: used twice`);
    seen.add(container.name);
    for (const port of container.ports ?? []) {
      if (port.name !== undefined && (port.name.length > 15 || !portName.test(port.name))) {
        problems.push(`container ${container.name}: port name ${JSON.stringify(port.name)}: at most 15 lowercase letters, digits, '-'`);
      }
    }
  }
  const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
  for (const template of object.spec?.volumeClaimTemplates ?? []) volumes.add(template.metadata?.name);
  for (const container of containers) {
    for (const mount of container.volumeMounts ?? []) {
      if (!volumes.has(mount.name)) {
        problems.push(`container ${container.name}: volumeMount ${mount.name}: no such volume`);
      }
    }
  }
}

let failures = 0;
let objects = 0;
const counts = new Map();
for (const file of files) {
  let documents;
  try {
    documents = YAML.parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" });
  } catch (error) {
    console.error(`k8s_validate: ${file}: ${error.message}`);
    process.exit(2);
  }
  for (const document of documents) {
    if (document.errors.length > 0) {
      console.log(`${file}: YAML: ${document.errors.map((e) => e.message).join("; ")}`);
      ++failures;
      continue;
    }
    const object = document.toJS();
    if (object === null || object === undefined) continue;
    ++objects;
    const id = `${object.kind}/${object.metadata?.name}`;
    const problems = [];
    const model = typeof object.apiVersion === "string" && modelOf(object.apiVersion, object.kind);
    if (!model) {
      problems.push(`no schema for apiVersion ${object.apiVersion} kind ${object.kind}`);
    } else {
      const records = [];
      const proxy = tracked(object, "", records);
      try {
        model.prototype.validate.call(proxy);
      } catch (error) {
        problems.push(`schema: ${error.message}`);
      }
      const unknown = [];  // reported once, not again for the fields below them
      for (const record of records) {
        if (record.enumerated) continue;
        if (unknown.some((p) => record.path === p || record.path.startsWith(`${p}/`))) continue;
        for (const key of record.keys) {
          if (record.read.has(key)) continue;
          unknown.push(`${record.path}/${key}`);
          problems.push(`unknown field ${record.path}/${key}`);
        }
      }
    }
    checkNames(object, problems);
    counts.set(object.kind, (counts.get(object.kind) ?? 0) + 1);
    for (const problem of problems) console.log(`${file}: ${id}: ${problem}`);
    if (problems.length > 0) ++failures;
  }
}
const summary = [...counts].map(([kind, n]) => `${n} ${kind}`).join(", ");
console.log(`k8s_validate: ${objects} objects (${summary}), ${failures} with problems`);
process.exit(failures > 0 ? 1 : 0);
