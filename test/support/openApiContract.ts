/**
 * The OpenAPI document as the truth of the contract tests: every REST answer they get is checked
 * against the document the hub serves at /api/openapi.json: the operation exists, the status is
 * documented for it, the content type is the documented one and a JSON body validates (ajv,
 * JSON Schema 2020-12 as OpenAPI 3.1 uses it) against the documented schema.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { HubHandle, TestHub } from './testHub.ts';

type Json = Record<string, unknown>;
interface MediaType {
  schema?: Json;
}
interface ResponseDoc {
  content?: Record<string, MediaType>;
}
interface OperationDoc {
  operationId?: string;
  responses: Record<string, ResponseDoc>;
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, OperationDoc>>;
  components: Json;
}

/** What the checker needs of an answer. */
export interface Answer {
  status: number;
  contentType: string | null;
  text: string;
}

const DOC_ID = 'handoff-openapi';
/** What the document's `default` answer covers: statuses any route may answer (a malformed URL, a JSON body charset other than UTF-8, oversized headers, a bug). */
const ANY_ROUTE_STATUSES = new Set([400, 415, 431, 500]);
// ajv-formats is CommonJS: its default export arrives wrapped under ESM
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;
const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

export class OpenApiContract {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: Array<{ template: string; re: RegExp; params: number }>;
  /** How many answers were checked, per "METHOD template status". */
  readonly checked = new Map<string, number>();

  constructor(readonly doc: OpenApiDoc) {
    // strict off: the document's non-schema keywords (paths, responses…) sit around the schemas
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ ...doc, $id: DOC_ID });
    this.templates = Object.keys(doc.paths)
      .map((template) => ({ template, re: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`), params: (template.match(/\{/g) ?? []).length }))
      .sort((a, b) => a.params - b.params); // literal segments win: /claim before /{id}
  }

  static async fetch(url: string): Promise<OpenApiContract> {
    const res = await fetch(`${url}/api/openapi.json`);
    if (res.status !== 200) throw new Error(`GET /api/openapi.json answered ${res.status}`);
    return new OpenApiContract((await res.json()) as OpenApiDoc);
  }

  private validator(ref: string): ValidateFunction {
    let v = this.compiled.get(ref);
    if (!v) this.compiled.set(ref, (v = this.ajv.compile({ $ref: `${DOC_ID}#/${ref}` })));
    return v;
  }

  /** Throws, naming the request, when the answer is not what the document says. */
  check(method: string, url: string, answer: Answer): void {
    const path = new URL(url, 'http://x').pathname;
    const what = `${method} ${path} → ${answer.status}`;
    // HEAD is GET without the content (RFC 9110 §9.3.2): GET's operation, statuses and type, no body
    const head = method.toUpperCase() === 'HEAD';
    const m = head ? 'get' : method.toLowerCase();
    if (head && answer.text !== '') throw new Error(`${what}: a HEAD answer with a body: ${answer.text.slice(0, 200)}`);
    const found = this.templates.find((t) => t.re.test(path) && this.doc.paths[t.template]?.[m]);
    if (!found) {
      // No operation: the catch-all answers 404 not_found in the error shape.
      if (answer.status !== 404) throw new Error(`${what}: no operation in the OpenAPI document, yet not a 404`);
      if (head) return;
      this.validateJson(what, pointer('components', 'schemas', 'Error'), answer);
      this.count(`${method} (no operation) 404`);
      return;
    }
    const op = this.doc.paths[found.template]![m]!;
    // `default` stands only for what any route may answer; every other status must be listed
    const statusKey = op.responses[String(answer.status)] ? String(answer.status) : op.responses['default'] && ANY_ROUTE_STATUSES.has(answer.status) ? 'default' : null;
    if (!statusKey) throw new Error(`${what}: status ${answer.status} is not documented for ${op.operationId} (documented: ${Object.keys(op.responses).join(', ')}); body: ${answer.text.slice(0, 300)}`);
    const content = op.responses[statusKey]!.content;
    this.count(`${method} ${found.template} ${answer.status}`);
    if (!content) {
      if (answer.text !== '') throw new Error(`${what}: the document says no body, got ${answer.text.slice(0, 200)}`);
      return;
    }
    const types = Object.keys(content);
    const type = types.find((t) => (answer.contentType ?? '').toLowerCase().startsWith(t));
    if (!type) throw new Error(`${what}: content type ${answer.contentType} is not documented (${types.join(', ')})`);
    if (type === 'application/json' && !head) this.validateJson(what, pointer('paths', found.template, m, 'responses', statusKey, 'content', type, 'schema'), answer);
  }

  private validateJson(what: string, ref: string, answer: Answer): void {
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      throw new Error(`${what}: body is not JSON: ${answer.text.slice(0, 200)}`);
    }
    const validate = this.validator(ref);
    if (!validate(body)) throw new Error(`${what}: body does not match the document: ${this.ajv.errorsText(validate.errors)}; body: ${answer.text.slice(0, 500)}`);
  }

  private count(key: string): void {
    this.checked.set(key, (this.checked.get(key) ?? 0) + 1);
  }
}

/** The test hub with its REST helper checked: every answer `api` returns has passed the document. */
export type CheckedHub<H extends HubHandle = TestHub> = H & { contract: OpenApiContract };

export async function withContractCheck<H extends HubHandle>(h: H): Promise<CheckedHub<H>> {
  const contract = await OpenApiContract.fetch(h.url);
  const api: HubHandle['api'] = async (method, path, token, body, headers) => {
    const res = await h.api(method, path, token, body, headers);
    contract.check(method, path, res);
    return res as never;
  };
  return Object.assign(Object.create(h) as H, { api, contract });
}
