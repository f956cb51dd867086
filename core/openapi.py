"""What clients read: `/openapi.json`, completed from what the code declares.

FastAPI writes the operations; `install(app)` then completes each one, so that a route cannot
forget what it may answer:

- the errors it declares itself (`responses=error_responses(...)`: what its services raise),
- the errors of every dependency in its tree (`@raises(...)` where the dependency is defined:
  401 from the auth dependency, 404/403 from the checked-object dependencies, 503 and 409 from
  the session),
- 413 and 422 on every route with a body, 422 on every route with parameters,

each status with the one shared schema (`ErrorBody`), its `detail` codes listed in the
description and given as examples, and its headers (`WWW-Authenticate`, `Retry-After`).
Request bodies get their model's example as the media type's example (what Swagger's "Try it
out" fills in).
"""

import json
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from starlette.routing import BaseRoute

from core.codes import ErrorCode
from core.errors import (
    DomainError,
    ErrorBody,
    ErrorResponse,
    PayloadTooLarge,
    declared_errors,
    describe,
)

REF = "#/components/schemas/"
ERROR_SCHEMA = {"$ref": f"{REF}{ErrorBody.__name__}"}
VALIDATION_STATUS = 422
# what every route with a body may answer besides its own errors
BODY_ERRORS: tuple[DomainError, ...] = (PayloadTooLarge(ErrorCode.REQUEST_TOO_LARGE),)
# FastAPI's own validation schemas, replaced by ErrorBody
FRAMEWORK_SCHEMAS = ("HTTPValidationError", "ValidationError")

HEADERS: dict[str, dict[str, Any]] = {
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with: `Bearer`",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    },
}


