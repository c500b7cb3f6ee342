#!/usr/bin/env node
// Builds a Lambda-style JavaScript function into a WebAssembly component of the world `wasmfaas:function/text-handler`.
//
//   node build.mjs --source-dir DIR --handler index.handler --wit ../../wit/wasmfaas.wit --out function.wasm
//
// Steps: find the handler's file as Lambda's Node.js runtime does (index.js, index.mjs, index.cjs); bundle it and
// everything it imports from the source dir (and its node_modules) into one ES module with esbuild; wrap that bundle
// in a function so that the user's module-level code runs in the component's `init` (a cold start) rather than at
// build time; generate an entry that hands it to bootstrap.js; componentize the entry with componentize-js against a
// world that is ours plus `wasi:cli/environment` (for process.env). Failures print one message to stderr and exit 1.

import { builtinModules } from 'node:module';
import { copyFile, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// Real paths: esbuild reports resolved paths, and the guard compares against these.
const HERE = await realpath(dirname(fileURLToPath(import.meta.url)));
// The runtime's own packages (the buffer polyfill's dependencies), wherever they really are: node_modules may be a
// symlink (a shared install, pnpm).
const RUNTIME_MODULES = await realpath(join(HERE, 'node_modules')).catch(() => join(HERE, 'node_modules'));
const HANDLER_EXTENSIONS = ['.js', '.mjs', '.cjs'];
const USER_FILE = 'user.js';
const ENTRY_FILE = 'entry.js';
const WASI_ENV_WIT = `package wasi:cli@0.2.12;

interface environment {
  get-environment: func() -> list<tuple<string, string>>;
}
`;

class BuildFailure extends Error {}

function fail(message) {
  throw new BuildFailure(message);
}

// What is wrong with the function's own code (no handler file, a syntax error, an import that does not resolve) is
// not the build's failure: Lambda takes such code and fails every cold start with Lambda's error, and so does the
// component built instead (see failingModule), so that the handler and the code can be changed in either order.
class UserCodeError extends BuildFailure {
  constructor(errorType, errorMessage) {
    super(`${errorType}: ${errorMessage}`);
    this.errorType = errorType;
    this.errorMessage = errorMessage;
  }
}

function userCodeError(errorType, message) {
  throw new UserCodeError(errorType, message);
}

// The user bundle of a function whose code cannot load: its init throws Lambda's error.
function failingModule(failure) {
  return [
    `const error = new Error(${JSON.stringify(failure.errorMessage)});`,
    `error.name = ${JSON.stringify(failure.errorType)};`,
    "error.stack = '';",
    'throw error;',
  ].join('\n');
}

function usage() {
  return 'usage: node build.mjs --source-dir DIR --handler FILE.EXPORT --wit WIT_FILE_OR_DIR --out OUT.wasm';
}

function parseCli(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'source-dir': { type: 'string' },
        handler: { type: 'string' },
        wit: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${e.message}\n${usage()}`);
  }
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    process.exit(0);
  }
  for (const name of ['source-dir', 'handler', 'wit', 'out']) {
    if (!values[name]) fail(`missing --${name}\n${usage()}`);
  }
  return values;
}

// Lambda's handler string: `path/to/module.export[.nested...]`; the module part is everything up to the first dot
// after the last slash.
function parseHandler(handler) {
  const slash = handler.lastIndexOf('/');
  const dot = handler.indexOf('.', slash + 1);
  const modulePath = dot === -1 ? '' : handler.slice(0, dot);
  const exportPath = dot === -1 ? [] : handler.slice(dot + 1).split('.');
  if (modulePath === '' || exportPath.length === 0 || exportPath.some((p) => p === '')) {
    fail(`Runtime.MalformedHandlerName: bad handler '${handler}': expected FILE.EXPORT, e.g. index.handler`);
  }
  if (isAbsolute(modulePath) || modulePath.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    fail(`Runtime.MalformedHandlerName: bad handler '${handler}': the file must be a relative path inside the source directory`);
  }
  return { modulePath, exportPath };
}

async function isFile(path) {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function findHandlerFile(sourceDir, modulePath) {
  for (const ext of HANDLER_EXTENSIONS) {
    const candidate = join(sourceDir, modulePath + ext);
    if (await isFile(candidate)) return candidate;
  }
  const tried = HANDLER_EXTENSIONS.map((ext) => modulePath + ext).join(', ');
  userCodeError('Runtime.ImportModuleError', `Error: Cannot find module '${modulePath}' (tried ${tried})`);
}

function formatEsbuildErrors(errors) {
  return errors
    .map((e) => {
      const where = e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ` : '';
      // esbuild's advice to "mark the path as external" is for its own users; a function's author can only ship
      // the package: that is what the note says instead.
      const kept = (e.notes || []).filter((n) => !/as external/.test(n.text)).map((n) => n.text);
      const bare = /^Could not resolve "([^./][^"]*)"/.exec(e.text);
      if (bare) {
        kept.push(`install it (npm install ${bare[1]}) and put node_modules in the deployment package`);
      }
      const notes = kept.map((text) => `\n  note: ${text}`).join('');
      const line = e.location && e.location.lineText ? `\n    ${e.location.lineText}` : '';
      return `${where}${e.text}${line}${notes}`;
    })
    .join('\n');
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
// Node's Buffer is everywhere in Lambda code (base64 bodies, binary payloads): buffer.js (the `buffer` package with
// native base64 and hex) stands in for `buffer`/`node:buffer` imports and, through esbuild's inject, for the global
// `Buffer`.
const BUFFER_MODULE = /^(node:)?buffer$/;
const BUFFER_SHIM = "export { Buffer } from 'buffer';\n";

