import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Language, Node, Parser, Tree } from 'web-tree-sitter';
import type { ElementKind, RelationKind } from '../entities';
import { LanguageSpec, languageOf } from './languages';

export const ANALYZER_TOOL = 'strata-tree-sitter';
export const ANALYZER_VERSION = '0.1.0';

/** Files larger than this are hashed and line-counted but not parsed (generated bundles, data). */
export const DEFAULT_MAX_PARSE_BYTES = 1024 * 1024;

export interface LineCounts {
  physical: number;
  /** Lines with code (a multi-line string counts as code). */
  source: number;
  /** Lines with a comment and no code. */
  comment: number;
  blank: number;
}

export interface AnalyzedElement {
  kind: ElementKind;
  name: string;
  qualifiedName: string;
  /** Index of the enclosing element in `elements`, or null at the top level. */
  parent: number | null;
  /** 1-based lines, 0-based columns, end inclusive of the element's last character's line. */
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
  /** Cyclomatic complexity (decisions + 1) for functions and methods, else null. */
  complexity: number | null;
  parameterCount: number | null;
  exported: boolean;
}

export interface AnalyzedRelation {
  kind: RelationKind;
  /** Index of the element the relation sits in, or null at module level. */
  source: number | null;
  /** As written: callee, base type or import specifier. */
  targetName: string;
  line: number;
}

export interface FileAnalysisResult {
  path: string;
  language: string | null;
  sizeBytes: number;
  contentHash: string;
  lines: LineCounts;
  /** Why the file is not (fully) analysed, or null. */
  parseError: string | null;
  /** Sum of the cyclomatic complexity of its functions and methods. */
  complexity: number;
  halsteadVolume: number | null;
  maintainability: number | null;
  elements: AnalyzedElement[];
  relations: AnalyzedRelation[];
}

/**
 * Maintainability index on Microsoft's 0–100 scale:
 * `max(0, (171 − 5.2 ln V − 0.23 G − 16.2 ln LOC) × 100 / 171)` with V the
 * Halstead volume, G the cyclomatic complexity and LOC the source lines.
 */