def schema_examples(*examples: Any) -> Any:
    """A model's `model_config` that gives its JSON Schema these examples (the first is what
    Swagger fills in). Typed Any: SQLModel types its config with a private class."""
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class Stated:
    """JSON Schema keywords for a rule that is enforced elsewhere, and answered otherwise than
    with a 422 (the password policy's 400): stated for clients, not validated by pydantic.

        Password = Annotated[CleanStr, Stated(minLength=8, maxLength=128)]
    """

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (hence `/openapi.json` and /docs) answer the completed schema."""
    generate = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached until the routes change
        if not completed or completed[0] is not schema:
            complete(schema, app.routes)
            completed[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


def complete(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Complete every operation's error responses and request examples, in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    generated = ErrorBody.model_json_schema(ref_template=REF + "{model}")
    components.update(generated.pop("$defs", {}))
    components[ErrorBody.__name__] = generated
    for route in api_routes(routes):
        for method in sorted(route.methods):
            operation = schema["paths"][route.path_format][method.lower()]
            _complete_responses(operation, route, method, components)
            _complete_request_example(operation, components)
    for name in FRAMEWORK_SCHEMAS:
        if f'"{REF}{name}"' not in json.dumps(schema):
            components.pop(name, None)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """The API routes in the schema, as FastAPI sees them once included (prefix, merged
    `responses`, the whole dependency tree); typed Any: FastAPI types them privately."""
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def route_errors(route: Any, method: str) -> list[DomainError]:
    """Every error a route may answer: its own declarations, its dependencies', its body's."""
    # in the order they can happen: dependencies run before the route's own code
    errors = [
        error
        for dependant in _dependencies(route.dependant)
        for error in declared_errors(dependant.call, method)
    ]
    for entry in route.responses.values():
        if isinstance(entry, ErrorResponse):
            errors.extend(entry.errors)
    if route.body_field is not None:
        errors.extend(BODY_ERRORS)
    unique: dict[tuple[int, ErrorCode], DomainError] = {}
    for error in errors:
        unique.setdefault((error.status_code, error.code), error)
    return list(unique.values())


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


# -- responses --


def _complete_responses(
    operation: dict[str, Any], route: Any, method: str, components: dict[str, Any]
) -> None:
    by_status: dict[int, list[DomainError]] = {}
    for error in route_errors(route, method):
        by_status.setdefault(error.status_code, []).append(error)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    validated = str(VALIDATION_STATUS) in responses or route.body_field is not None
    if validated or VALIDATION_STATUS in by_status:
        errors = by_status.pop(VALIDATION_STATUS, [])
        responses[str(VALIDATION_STATUS)] = _validation_response(errors, operation, components)
    for status, errors in by_status.items():
        responses[str(status)] = _error_response(errors)
    for key, response in responses.items():
        # an error declared by hand, without a model: it answers the shared shape too
        if key.startswith(("4", "5")) and "content" not in response:
            response["content"] = {"application/json": {"schema": ERROR_SCHEMA}}
    operation["responses"] = dict(sorted(responses.items()))


def _error_response(errors: list[DomainError]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": describe(errors),
        "content": {"application/json": {"schema": ERROR_SCHEMA, "examples": _examples(errors)}},
    }
    headers = {
        name: HEADERS.get(name, {"schema": {"type": "string"}})
        for e in errors
        for name in e.headers
    }
    if headers:
        response["headers"] = headers
    return response


def _examples(errors: list[DomainError]) -> dict[str, Any]:
    return {
        error.code.name: {"summary": error.code.value, "value": {"detail": error.detail}}
        for error in errors
    }


def _validation_response(
    errors: list[DomainError], operation: dict[str, Any], components: dict[str, Any]
) -> dict[str, Any]:
    description = "Validation failed: `detail` is the list of problems (`loc`, `msg`, `type`)"
    examples: dict[str, Any] = {}
    media_types = operation.get("requestBody", {}).get("content", {})
    for media in list(media_types.values())[:1]:
        required = _resolve(media.get("schema", {}), components).get("required", [])
        if required:
            examples["missing"] = {
                "summary": f"`{required[0]}` left out",
                "value": {"detail": [_issue(["body", required[0]], "Field required", "missing")]},
            }
    if any(media_type.endswith("json") for media_type in media_types):
        description += "; a body that is not JSON (or not UTF-8) is `json_invalid`"
        examples["json_invalid"] = {
            "summary": "The body is not valid JSON",
            "value": {"detail": [_issue(["body", 0], "JSON decode error", "json_invalid")]},
        }
    for parameter in operation.get("parameters", [])[:1]:
        examples["parameter"] = {
            "summary": f"A bad `{parameter['name']}`",
            "value": {"detail": [_parameter_issue(parameter)]},
        }
    if errors:
        description += ". Else `detail` is a code: " + ", ".join(
            f"`{error.code.value}`" for error in errors
        )
        examples.update(_examples(errors))
    content = {"schema": ERROR_SCHEMA, "examples": examples}
    return {"description": description, "content": {"application/json": content}}


def _issue(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _parameter_issue(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = parameter.get("schema", {})
    loc: list[str | int] = [parameter["in"], parameter["name"]]
    branches = [schema, *schema.get("anyOf", [])]
    kinds = {branch.get(key) for branch in branches for key in ("format", "type")}
    longest = next((b["maxLength"] for b in branches if "maxLength" in b), None)
    if "uuid" in kinds:
        return _issue(loc, "Input should be a valid UUID", "uuid_parsing")
    if "integer" in kinds:
        return _issue(loc, "Input should be a valid integer", "int_parsing")
    if "boolean" in kinds:
        return _issue(loc, "Input should be a valid boolean", "bool_parsing")
    if longest is not None:
        return _issue(loc, f"String should have at most {longest} characters", "string_too_long")
    return _issue(loc, "Input should be a valid string", "string_type")


# -- request examples --


def _complete_request_example(operation: dict[str, Any], components: dict[str, Any]) -> None:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        if "example" in media or "examples" in media:
            continue
        example = example_of(media.get("schema", {}), components)
        if example is not None:
            media["example"] = example


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        resolved: dict[str, Any] = components.get(schema["$ref"].removeprefix(REF), {})
        return resolved
    return schema


def example_of(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """The schema's own example: its first `examples`, or one assembled from its properties'
    examples (every required property having one); None when it has none."""
    if depth > 8:
        return None
    if "$ref" in schema:
        return example_of(_resolve(schema, components), components, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            return example_of(branch, components, depth + 1)
    if schema.get("type") == "array" and "items" in schema:
        item = example_of(schema["items"], components, depth + 1)
        return None if item is None else [item]
    properties = schema.get("properties", {})
    found = {
        name: value
        for name, prop in properties.items()
        if (value := example_of(prop, components, depth + 1)) is not None
    }
    if properties and found and set(schema.get("required", [])) <= set(found):
        return found
    return None