// Keeps the bundle to what the cache key covers (the source dir, and this runtime's own files and packages) and
// explains what cannot work in the guest.
function guardPlugin(esbuild, rootReal, workDir) {
  const allowed = [rootReal, workDir, join(HERE, 'node_modules'), RUNTIME_MODULES];
  const inside = (path) => allowed.some((dir) => path === dir || path.startsWith(dir + sep));
  // Named as written, never by the host's path: the answer is the same whether such a file exists or not.
  const outside = (what) => ({
    errors: [{ text: `${JSON.stringify(what)} is outside the function's source directory; only files inside it are bundled` }],
  });
  return {
    name: 'wasmfaas-guard',
    setup(build) {
      build.onResolve({ filter: BUFFER_MODULE }, () => ({ path: bufferPackagePath() }));
      build.onResolve({ filter: /.*/ }, (args) => {
        if (NODE_BUILTINS.has(args.path) || args.path.startsWith('node:')) {
          // Not there: a module that throws Node's "Cannot find module" when it is loaded, so an optional
          // `try { require('crypto') } catch {}` (common in libraries) goes on, and an unconditional one fails init.
          return { path: args.path, namespace: 'wasmfaas-missing-builtin' };
        }
        // A path import (absolute, or relative out of the source): refused before it is looked up. An absolute
        // one must be in the function's own files (the runtime's packages are reached by name, not by host path).
        if (isAbsolute(args.path) && ![rootReal, workDir].some((dir) => args.path === dir || args.path.startsWith(dir + sep))) {
          return outside(args.path);
        }
        if (args.path.startsWith('.') && args.resolveDir && !inside(resolve(args.resolveDir, args.path))) {
          return outside(args.path);
        }
        return undefined;
      });
      build.onLoad({ filter: /.*/, namespace: 'wasmfaas-missing-builtin' }, (args) => ({
        loader: 'js',
        contents: [
          `const error = new Error(${JSON.stringify(`Cannot find module '${args.path}': Node.js built-in ` +
            'modules are not available (wasmfaas runs JavaScript on StarlingMonkey: web-platform APIs such as ' +
            'fetch, crypto, TextEncoder)')});`,
          "error.code = 'MODULE_NOT_FOUND';",
          'throw error;',
        ].join('\n'),
      }));
      build.onLoad({ filter: /.*/, namespace: 'file' }, async (args) => {
        if (args.path !== bufferPackagePath() && !inside(args.path)) {
          return outside(basename(args.path));  // reached through a symlink of a deployed folder
        }
        if (/\.[cm]?js$/.test(args.path) && (args.path === rootReal || args.path.startsWith(rootReal + sep))) {
          const rel = relative(rootReal, args.path).split(sep).join('/');
          return withModuleLocation(esbuild, args.path, await readFile(args.path, 'utf8'), rel);
        }
        return undefined;
      });
    },
  };
}

