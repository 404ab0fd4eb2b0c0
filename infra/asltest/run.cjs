// Runs an ASL definition with aws-local-stepfunctions, every Task state
// answered by POSTing {state, function, payload} to ASL_INVOKE_URL (the Go
// test's Lambda stand-in), the way the lambda:invoke integration answers:
// {Payload, StatusCode, ExecutedVersion}, or an error named by the
// function's errorType. Prints one JSON line: {status, output | error, cause}.
// Usage: node run.cjs validate DEFINITION | node run.cjs run DEFINITION INPUT
"use strict";
// aws-local-stepfunctions 3.0.0 declares Node 22; Node 20 lacks only this.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");
const tools = createRequire(path.join(process.env.ASL_TOOLS, "package.json"));
const [mode, defPath, inputPath] = process.argv.slice(2);
const definition = JSON.parse(fs.readFileSync(defPath, "utf8"));

function out(v) { process.stdout.write(JSON.stringify(v) + "\n"); }

if (mode === "validate") {
  const { isValid, errorsText } = tools("asl-validator")(definition);
  out(isValid ? { status: "VALID" } : { status: "INVALID", error: errorsText("\n") });
  process.exit(0);
}

function tasks(states, names) {
  for (const [name, s] of Object.entries(states)) {
    if (s.Type === "Task") names.push(name);
    const inner = s.ItemProcessor || s.Iterator;
    if (inner) tasks(inner.States, names);
    for (const b of s.Branches || []) tasks(b.States, names);
  }
  return names;
}

const handlers = {}, retries = {};
for (const name of tasks(definition.States, [])) {
  retries[name] = 0; // retry at once: the attempts count, not the waits
  handlers[name] = async (input) => {
    const r = await fetch(process.env.ASL_INVOKE_URL, {
      method: "POST",
      body: JSON.stringify({ state: name, function: input.FunctionName, payload: input.Payload }),
    });
    const body = await r.json();
    if (body.errorType) {
      const e = new Error(body.errorMessage);
      e.name = body.errorType;
      throw e;
    }
    return body;
  };
}

(async () => {
  const { StateMachine } = tools("aws-local-stepfunctions");
  const input = JSON.parse(fs.readFileSync(inputPath, "utf8"));
  // Validated separately with asl-validator 4 (mode validate); the engine's
  // own older validator does not know every Distributed Map field.
  const sm = new StateMachine(definition, { validationOptions: { noValidate: true } });
  const execution = sm.run(input, { overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: retries } });
  try {
    out({ status: "SUCCEEDED", output: await execution.result });
  } catch (e) {
    const c = e.cause instanceof Error ? e.cause : e; // ExecutionError wraps the state's error
    out({ status: "FAILED", error: c.name, cause: c.message });
  }
})();