export function maintainabilityIndex(volume: number, complexity: number, sourceLines: number): number | null {
  if (volume <= 0 || sourceLines <= 0) return null;
  const raw = 171 - 5.2 * Math.log(volume) - 0.23 * complexity - 16.2 * Math.log(sourceLines);
  return Math.max(0, (raw * 100) / 171);
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isBinary(bytes: Uint8Array): boolean {
  const end = Math.min(bytes.length, 8000);
  for (let i = 0; i < end; i++) if (bytes[i] === 0) return true;
  return false;
}

/** Physical, blank and source lines of text the analyzer does not parse (no comments are told apart). */
function plainLineCounts(text: string): LineCounts {
  if (text.length === 0) return { physical: 0, source: 0, comment: 0, blank: 0 };
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const blank = lines.filter((line) => line.trim() === '').length;
  return { physical: lines.length, source: lines.length - blank, comment: 0, blank };
}

const LOGICAL_OPERATORS = new Set(['&&', '||', '??', 'and', 'or']);

const TS_DECLARATIONS = new Set([
  'function_declaration',
  'generator_function_declaration',
  'class_declaration',
  'abstract_class_declaration',
  'class',
  'interface_declaration',
  'type_alias_declaration',
  'enum_declaration',
  'lexical_declaration',
  'variable_declaration',
]);
const TS_HANDLED = new Set([
  ...TS_DECLARATIONS,
  'import_statement',
  'export_statement',
  'method_definition',
  'abstract_method_signature',
  'public_field_definition',
  'field_definition',
  'arrow_function',
  'function_expression',
  'function',
]);

/**
 * The tree-sitter analyzer. `create()` loads the runtime once; grammars are
 * loaded on first use of their language. `analyze(path, bytes)` never throws
 * for a file's content: a file that does not parse is returned with its
 * `parseError` (and what tree-sitter recovered from it).
 */
export class Analyzer {
  private readonly parsers = new Map<string, Parser>();

  private constructor(
    private readonly grammarDir: string,
    private readonly maxParseBytes: number,
  ) {}

  static async create(options: { maxParseBytes?: number } = {}): Promise<Analyzer> {
    await Parser.init();
    const grammarDir = join(dirname(require.resolve('@vscode/tree-sitter-wasm/package.json')), 'wasm');
    return new Analyzer(grammarDir, options.maxParseBytes ?? DEFAULT_MAX_PARSE_BYTES);
  }

  private async parser(spec: LanguageSpec): Promise<Parser> {
    let parser = this.parsers.get(spec.id);
    if (!parser) {
      const language = await Language.load(join(this.grammarDir, `tree-sitter-${spec.grammar}.wasm`));
      parser = new Parser();
      parser.setLanguage(language);
      this.parsers.set(spec.id, parser);
    }
    return parser;
  }

  async analyze(path: string, bytes: Uint8Array): Promise<FileAnalysisResult> {
    const spec = languageOf(path);
    const result: FileAnalysisResult = {
      path,
      language: spec?.id ?? null,
      sizeBytes: bytes.length,
      contentHash: sha256(bytes),
      lines: { physical: 0, source: 0, comment: 0, blank: 0 },
      parseError: null,
      complexity: 0,
      halsteadVolume: null,
      maintainability: null,
      elements: [],
      relations: [],
    };
    if (isBinary(bytes)) {
      result.language = null;
      result.parseError = 'binary file';
      return result;
    }
    const text = new TextDecoder('utf-8').decode(bytes);
    if (!spec) {
      result.lines = plainLineCounts(text);
      return result;
    }
    if (bytes.length > this.maxParseBytes) {
      result.lines = plainLineCounts(text);
      result.parseError = `not parsed: ${bytes.length} bytes is more than the ${this.maxParseBytes}-byte limit`;
      return result;
    }
    let tree: Tree | null = null;
    try {
      const parser = await this.parser(spec);
      tree = parser.parse(text);
      if (!tree) throw new Error('the parser returned no tree');
      new Extractor(spec, result).run(tree.rootNode);
      Object.assign(result, measure(tree, text));
      if (tree.rootNode.hasError) result.parseError = syntaxError(tree.rootNode);
    } catch (error) {
      result.elements = [];
      result.relations = [];
      result.lines = plainLineCounts(text);
      result.parseError = `analysis failed: ${(error as Error).message}`;
    } finally {
      tree?.delete();
    }
    result.complexity = result.elements.reduce((sum, e) => sum + (e.complexity ?? 0), 0);
    result.maintainability =
      result.halsteadVolume === null
        ? null
        : maintainabilityIndex(result.halsteadVolume, Math.max(1, result.complexity), result.lines.source);
    return result;
  }
}

function syntaxError(root: Node): string {
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.isError || node.isMissing) {
      const { row, column } = node.startPosition;
      return `syntax error at ${row + 1}:${column + 1}${node.isMissing ? ` (missing ${node.type})` : ''}`;
    }
    if (node.hasError) for (let i = node.childCount - 1; i >= 0; i--) stack.push(node.child(i)!);
  }
  return 'syntax error';
}

/**
 * Line counts and Halstead volume from the leaves: a comment leaf marks its
 * lines as comment, any other leaf marks its lines as code. Halstead counts
 * named leaves (identifiers, literals) as operands and anonymous ones
 * (keywords, operators, punctuation) as operators; V = N log2 n.
 */