// Where a file of the function is on Lambda (/var/task/<path>): `import.meta.url` (StarlingMonkey has no module
// metadata for the bundled code: a read of it never returned), `import.meta.filename`/`dirname`, and, in CommonJS
// files (ESM has neither, in Node too), `__filename`/`__dirname`, given as constants by esbuild's `define`: on the
// syntax tree, so a mention in a string or comment, a property named `import`, or a name the file declares itself
// is left alone. Undefined when the file mentions none of them (it is loaded as it is).
const STATIC_MODULE_SYNTAX = /^\s*(?:import(?:\s+|\s*[{*'"])|export\s)/m;

async function withModuleLocation(esbuild, path, text, rel) {
  const mentionsMeta = text.includes('import.meta');
  const mentionsDirname = /\b__(dirname|filename)\b/.test(text);
  if (!mentionsMeta && !mentionsDirname) return undefined;
  const filename = `/var/task/${rel}`;
  const place = { filename: JSON.stringify(filename), dirname: JSON.stringify(dirname(filename)) };
  const url = JSON.stringify(pathToFileURL(filename).href);
  const define = {};
  if (mentionsMeta) {
    Object.assign(define, {
      'import.meta.url': url,
      'import.meta.filename': place.filename,
      'import.meta.dirname': place.dirname,
      'import.meta': `{"url":${url},"filename":${place.filename},"dirname":${place.dirname}}`,
    });
  }
  const esm = rel.endsWith('.mjs') || (!rel.endsWith('.cjs') && STATIC_MODULE_SYNTAX.test(text));
  if (mentionsDirname && !esm) Object.assign(define, { __dirname: place.dirname, __filename: place.filename });
  if (Object.keys(define).length === 0) return undefined;
  try {
    // Source map inline: the bundle's map goes on through it to the file as written.
    const out = await esbuild.transform(text, { loader: 'js', sourcefile: path, sourcemap: 'inline', define, logLevel: 'silent' });
    return { contents: out.code, loader: 'js' };
  } catch {
    return undefined;  // not plain JavaScript (or broken): the bundler loads it as it is, and reports what is wrong
  }
}

function bufferPackagePath() {
  return join(HERE, 'buffer.js');
}

async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch (e) {
    fail(`cannot load esbuild (${e.message}); run \`npm ci --prefix runtimes/js\``);
  }
}

async function loadComponentize() {
  try {
    return await import('@bytecodealliance/componentize-js');
  } catch (e) {
    fail(`cannot load @bytecodealliance/componentize-js (${e.message}); run \`npm ci --prefix runtimes/js\``);
  }
}

// ESM or CommonJS decides what the handler is looked up in (the module namespace, or module.exports).
async function inspectHandlerFile(esbuild, rootReal, handlerFile) {
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [handlerFile],
      absWorkingDir: rootReal,
      bundle: false,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'neutral',
      outfile: join(rootReal, '__wasmfaas_probe.js'),
      logLevel: 'silent',
    });
  } catch (e) {
    userCodeError('Runtime.UserCodeSyntaxError', formatEsbuildErrors(e.errors || [{ text: e.message }]));
  }
  const rel = relative(rootReal, handlerFile).split(sep).join('/');
  const input = result.metafile.inputs[rel];
  const isEsm = (input && input.format === 'esm') || handlerFile.endsWith('.mjs');
  // A module that exports no handler (or nothing: neither import/export nor exports/module) is loaded all the same,
  // and init answers Runtime.HandlerNotFound, as Lambda's runtime does.
  return isEsm ? 'esm' : 'cjs';
}

