// Syntax-only verdicts for repoloom.corpus.frontends. stdin: {"typescript": module path,
// "files": [[mode, name, text], ...]}; stdout: [[verdict, message], ...].
// mode "ts": the TypeScript compiler API's syntactic diagnostics (parseDiagnostics).
// mode "js": V8 compiles the text as a script, then as an ES module (node --check, in process).
"use strict";
const vm = require("vm");
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const ts = require(request.typescript);
  const out = request.files.map(([mode, name, text]) => {
    if (mode === "ts") {
      const kind = name.toLowerCase().endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
      const sf = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, false, kind);
      const diags = sf.parseDiagnostics || [];
      if (diags.length === 0) return ["accept", "typescript " + ts.version];
      const d = diags[0];
      const line = sf.getLineAndCharacterOfPosition(d.start || 0).line + 1;
      return ["reject", `line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`];
    }
    const body = text.startsWith("#!") ? "//" + text.slice(2) : text;
    let scriptError;
    try {
      new vm.Script(body, { filename: name });
      return ["accept", "v8 script"];
    } catch (e) {
      scriptError = String(e.message);
    }
    try {
      new vm.SourceTextModule(body, { identifier: name });
      return ["accept", "v8 module"];
    } catch (e) {
      // JSX is part of the JavaScript grammar screened (tree-sitter-javascript); V8 lacks it.
      const sf = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.JSX);
      if ((sf.parseDiagnostics || []).length === 0) return ["accept", "typescript jsx"];
      return ["reject", `script: ${scriptError}; module: ${e.message}`.slice(0, 300)];
    }
  });
  process.stdout.write(JSON.stringify(out));
});