function measure(tree: Tree, text: string): Pick<FileAnalysisResult, 'lines' | 'halsteadVolume'> {
  const physicalLines = plainLineCounts(text).physical;
  const code = new Uint8Array(physicalLines + 1);
  const comment = new Uint8Array(physicalLines + 1);
  const operators = new Set<string>();
  const operands = new Set<string>();
  let total = 0;
  const cursor = tree.walk();
  try {
    let descending = true;
    for (;;) {
      if (descending && cursor.gotoFirstChild()) continue;
      const type = cursor.nodeType;
      const isComment = type.includes('comment');
      // A leaf, or a node whose children were all visited: only leaves count.
      if (descending) {
        const start = cursor.startPosition.row;
        const end = Math.min(cursor.endPosition.row, physicalLines - 1);
        const marks = isComment ? comment : code;
        for (let row = start; row <= end; row++) marks[row] = 1;
        if (!isComment && cursor.endIndex > cursor.startIndex) {
          total++;
          const token = cursor.nodeText;
          if (cursor.nodeIsNamed) operands.add(token);
          else operators.add(token);
        }
      }
      if (cursor.gotoNextSibling()) {
        descending = true;
        continue;
      }
      if (!cursor.gotoParent()) break;
      descending = false;
    }
  } finally {
    cursor.delete();
  }
  let source = 0;
  let comments = 0;
  const lines = text.split(/\r?\n/);
  let blank = 0;
  for (let row = 0; row < physicalLines; row++) {
    if (code[row]) source++;
    else if (comment[row]) comments++;
    else if (lines[row].trim() === '') blank++;
    else source++;
  }
  const vocabulary = operators.size + operands.size;
  return {
    lines: { physical: physicalLines, source, comment: comments, blank },
    halsteadVolume: vocabulary > 1 ? total * Math.log2(vocabulary) : null,
  };
}

interface Context {
  /** The element children are inside of (parent), or null. */
  element: number | null;
  /** The function or method whose complexity the decisions count toward, or null. */
  fn: number | null;
  prefix: string;
}

const MAX_TARGET = 300;

/** Walks a syntax tree once and collects elements, complexity and relations. */
class Extractor {
  private readonly decisions: Set<string>;
  private readonly logical: Set<string>;
  /** Go methods by receiver type, attached to the type once the file is read. */
  private readonly receivers: { method: number; receiver: string }[] = [];

  constructor(
    private readonly spec: LanguageSpec,
    private readonly result: FileAnalysisResult,
  ) {
    this.decisions = new Set(spec.decisions);
    this.logical = new Set(spec.logical);
  }

  run(root: Node): void {
    this.visit(root, { element: null, fn: null, prefix: '' });
    for (const { method, receiver } of this.receivers) {
      const type = this.result.elements.findIndex(
        (e, i) => i !== method && e.parent === null && e.name === receiver && e.kind !== 'function',
      );
      if (type >= 0) this.result.elements[method].parent = type;
    }
  }

  private addElement(
    node: Node,
    kind: ElementKind,
    name: string,
    ctx: Context,
    options: { exported?: boolean; params?: Node | null; span?: Node } = {},
  ): number {
    const span = options.span ?? node;
    const isFunction = kind === 'function' || kind === 'method';
    this.result.elements.push({
      kind,
      name,
      qualifiedName: ctx.prefix ? `${ctx.prefix}.${name}` : name,
      parent: ctx.element,
      startLine: span.startPosition.row + 1,
      startColumn: span.startPosition.column,
      endLine: span.endPosition.row + 1,
      endColumn: span.endPosition.column,
      complexity: isFunction ? 1 : null,
      parameterCount: isFunction
        ? options.params
          ? options.params.namedChildren.filter((p) => p && !p.type.includes('comment')).length
          : 0
        : null,
      exported: options.exported ?? false,
    });
    return this.result.elements.length - 1;
  }

  private relate(kind: RelationKind, target: string, node: Node, ctx: Context): void {
    const targetName = target.replace(/\s+/g, '');
    if (targetName === '' || targetName.length > MAX_TARGET) return;
    this.result.relations.push({ kind, source: ctx.element, targetName, line: node.startPosition.row + 1 });
  }

  private inside(index: number, ctx: Context, isFunction: boolean): Context {
    return { element: index, fn: isFunction ? index : ctx.fn, prefix: this.result.elements[index].qualifiedName };
  }

  private children(node: Node, ctx: Context): void {
    for (const child of node.namedChildren) if (child) this.visit(child, ctx);
  }

  private countDecision(node: Node, ctx: Context): void {
    if (ctx.fn === null) return;
    const element = this.result.elements[ctx.fn];
    if (this.decisions.has(node.type)) element.complexity! += 1;
    else if (this.logical.has(node.type)) {
      const operator =
        node.childForFieldName('operator')?.type ?? node.children.find((c) => c && !c.isNamed && LOGICAL_OPERATORS.has(c.type))?.type;
      if (operator && LOGICAL_OPERATORS.has(operator)) element.complexity! += 1;
    }
  }

