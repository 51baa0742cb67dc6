"""OpenAPI 3.1 generated from the endpoints' own pydantic schemas, plus a readable page."""

from __future__ import annotations

import argparse
import html
import json
import re
from typing import Any

from pydantic import BaseModel

from server.csrf import UNSAFE_METHODS
from server.errors import AppError, InvalidRequest, OriginNotAllowed, RateLimited, UnsupportedMediaType
from server.http import Endpoint
from server.routers import api_endpoints

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable snake_case error code."},
                "message": {"type": "string", "description": "Human-readable explanation."},
                "details": {"description": "Optional structured details (per-field errors for 422)."},
            },
        }
    },
}


def _schema_ref(model: type[BaseModel], components: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


API_DESCRIPTION = (
    "EduStream public REST API (v1). JSON in and out; times are ISO 8601 with offset; money in integer "
    "minor units (`price_cents`) with `currency`. Every failure uses the envelope "
    "`{\"error\": {\"code\", \"message\", \"details\"}}`; validation failures are 422 `invalid_request` "
    "with per-field `details` (`[{field, message, type}]`). Authenticate with `Authorization: Bearer "
    "<access_token>` or the `es_access` cookie (cookie-authenticated POST/PUT/DELETE also need "
    "`X-CSRF-Token` equal to the `es_csrf` cookie). Every POST/PUT/DELETE sent by a browser must come "
    "from an allowed origin (`Origin`, else `Referer`; 403 `origin_not_allowed`), and a request body "
    "must be `Content-Type: application/json` (415 `unsupported_media_type`). Rate-limited responses carry `RateLimit-Limit`, "
    "`RateLimit-Remaining`, `RateLimit-Reset`, and 429s carry `Retry-After`. Creating POSTs honour "
    "`Idempotency-Key` (same key and body replay the first response for 24 h, marked `Idempotent-Replayed: "
    "true`; another body is 422 `idempotency_key_reused`). Lists are cursor-paginated: "
    "`{items, next_cursor}` with `?cursor=&limit=`. Live updates: Socket.IO namespace `/live` (docs/live.md)."
)


def build_openapi(endpoints: list[Endpoint], *, title: str, version: str, server_url: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {"summary": ep.summary, "tags": ep.tags, "operationId": ep.handler.__name__}
        if ep.description:
            op["description"] = ep.description
        params: list[dict[str, Any]] = []
        for name, typ in ep.path_params.items():
            params.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "string", "format": "uuid"} if typ.__name__ == "UUID" else {"type": "string"}})
        if ep.query_model is not None:
            qschema = ep.query_model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in qschema.pop("$defs", {}).items():
                components.setdefault(name, sub)
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop,
                               **({"description": prop["description"]} if "description" in prop else {})})
        if ep.method == "POST" and ep.auth.roles:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "maxLength": 255},
                           "description": "Replays the first response for the same key and body (24 h)."})
        if params:
            op["parameters"] = params
        if ep.body_model is not None:
            required_body = any(f.is_required() for f in ep.body_model.model_fields.values())
            op["requestBody"] = {"required": required_body, "content": {
                "application/json": {"schema": _schema_ref(ep.body_model, components, "validation")}}}
        responses: dict[str, Any] = {}
        if ep.response_model is not None:
            responses[str(ep.status)] = {"description": "Success", "content": {
                "application/json": {"schema": _schema_ref(ep.response_model, components, "serialization")}}}
        else:
            responses[str(ep.status)] = {"description": "Success"}
        errors: list[type[AppError]] = list(ep.errors)
        if ep.body_model is not None or ep.query_model is not None:
            errors.append(InvalidRequest)
        if ep.method in UNSAFE_METHODS and not ep.webhook:
            errors += [OriginNotAllowed, *([UnsupportedMediaType] if ep.body_model is not None else [])]
        errors.append(RateLimited)
        by_status: dict[int, list[str]] = {}
        for err in errors:
            by_status.setdefault(err.status, [])
            if err.code not in by_status[err.status]:
                by_status[err.status].append(err.code)
        if ep.auth.required:
            by_status.setdefault(401, []).extend(["not_authenticated", "invalid_token"])
            by_status.setdefault(403, []).append("forbidden")
        for status, codes in sorted(by_status.items()):
            responses[str(status)] = {"description": "Error codes: " + ", ".join(f"`{c}`" for c in codes),
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        op["responses"] = responses
        if ep.auth.required:
            op["security"] = [{"bearer": []}, {"cookie": []}]
        oapath = re.sub(r"{(\w+)(:\w+)?}", r"{\1}", ep.path)
        paths.setdefault(oapath, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": API_DESCRIPTION},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "es_access",
                           "description": "Unsafe methods also need the X-CSRF-Token header equal to the es_csrf cookie."},
            },
        },
    }