async function bundle(esbuild, rootReal, handlerFile, moduleFormat, workDir) {
  const spec = JSON.stringify(`./${relative(rootReal, handlerFile).split(sep).join('/')}`);
  // A module with no exports of its own: esbuild's output is then plain statements, which can be wrapped in a
  // function. `require` gives module.exports for CommonJS, as Lambda's runtime loads a .js/.cjs handler.
  const entry = moduleFormat === 'esm'
    ? `import * as mod from ${spec};\n__wasmfaas_register(mod);\n`
    : `__wasmfaas_register(require(${spec}));\n`;
  const bufferShim = join(workDir, 'wasmfaas-buffer-shim.js');
  await writeFile(bufferShim, BUFFER_SHIM);
  const run = async (inject) => {
    try {
      return await esbuild.build({
        stdin: { contents: entry, resolveDir: rootReal, sourcefile: '<wasmfaas-entry>', loader: 'js' },
        absWorkingDir: rootReal,
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'neutral',
        mainFields: ['module', 'main'],
        conditions: ['worker', 'browser'],
        // import() of what is not bundled (computed, or a missing package inside try/catch, which esbuild lets
        // through) would trap StarlingMonkey's instance: as a require, it rejects with Node's MODULE_NOT_FOUND
        // (the runtime's global require, see bootstrap.js).
        supported: { 'dynamic-import': false },
        outfile: join(workDir, USER_FILE),
        sourcemap: 'external',
        sourcesContent: false,
        logLevel: 'silent',
        inject,
        plugins: [guardPlugin(esbuild, rootReal, workDir)],
      });
    } catch (e) {
      const errors = e.errors || [{ text: e.message }];
      const unresolved = errors.some((error) => /^Could not resolve|is outside the function's source/.test(error.text));
      userCodeError(unresolved ? 'Runtime.ImportModuleError' : 'Runtime.UserCodeSyntaxError', formatEsbuildErrors(errors));
    }
  };
  let result = await run([]);
  let js = result.outputFiles.find((f) => f.path.endsWith('.js')).text;
  // The global Buffer costs ~350 kB of bundle and its evaluation at every cold start: only for code that names it
  // (a mention in a comment or string just brings it in needlessly).
  if (/\bBuffer\b/.test(js)) {
    result = await run([bufferShim]);
    js = result.outputFiles.find((f) => f.path.endsWith('.js')).text;
  }
  const map = JSON.parse(result.outputFiles.find((f) => f.path.endsWith('.map')).text);
  // Stack traces name the user's files relative to the source dir, and this runtime's as `wasmfaas:<path>`.
  const sources = map.sources.map((s) => {
    const abs = resolve(workDir, s);
    for (const [base, prefix] of [[rootReal, ''], [HERE, 'wasmfaas:'], [workDir, 'wasmfaas:']]) {
      const rel = relative(base, abs);
      if (!rel.startsWith('..') && !isAbsolute(rel)) return prefix + rel.split(sep).join('/');
    }
    return s;
  });
  return { js, sourceMap: { sources, mappings: map.mappings } };
}

// The world componentized against: ours, plus wasi:cli/environment for process.env (the engine imports only what it
// needs itself, and that is not among it). Still a valid wasmfaas component: it imports nothing but WASI 0.2.
async function prepareWit(witPath, workDir) {
  const witDir = join(workDir, 'wit');
  const ours = join(witDir, 'deps', 'wasmfaas-function');
  await mkdir(ours, { recursive: true });
  await mkdir(join(witDir, 'deps', 'wasi-cli-environment'), { recursive: true });
  let info;
  try {
    info = await stat(witPath);
  } catch {
    fail(`WIT path not found: ${witPath}`);
  }
  if (info.isDirectory()) {
    const names = (await readdir(witPath)).filter((n) => n.endsWith('.wit'));
    if (names.length === 0) fail(`no .wit files in ${witPath}`);
    for (const n of names) await copyFile(join(witPath, n), join(ours, n));
  } else {
    await copyFile(witPath, join(ours, basename(witPath)));
  }
  const ourText = (await Promise.all((await readdir(ours)).map((n) => readFile(join(ours, n), 'utf8')))).join('\n');
  const pkg = /^\s*package\s+([^;\s]+)\s*;/m.exec(ourText);
  if (!pkg) fail(`no package declaration in ${witPath}`);
  await writeFile(join(witDir, 'deps', 'wasi-cli-environment', 'environment.wit'), WASI_ENV_WIT);
  const [name, version] = pkg[1].split('@');
  const world = `${name}/text-handler${version ? `@${version}` : ''}`;
  await writeFile(
    join(witDir, 'js-runtime.wit'),
    `package wasmfaas:js-runtime;\n\nworld handler {\n  include ${world};\n  import wasi:cli/environment@0.2.12;\n}\n`,
  );
  return witDir;
}

// The component of one bundle: the user's code wrapped in `load`, the runtime's bootstrap, and componentize-js's
// pre-initialisation of both.
async function componentizeBundle(workDir, witPath, args, exportPath, js, sourceMap) {
  // Line 1 is the wrapper's header, so bundle line N is line N + 1 of user.js.
  await writeFile(
    join(workDir, USER_FILE),
    `export default async function __wasmfaas_load(__wasmfaas_register) {\n${js}\n}\n`,
  );
  await copyFile(join(HERE, 'bootstrap.js'), join(workDir, 'bootstrap.js'));
  const config = {
    handler: args.handler,
    exportPath,
    userFile: USER_FILE,
    lineOffset: 1,
    sourceMap,
  };
  await writeFile(
    join(workDir, ENTRY_FILE),
    [
      "import load from './user.js';",
      "import { createRuntime } from './bootstrap.js';",
      `const runtime = createRuntime(${JSON.stringify(config)}, load);`,
      'export const init = runtime.init;',
      'export const handle = runtime.handle;',
      '',
    ].join('\n'),
  );
  const witDir = await prepareWit(witPath, workDir);
  const { componentize } = await loadComponentize();
  // componentize-js maps the directory of the source (or the cwd, if the source is under it) as the guest's `/`
  // while pre-initialising; running from the work dir keeps that to our files, and stack paths short.
  process.chdir(workDir);
  try {
    const { component } = await componentize({
      sourcePath: join(workDir, ENTRY_FILE),
      witPath: witDir,
      worldName: 'handler',
      // No wasi:http: a function reaches nothing outside, and the host links only WASI's CLI-level interfaces.
      disableFeatures: ['http', 'fetch-event'],
    });
    return component;
  } catch (e) {
    fail(`componentize-js failed: ${e.message}`);
  } finally {
    process.chdir(HERE);
  }
}

async function main() {
  const args = parseCli(process.argv.slice(2));
  const sourceDir = resolve(args['source-dir']);
  let rootReal;
  try {
    rootReal = await realpath(sourceDir);
    if (!(await stat(rootReal)).isDirectory()) throw new Error('not a directory');
  } catch {
    fail(`source directory not found: ${sourceDir}`);
  }
  const { modulePath, exportPath } = parseHandler(args.handler);
  const outPath = resolve(args.out);
  const witPath = resolve(args.wit);
  const esbuild = await loadEsbuild();

  const workDir = await realpath(await mkdtemp(join(tmpdir(), 'wasmfaas-js-')));
  try {
    let js;
    let sourceMap;
    try {
      const handlerFile = await realpath(await findHandlerFile(rootReal, modulePath));
      const moduleFormat = await inspectHandlerFile(esbuild, rootReal, handlerFile);
      ({ js, sourceMap } = await bundle(esbuild, rootReal, handlerFile, moduleFormat, workDir));
    } catch (e) {
      if (!(e instanceof UserCodeError)) throw e;
      js = failingModule(e);
      sourceMap = { sources: [], mappings: '' };
    }
    let component;
    try {
      component = await componentizeBundle(workDir, witPath, args, exportPath, js, sourceMap);
    } catch (e) {
      // SpiderMonkey parses the bundle while pre-initialising it, and refuses what esbuild took (a regular
      // expression with \p{...}: this build has no ICU): the code's fault, so each cold start fails with it, as
      // for a syntax error esbuild finds.
      const syntax = /SyntaxError: .*/.exec(e instanceof BuildFailure ? e.message : '');
      if (!syntax) throw e;
      const failure = new UserCodeError('Runtime.UserCodeSyntaxError', syntax[0]);
      component = await componentizeBundle(workDir, witPath, args, exportPath, failingModule(failure), {
        sources: [],
        mappings: '',
      });
    }
    await mkdir(dirname(outPath), { recursive: true });
    await writeFile(outPath, component);
  } finally {
    process.chdir(HERE);
    await rm(workDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (e) {
  if (e instanceof BuildFailure) {
    process.stderr.write(`${e.message}\n`);
  } else {
    process.stderr.write(`internal error in the wasmfaas JS builder: ${e && e.stack ? e.stack : e}\n`);
  }
  process.exit(1);
}