  private visit(node: Node, ctx: Context): void {
    this.countDecision(node, ctx);
    const callee = this.spec.calls[node.type];
    if (callee !== undefined) {
      const target = node.childForFieldName(callee);
      if (target && /^[\w$.:@>-]+$/.test(target.text.replace(/\s+/g, ''))) this.relate('calls', target.text, node, ctx);
    }
    const handled =
      this.spec.family === 'ts'
        ? this.visitTs(node, ctx)
        : this.spec.family === 'python'
          ? this.visitPython(node, ctx)
          : this.spec.family === 'go'
            ? this.visitGo(node, ctx)
            : this.visitGeneric(node, ctx);
    if (!handled) this.children(node, ctx);
  }

  // TypeScript, TSX, JavaScript.
  private visitTs(node: Node, ctx: Context): boolean {
    const type = node.type;
    if (!TS_HANDLED.has(type)) return false;
    // Only declarations ask for their parent: reaching a node's parent is a walk from the root in tree-sitter.
    const exported = TS_DECLARATIONS.has(type) && node.parent?.type === 'export_statement';
    switch (type) {
      case 'import_statement':
      case 'export_statement': {
        const source = node.childForFieldName('source');
        if (source) this.relate('imports', unquote(source.text), node, ctx);
        return false;
      }
      case 'function_declaration':
      case 'generator_function_declaration': {
        const name = node.childForFieldName('name')?.text;
        if (!name) return false;
        const index = this.addElement(node, 'function', name, ctx, {
          exported,
          params: node.childForFieldName('parameters'),
        });
        this.children(node, this.inside(index, ctx, true));
        return true;
      }
      case 'class_declaration':
      case 'abstract_class_declaration':
      case 'class': {
        const name = node.childForFieldName('name')?.text;
        if (!name) return false;
        const index = this.addElement(node, 'class', name, ctx, { exported });
        const inner = this.inside(index, ctx, false);
        for (const child of node.namedChildren) {
          if (child?.type !== 'class_heritage') continue;
          for (const clause of child.namedChildren) {
            if (!clause) continue;
            if (clause.type === 'extends_clause') {
              const value = clause.childForFieldName('value');
              if (value) this.relate('extends', value.text, clause, inner);
            } else if (clause.type === 'implements_clause') {
              for (const type of clause.namedChildren) if (type) this.relate('implements', stripTypeArguments(type.text), clause, inner);
            } else this.relate('extends', clause.text, clause, inner); // JavaScript: `extends <expression>`
          }
        }
        const body = node.childForFieldName('body');
        if (body) this.children(body, inner);
        return true;
      }
      case 'interface_declaration': {
        const name = node.childForFieldName('name')?.text;
        if (!name) return false;
        const index = this.addElement(node, 'interface', name, ctx, { exported });
        const inner = this.inside(index, ctx, false);
        for (const child of node.namedChildren) {
          if (child?.type === 'extends_type_clause')
            for (const type of child.namedChildren) if (type) this.relate('extends', stripTypeArguments(type.text), child, inner);
        }
        return true;
      }
      case 'type_alias_declaration':
      case 'enum_declaration': {
        const name = node.childForFieldName('name')?.text;
        if (name) this.addElement(node, node.type === 'enum_declaration' ? 'enum' : 'type', name, ctx, { exported });
        return true;
      }
      case 'method_definition':
      case 'abstract_method_signature': {
        const name = node.childForFieldName('name')?.text;
        if (!name) return false;
        const index = this.addElement(node, 'method', name, ctx, { params: node.childForFieldName('parameters') });
        this.children(node, this.inside(index, ctx, true));
        return true;
      }
      case 'public_field_definition':
      case 'field_definition': {
        const value = node.childForFieldName('value');
        const name = (node.childForFieldName('name') ?? node.childForFieldName('property'))?.text;
        if (name && value && (value.type === 'arrow_function' || value.type === 'function_expression')) {
          const index = this.addElement(node, 'method', name, ctx, { params: value.childForFieldName('parameters') });
          this.children(value, this.inside(index, ctx, true));
          return true;
        }
        return false;
      }
      case 'lexical_declaration':
      case 'variable_declaration': {
        // Module-level declarations are elements; a function held in one is a function.
        if (ctx.element !== null) return false;
        const declarationExported = exported;
        for (const declarator of node.namedChildren) {
          if (declarator?.type !== 'variable_declarator') continue;
          const name = declarator.childForFieldName('name');
          const value = declarator.childForFieldName('value');
          if (!name || name.type !== 'identifier') {
            if (value) this.visit(value, ctx);
            continue;
          }
          if (value && (value.type === 'arrow_function' || value.type === 'function_expression' || value.type === 'function')) {
            const index = this.addElement(declarator, 'function', name.text, ctx, {
              exported: declarationExported,
              params: value.childForFieldName('parameters') ?? value.childForFieldName('parameter'),
            });
            this.children(value, this.inside(index, ctx, true));
          } else {
            const index = this.addElement(declarator, 'variable', name.text, ctx, { exported: declarationExported });
            if (value) this.visit(value, this.inside(index, ctx, false));
          }
        }
        return true;
      }
      case 'arrow_function':
      case 'function_expression':
      case 'function': {
        // An anonymous function inside a function: its decisions are its own, not its parent's.
        this.children(node, { ...ctx, fn: null });
        return true;
      }
      default:
        return false;
    }
  }

