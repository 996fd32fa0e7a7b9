/**
 * The languages the analyzer knows: file extensions, the tree-sitter grammar
 * (from `@vscode/tree-sitter-wasm`), and the node types it reads. `family`
 * picks the element extractor: `ts`, `python` and `go` are complete (elements,
 * spans, complexity, imports, calls, extends); `generic` reads what its node
 * tables name and nothing more (see the README's support table).
 */
export type LanguageFamily = 'ts' | 'python' | 'go' | 'generic';

export interface LanguageSpec {
  id: string;
  grammar: string;
  extensions: string[];
  family: LanguageFamily;
  /** Nodes that add one decision to the enclosing function's cyclomatic complexity. */
  decisions: string[];
  /** Binary-expression node types whose `&&` / `||` / `??` / `and` / `or` operator is a decision. */
  logical: string[];
  /** Call nodes, with the field that names the callee. */
  calls: Record<string, string>;
  /** For `generic`: node type → element kind; the name is the node's `name` field. */
  elements?: Record<string, 'function' | 'method' | 'class' | 'interface' | 'type' | 'enum' | 'module'>;
  /** For `generic`: import nodes, their specifier taken from this field (or the whole text without the keyword). */
  imports?: Record<string, string | null>;
}

const TS_DECISIONS = [
  'if_statement',
  'for_statement',
  'for_in_statement',
  'while_statement',
  'do_statement',
  'switch_case',
  'catch_clause',
  'ternary_expression',
];

const TS: Omit<LanguageSpec, 'id' | 'grammar' | 'extensions'> = {
  family: 'ts',
  decisions: TS_DECISIONS,
  logical: ['binary_expression'],
  calls: { call_expression: 'function', new_expression: 'constructor' },
};

export const LANGUAGES: LanguageSpec[] = [
  { id: 'typescript', grammar: 'typescript', extensions: ['.ts', '.mts', '.cts'], ...TS },
  { id: 'tsx', grammar: 'tsx', extensions: ['.tsx'], ...TS },
  { id: 'javascript', grammar: 'javascript', extensions: ['.js', '.mjs', '.cjs', '.jsx'], ...TS },
  {
    id: 'python',
    grammar: 'python',
    extensions: ['.py', '.pyi'],
    family: 'python',
    decisions: [
      'if_statement',
      'elif_clause',
      'for_statement',
      'while_statement',
      'except_clause',
      'conditional_expression',
      'for_in_clause',
      'if_clause',
      'case_clause',
    ],
    logical: ['boolean_operator'],
    calls: { call: 'function' },
  },
  {
    id: 'go',
    grammar: 'go',
    extensions: ['.go'],
    family: 'go',
    decisions: ['if_statement', 'for_statement', 'expression_case', 'type_case', 'communication_case'],
    logical: ['binary_expression'],
    calls: { call_expression: 'function' },
  },
  {
    id: 'rust',
    grammar: 'rust',
    extensions: ['.rs'],
    family: 'generic',
    decisions: ['if_expression', 'while_expression', 'for_expression', 'loop_expression', 'match_arm'],
    logical: ['binary_expression'],
    calls: { call_expression: 'function', macro_invocation: 'macro' },
    elements: {
      function_item: 'function',
      struct_item: 'class',
      enum_item: 'enum',
      trait_item: 'interface',
      type_item: 'type',
      mod_item: 'module',
    },
    imports: { use_declaration: 'argument' },
  },
  {
    id: 'java',
    grammar: 'java',
    extensions: ['.java'],
    family: 'generic',
    decisions: [
      'if_statement',
      'for_statement',
      'enhanced_for_statement',
      'while_statement',
      'do_statement',
      'catch_clause',
      'ternary_expression',
      'switch_label',
    ],
    logical: ['binary_expression'],
    calls: { method_invocation: 'name', object_creation_expression: 'type' },
    elements: {
      class_declaration: 'class',
      interface_declaration: 'interface',
      enum_declaration: 'enum',
      record_declaration: 'class',
      method_declaration: 'method',
      constructor_declaration: 'method',
    },
    imports: { import_declaration: null },
  },
  {
    id: 'csharp',
    grammar: 'c-sharp',
    extensions: ['.cs'],
    family: 'generic',
    decisions: [
      'if_statement',
      'for_statement',
      'foreach_statement',
      'while_statement',
      'do_statement',
      'catch_clause',
      'conditional_expression',
      'switch_section',
    ],
    logical: ['binary_expression'],
    calls: { invocation_expression: 'function', object_creation_expression: 'type' },
    elements: {
      class_declaration: 'class',
      struct_declaration: 'class',
      record_declaration: 'class',
      interface_declaration: 'interface',
      enum_declaration: 'enum',
      method_declaration: 'method',
      constructor_declaration: 'method',
      namespace_declaration: 'module',
    },
    imports: { using_directive: null },
  },
  {
    id: 'cpp',
    grammar: 'cpp',
    extensions: ['.cpp', '.cc', '.cxx', '.hpp', '.hh', '.hxx', '.c', '.h'],
    family: 'generic',
    decisions: [
      'if_statement',
      'for_statement',
      'for_range_loop',
      'while_statement',
      'do_statement',
      'case_statement',
      'catch_clause',
      'conditional_expression',
    ],
    logical: ['binary_expression'],
    calls: { call_expression: 'function' },
    elements: {
      function_definition: 'function',
      class_specifier: 'class',
      struct_specifier: 'class',
      enum_specifier: 'enum',
      namespace_definition: 'module',
    },
    imports: { preproc_include: 'path' },
  },
  {
    id: 'ruby',
    grammar: 'ruby',
    extensions: ['.rb'],
    family: 'generic',
    decisions: ['if', 'elsif', 'unless', 'while', 'until', 'for', 'when', 'rescue', 'conditional', 'if_modifier', 'unless_modifier'],
    logical: ['binary'],
    calls: { call: 'method' },
    elements: { method: 'method', singleton_method: 'method', class: 'class', module: 'module' },
  },
  {
    id: 'php',
    grammar: 'php',
    extensions: ['.php'],
    family: 'generic',
    decisions: [
      'if_statement',
      'else_if_clause',
      'for_statement',
      'foreach_statement',
      'while_statement',
      'do_statement',
      'case_statement',
      'catch_clause',
      'conditional_expression',
    ],
    logical: ['binary_expression'],
    calls: { function_call_expression: 'function', member_call_expression: 'name', object_creation_expression: 'type' },
    elements: {
      function_definition: 'function',
      method_declaration: 'method',
      class_declaration: 'class',
      interface_declaration: 'interface',
      trait_declaration: 'class',
      enum_declaration: 'enum',
    },
    imports: { namespace_use_declaration: null },
  },
  {
    id: 'bash',
    grammar: 'bash',
    extensions: ['.sh', '.bash'],
    family: 'generic',
    decisions: ['if_statement', 'elif_clause', 'for_statement', 'c_style_for_statement', 'while_statement', 'case_item'],
    logical: ['list'],
    calls: { command: 'name' },
    elements: { function_definition: 'function' },
  },
];

const BY_EXTENSION = new Map(LANGUAGES.flatMap((spec) => spec.extensions.map((ext) => [ext, spec] as const)));

/** The language of a path by its extension (`.d.ts` is TypeScript), or undefined. */
export function languageOf(path: string): LanguageSpec | undefined {
  const match = /(\.[A-Za-z0-9]+)$/.exec(path);
  return match ? BY_EXTENSION.get(match[1].toLowerCase()) : undefined;
}