def render_docs_page(spec: dict[str, Any]) -> str:
    """A self-contained HTML reference (no CDN: this must work offline)."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(spec['info']['title'])}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1e293b}"
             "h2{border-bottom:1px solid #e2e8f0;padding-bottom:.3rem}.op{margin:1rem 0;padding:.8rem;border:1px solid #e2e8f0;border-radius:8px}"
             ".m{display:inline-block;min-width:4rem;font-weight:700}.GET{color:#2563eb}.POST{color:#16a34a}.PUT{color:#ca8a04}"
             ".DELETE{color:#dc2626}code{background:#f1f5f9;padding:0 .2rem;border-radius:4px}table{border-collapse:collapse}"
             "td,th{border:1px solid #e2e8f0;padding:.2rem .5rem;text-align:left;font-size:.9rem}</style></head><body>",
             f"<h1>{esc(spec['info']['title'])} <small>{esc(spec['info']['version'])}</small></h1>",
             f"<p>{esc(spec['info']['description'])}</p><p>Machine-readable: <a href='openapi.json'>openapi.json</a></p>"]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((method.upper(), path, op))
    for tag, ops in by_tag.items():
        parts.append(f"<h2>{esc(tag)}</h2>")
        for method, path, op in ops:
            parts.append(f"<div class='op'><span class='m {method}'>{method}</span> <code>{esc(path)}</code>"
                         f" — {esc(op.get('summary', ''))}")
            if op.get("security"):
                parts.append(" <em>(signed in)</em>")
            if op.get("parameters"):
                parts.append("<table><tr><th>parameter</th><th>in</th><th>required</th></tr>")
                for p in op["parameters"]:
                    parts.append(f"<tr><td>{esc(p['name'])}</td><td>{p['in']}</td><td>{p['required']}</td></tr>")
                parts.append("</table>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if body:
                parts.append(f"<p>Body: <code>{esc(body['$ref'].rsplit('/', 1)[-1])}</code></p>")
            parts.append("<ul>")
            for status, resp in op["responses"].items():
                parts.append(f"<li><b>{status}</b> {esc(resp['description']).replace('`', '')}</li>")
            parts.append("</ul></div>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        props = schema.get("properties", {})
        if not props:
            continue
        parts.append(f"<h3 id='{esc(name)}'>{esc(name)}</h3><table><tr><th>field</th><th>type</th><th>required</th></tr>")
        for field_name, prop in props.items():
            typ = prop.get("type") or prop.get("$ref", "").rsplit("/", 1)[-1] or "any"
            parts.append(f"<tr><td>{esc(field_name)}</td><td>{esc(str(typ))}</td>"
                         f"<td>{field_name in schema.get('required', [])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def render_markdown(spec: dict[str, Any]) -> str:
    """The API reference as Markdown (docs/api.md is generated from this; a test keeps it fresh)."""
    lines = [f"# {spec['info']['title']} {spec['info']['version']}", "",
             "<!-- Generated by `python -m server.openapi > docs/api.md`; do not edit by hand. -->", "",
             spec["info"]["description"], ""]
    schemas = spec["components"]["schemas"]

    def type_of(prop: dict[str, Any]) -> str:
        if "$ref" in prop:
            return f"[{prop['$ref'].rsplit('/', 1)[-1]}](#{prop['$ref'].rsplit('/', 1)[-1].lower()})"
        if "anyOf" in prop:
            return " \\| ".join(type_of(p) for p in prop["anyOf"])
        if prop.get("type") == "array":
            return f"array of {type_of(prop.get('items', {}))}"
        if "enum" in prop:
            return " \\| ".join(f"`{v}`" for v in prop["enum"])
        if "const" in prop:
            return f"`{prop['const']}`"
        return str(prop.get("format") or prop.get("type") or "any")

    lines += ["## Endpoints", ""]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            lines.append(f"### `{method.upper()} {path}`")
            lines.append("")
            lines.append(op.get("summary", "") + (" *(signed in)*" if op.get("security") else ""))
            if op.get("description"):
                lines += ["", op["description"]]
            lines.append("")
            if op.get("parameters"):
                lines += ["| parameter | in | required | type |", "|---|---|---|---|"]
                for prm in op["parameters"]:
                    lines.append(f"| `{prm['name']}` | {prm['in']} | {prm['required']} | {type_of(prm['schema'])} |")
                lines.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                lines += [f"Body: {type_of(body)}", ""]
            lines += ["| status | meaning |", "|---|---|"]
            for status, resp in op["responses"].items():
                schema = resp.get("content", {}).get("application/json", {}).get("schema")
                shown = type_of(schema) if schema else ""
                lines.append(f"| {status} | {resp['description']} {shown} |")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in schemas.items():
        lines += [f"### {name}", ""]
        if schema.get("description"):
            lines += [schema["description"], ""]
        props = schema.get("properties", {})
        if not props:
            if "enum" in schema:
                lines += ["One of " + ", ".join(f"`{v}`" for v in schema["enum"]), ""]
            continue
        lines += ["| field | type | required | notes |", "|---|---|---|---|"]
        for field_name, prop in props.items():
            notes = str(prop.get("description", "")).replace("\n", " ")
            lines.append(f"| `{field_name}` | {type_of(prop)} | {field_name in schema.get('required', [])} | {notes} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def current_spec() -> dict[str, Any]:
    """The spec of the app as built from the current code (no database needed)."""
    return build_openapi(api_endpoints(), title="EduStream API", version="1.0.0", server_url="/")


def render_json(spec: dict[str, Any]) -> str:
    """The document as the committed frontend/lib/api/openapi.json holds it (the input of the frontend's types)."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m server.openapi",
                                     description="Print the API reference of the current code (no server needed).")
    parser.add_argument("--json", action="store_true", help="the OpenAPI document instead of the Markdown page")
    spec = current_spec()
    print(render_json(spec) if parser.parse_args().json else render_markdown(spec), end="")