  private visitPython(node: Node, ctx: Context): boolean {
    switch (node.type) {
      case 'import_statement':
        for (const name of node.namedChildren) {
          if (!name) continue;
          const module = name.type === 'aliased_import' ? name.childForFieldName('name') : name;
          if (module) this.relate('imports', module.text, node, ctx);
        }
        return true;
      case 'import_from_statement': {
        const module = node.childForFieldName('module_name');
        if (module) this.relate('imports', module.text, node, ctx);
        return true;
      }
      case 'function_definition': {
        const name = node.childForFieldName('name')?.text;
        if (!name) return false;
        const parent = ctx.element === null ? null : this.result.elements[ctx.element];
        const kind = parent?.kind === 'class' ? 'method' : 'function';
        const span = node.parent?.type === 'decorated_definition' ? node.parent : node;
        const index = this.addElement(node, kind, name, ctx, {
          exported: ctx.element === null && !name.startsWith('_'),
          params: node.childForFieldName('parameters'),
          span,
        });
        this.children(node, this.inside(index, ctx, true));
        return true;
      }
      case 'class_definition': {
        const name = node.childForFieldName('name')?.text;
        if (!name) return false;
        const span = node.parent?.type === 'decorated_definition' ? node.parent : node;
        const index = this.addElement(node, 'class', name, ctx, { exported: ctx.element === null && !name.startsWith('_'), span });
        const inner = this.inside(index, ctx, false);
        const bases = node.childForFieldName('superclasses');
        for (const base of bases?.namedChildren ?? []) {
          if (base && (base.type === 'identifier' || base.type === 'attribute')) this.relate('extends', base.text, base, inner);
        }
        const body = node.childForFieldName('body');
        if (body) this.children(body, inner);
        return true;
      }
      case 'expression_statement': {
        if (ctx.element !== null) return false;
        const assignment = node.namedChildren[0];
        const left = assignment?.type === 'assignment' ? assignment.childForFieldName('left') : null;
        if (!assignment || !left || left.type !== 'identifier') return false;
        const index = this.addElement(assignment, 'variable', left.text, ctx, { exported: !left.text.startsWith('_') });
        const right = assignment.childForFieldName('right');
        if (right) this.visit(right, this.inside(index, ctx, false));
        return true;
      }
      case 'lambda':
        this.children(node, { ...ctx, fn: null });
        return true;
      default:
        return false;
    }
  }

  private visitGo(node: Node, ctx: Context): boolean {
    switch (node.type) {
      case 'import_spec': {
        const path = node.childForFieldName('path');
        if (path) this.relate('imports', unquote(path.text), node, ctx);
        return true;
      }
      case 'function_declaration': {
        const name = node.childForFieldName('name')?.text;
        if (!name) return false;
        const index = this.addElement(node, 'function', name, ctx, {
          exported: /^[A-Z]/.test(name),
          params: node.childForFieldName('parameters'),
        });
        this.children(node, this.inside(index, ctx, true));
        return true;
      }
      case 'method_declaration': {
        const name = node.childForFieldName('name')?.text;
        const receiver = node
          .childForFieldName('receiver')
          ?.descendantsOfType('type_identifier')
          .find((n) => n)?.text;
        if (!name) return false;
        const index = this.addElement(
          node,
          'method',
          name,
          { ...ctx, prefix: receiver ?? '' },
          {
            exported: /^[A-Z]/.test(name),
            params: node.childForFieldName('parameters'),
          },
        );
        if (receiver) this.receivers.push({ method: index, receiver });
        this.children(node, this.inside(index, ctx, true));
        return true;
      }
      case 'type_spec': {
        const name = node.childForFieldName('name')?.text;
        const type = node.childForFieldName('type');
        if (!name) return false;
        const kind = type?.type === 'struct_type' ? 'class' : type?.type === 'interface_type' ? 'interface' : 'type';
        const index = this.addElement(node, kind, name, ctx, { exported: /^[A-Z]/.test(name) });
        if (type?.type === 'struct_type' || type?.type === 'interface_type') {
          // Embedded types: a struct's field without a name, an interface's embedded interface.
          for (const embedded of type.descendantsOfType(['field_declaration', 'type_elem'])) {
            if (!embedded || (embedded.type === 'field_declaration' && embedded.childForFieldName('name'))) continue;
            const typeName = embedded.type === 'field_declaration' ? embedded.childForFieldName('type')?.text : embedded.text;
            if (typeName) this.relate('extends', typeName.replace(/^\*/, ''), embedded, this.inside(index, ctx, false));
          }
        }
        return true;
      }
      case 'var_declaration':
      case 'const_declaration': {
        if (ctx.element !== null) return false;
        for (const spec of node.descendantsOfType(['var_spec', 'const_spec'])) {
          for (const name of spec?.childrenForFieldName('name') ?? []) {
            if (name) this.addElement(spec!, 'variable', name.text, ctx, { exported: /^[A-Z]/.test(name.text) });
          }
          const value = spec?.childForFieldName('value');
          if (value) this.visit(value, ctx);
        }
        return true;
      }
      case 'func_literal':
        this.children(node, { ...ctx, fn: null });
        return true;
      default:
        return false;
    }
  }

  private visitGeneric(node: Node, ctx: Context): boolean {
    const importField = this.spec.imports?.[node.type];
    if (importField !== undefined) {
      const target =
        importField === null
          ? node.text.replace(/^\s*\w+\s+(static\s+)?/, '').replace(/;\s*$/, '')
          : node.childForFieldName(importField)?.text;
      if (target) this.relate('imports', unquote(target.replace(/^<|>$/g, '')), node, ctx);
      return true;
    }
    const kind = this.spec.elements?.[node.type];
    if (!kind) return false;
    const name = genericName(node);
    if (!name) return false;
    const parent = ctx.element === null ? null : this.result.elements[ctx.element];
    const resolved = kind === 'function' && parent && parent.kind === 'class' ? 'method' : kind;
    const isFunction = resolved === 'function' || resolved === 'method';
    const params = node.childForFieldName('parameters') ?? node.childForFieldName('declarator')?.childForFieldName('parameters') ?? null;
    const index = this.addElement(node, resolved, name, ctx, { params });
    this.children(node, this.inside(index, ctx, isFunction));
    return true;
  }
}

/** The name of a declaration: its `name` field, or for C++ the declarator's innermost name. */
function genericName(node: Node): string | undefined {
  const name = node.childForFieldName('name');
  if (name) return name.text;
  let declarator = node.childForFieldName('declarator');
  while (declarator && declarator.childForFieldName('declarator')) declarator = declarator.childForFieldName('declarator');
  return declarator?.text;
}

function unquote(text: string): string {
  return text.replace(/^['"`]|['"`]$/g, '');
}

function stripTypeArguments(text: string): string {
  return text.replace(/<[\s\S]*>$/, '');
}
