"""What clients read: /openapi.json holds to the rules of the contract.

The rules are checked over every operation, so a route added later (on any branch) is held to
them too: explicit `<tag>_<action>` operationIds, a summary and a one-line description, every
error answer in the shared schema with its codes, 401 with `WWW-Authenticate` wherever a token
is needed, 413/422 wherever there is a body, examples on every request body, and every
constraint the API enforces stated.
"""

import re
import uuid
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI

from core import openapi
from core.codes import ErrorCode
from core.config import API_PREFIX
from core.errors import (
    BadRequest,
    Conflict,
    ErrorBody,
    NotFound,
    Unauthorized,
    error_responses,
    raises,
)
from features.auth.manager import MAX_LOGIN_LENGTH, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from features.items.models import TAGS_PER_ITEM_MAX
from features.users.models import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

ERROR_REF = "#/components/schemas/ErrorBody"
# The one error answer with a shape of its own: the readiness probe says which service failed.
OWN_ERROR_SHAPES = {("health_ready", "503"): "#/components/schemas/Readiness"}
# Header parameters and the statuses a route that accepts them must declare.
HEADER_STATUSES = {"if-match": {"412"}, "idempotency-key": {"400", "409", "422"}}
OPERATION_ID = re.compile(r"^[a-z]+(_[a-z]+)+$")


@pytest.fixture(scope="module")
def schema(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def error_statuses(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        status: response
        for status, response in operation["responses"].items()
        if status.startswith(("4", "5"))
    }


def by_id(schema: dict[str, Any], operation_id: str) -> dict[str, Any]:
    (found,) = [op for _, _, op in operations(schema) if op["operationId"] == operation_id]
    return found


def test_every_route_names_its_operation_explicitly(app):
    routes = list(openapi.api_routes(app.routes))
    assert len(routes) >= 30
    unnamed = [f"{sorted(route.methods)} {route.path_format}" for route in routes]
    unnamed = [name for name, route in zip(unnamed, routes, strict=True) if not route.operation_id]
    assert unnamed == [], "give these routes operation_id='<tag>_<action>'"


def test_operation_ids_are_unique_and_read_tag_action(schema):
    ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for method, path, op in operations(schema):
        assert OPERATION_ID.match(op["operationId"]), (method, path, op["operationId"])
        assert op["operationId"].startswith(f"{op['tags'][0]}_"), (method, path)
        # never derived from the path (FastAPI's default: `read_item_api_v1_items__item_id__get`)
        assert "v1" not in op["operationId"].split("_"), op["operationId"]
    assert {"items_list", "items_create", "items_transfer", "auth_login", "users_me_update"} <= (
        set(ids)
    )


def test_every_operation_has_a_summary_and_a_one_line_description(schema):
    for method, path, op in operations(schema):
        assert op.get("summary"), (method, path)
        description = op.get("description", "")
        assert description, (method, path)
        assert "\n" not in description.strip(), (method, path, description)


def test_every_tag_is_described(schema):
    described = {tag["name"]: tag.get("description") for tag in schema["tags"]}
    used = {op["tags"][0] for _, _, op in operations(schema)}
    assert used <= set(described), used - set(described)
    assert all(described[tag] for tag in used)


def test_every_error_answer_uses_the_shared_schema_and_lists_its_codes(schema):
    for method, path, op in operations(schema):
        for status, response in error_statuses(op).items():
            where = (method, path, status)
            content = response.get("content", {}).get("application/json")
            assert content, where
            expected = OWN_ERROR_SHAPES.get((op["operationId"], status), ERROR_REF)
            assert content["schema"] == {"$ref": expected}, where
            if expected != ERROR_REF:
                continue
            assert content.get("examples"), where
            for example in content["examples"].values():
                ErrorBody.model_validate(example["value"])  # each example fits the schema
            if status != "422":
                assert "`detail`: `" in response["description"], where
                for example in content["examples"].values():
                    detail = example["value"]["detail"]
                    code = detail["code"] if isinstance(detail, dict) else detail
                    assert f"`{code}`" in response["description"], where


def test_the_shared_error_schema_admits_each_kind_of_detail(schema):
    detail = schema["components"]["schemas"]["ErrorBody"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]
    assert {"$ref": "#/components/schemas/ErrorReason"} in detail["anyOf"]
    assert {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ValidationIssue"},
    } in detail["anyOf"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_every_authenticated_operation_declares_401_with_the_challenge(schema):
    authenticated = [(m, p, op) for m, p, op in operations(schema) if op.get("security")]
    assert len(authenticated) >= 20
    for method, path, op in authenticated:
        response = op["responses"].get("401")
        assert response, (method, path)
        assert "WWW-Authenticate" in response.get("headers", {}), (method, path)
        assert "`Unauthorized`" in response["description"]


def test_every_operation_with_a_body_declares_413_and_422_and_has_an_example(schema):
    with_body = [(m, p, op) for m, p, op in operations(schema) if "requestBody" in op]
    assert len(with_body) >= 15
    for method, path, op in with_body:
        assert {"413", "422"} <= set(op["responses"]), (method, path)
        assert "`REQUEST_TOO_LARGE`" in op["responses"]["413"]["description"]
        for media_type, content in op["requestBody"]["content"].items():
            assert "example" in content or "examples" in content, (method, path, media_type)


def test_every_operation_that_uses_the_database_declares_503_and_writes_409(schema):
    for method, path, op in operations(schema):
        if not path.startswith(API_PREFIX):  # the probes and the like
            continue
        assert "503" in op["responses"], (method, path)
        if method != "GET":
            assert "409" in op["responses"], (method, path)
        else:
            assert "409" not in op["responses"], (method, path)


def test_every_throttled_answer_says_when_to_retry(schema):
    throttled = [op for _, _, op in operations(schema) if "429" in op["responses"]]
    assert {op["operationId"] for op in throttled} >= {"auth_login", "users_me_update"}
    for op in throttled:
        assert "Retry-After" in op["responses"]["429"]["headers"]


def test_conditional_and_idempotent_headers_declare_their_statuses(schema):
    for method, path, op in operations(schema):
        headers = {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}
        for header, statuses in HEADER_STATUSES.items():
            if header in headers:
                assert statuses <= set(op["responses"]), (method, path, header)


def test_no_body_model_is_named_after_its_route(schema):
    names = schema["components"]["schemas"]
    assert not [name for name in names if name.startswith("Body_")]


@pytest.mark.parametrize(
    ("operation_id", "status", "codes"),
    [
        ("items_read", "404", [ErrorCode.ITEM_NOT_FOUND]),
        ("items_update", "403", [ErrorCode.ITEM_OWNER_ONLY]),
        ("items_transfer", "400", [ErrorCode.ITEM_ALREADY_OWNED]),
        ("items_transfer", "404", [ErrorCode.ITEM_NOT_FOUND, ErrorCode.USER_NOT_FOUND]),
        ("items_transfers_list", "403", [ErrorCode.ITEM_OWNER_ONLY]),
        ("comments_create", "404", [ErrorCode.ITEM_NOT_FOUND]),
        ("comments_update", "403", [ErrorCode.COMMENT_AUTHOR_ONLY]),
        ("comments_delete", "404", [ErrorCode.COMMENT_NOT_FOUND]),
        ("users_list", "403", [ErrorCode.FORBIDDEN]),
        ("users_delete", "404", [ErrorCode.USER_NOT_FOUND]),
        ("users_me_update", "429", [ErrorCode.LOGIN_TOO_MANY_ATTEMPTS]),
        ("users_me_update", "400", [ErrorCode.UPDATE_USER_BAD_CURRENT_PASSWORD]),
        ("auth_register", "400", [ErrorCode.REGISTER_INVALID_PASSWORD]),
        ("auth_login", "400", [ErrorCode.LOGIN_BAD_CREDENTIALS]),
        ("items_create", "409", [ErrorCode.CONFLICT]),
        ("items_list", "503", [ErrorCode.SERVICE_UNAVAILABLE]),
    ],
)
def test_errors_of_dependencies_and_services_reach_their_routes(
    schema, operation_id, status, codes
):
    response = by_id(schema, operation_id)["responses"][status]
    for code in codes:
        assert f"`{code.value}`" in response["description"]
        examples = response["content"]["application/json"]["examples"]
        assert code.name in examples


def test_a_code_with_a_reason_is_shown_as_an_object(schema):
    examples = by_id(schema, "auth_register")["responses"]["400"]["content"]["application/json"]
    detail = examples["examples"]["REGISTER_INVALID_PASSWORD"]["value"]["detail"]
    assert detail == {
        "code": "REGISTER_INVALID_PASSWORD",
        "reason": f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
    }


def test_a_malformed_json_body_is_documented_as_json_invalid(schema):
    examples = by_id(schema, "items_create")["responses"]["422"]["content"]["application/json"]
    assert examples["examples"]["json_invalid"]["value"]["detail"][0]["type"] == "json_invalid"
    form = by_id(schema, "auth_login")["responses"]["422"]["content"]["application/json"]
    assert "json_invalid" not in form["examples"]


# -- constraints --


def test_enforced_constraints_are_stated(schema):
    schemas = schema["components"]["schemas"]
    assert (PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH) == (MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH)
    password = schemas["UserCreate"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 128)
    assert "400" in password["description"]
    for name in ("UserSelfUpdate", "UserAdminUpdate"):
        (branch, _null) = schemas[name]["properties"]["password"]["anyOf"]
        assert (branch["minLength"], branch["maxLength"]) == (8, 128)
    reset = schemas["PasswordReset"]["properties"]["password"]
    assert (reset["minLength"], reset["maxLength"]) == (8, 128)
    assert "minLength" not in str(schemas["UserSelfUpdate"]["properties"]["current_password"])

    username = schemas["UserCreate"]["properties"]["username"]
    assert (username["minLength"], username["maxLength"]) == (3, 50)
    assert username["pattern"] == "^[A-Za-z0-9_.-]+$"
    assert schemas["UserCreate"]["properties"]["email"]["maxLength"] == 254
    login = schemas["LoginForm"]["properties"]["username"]
    assert login["maxLength"] == MAX_LOGIN_LENGTH

    item = schemas["ItemCreate"]["properties"]
    assert item["tags"]["maxItems"] == TAGS_PER_ITEM_MAX
    assert item["tags"]["default"] == []
    assert (item["tags"]["items"]["minLength"], item["tags"]["items"]["maxLength"]) == (1, 30)
    assert (item["title"]["minLength"], item["title"]["maxLength"]) == (1, 100)
    assert item["is_public"]["default"] is False
    bulk = by_id(schema, "items_bulk_create")["requestBody"]["content"]["application/json"]
    assert (bulk["schema"]["minItems"], bulk["schema"]["maxItems"]) == (1, 500)
    content = schemas["CommentCreate"]["properties"]["content"]
    assert (content["minLength"], content["maxLength"]) == (1, 5000)


def test_the_authorize_dialog_says_the_username_field_takes_the_email(schema):
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert "e-mail" in scheme["description"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/jwt/login"


# -- examples run as they are --


def example(schema: dict[str, Any], operation_id: str) -> Any:
    (content,) = by_id(schema, operation_id)["requestBody"]["content"].values()
    return content["example"]


async def test_request_examples_run_as_they_are(schema, client, db_scalar):
    """What Swagger's "Try it out" fills in succeeds, one route after the other."""
    response = await client.post("/auth/register", json=example(schema, "auth_register"))
    assert response.status_code == 201, response.text
    login = example(schema, "auth_login")
    response = await client.post("/auth/jwt/login", data=login)
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    update = example(schema, "users_me_update")
    assert "current_password" not in update
    response = await client.patch("/users/me", json=update, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == update["full_name"]

    response = await client.post("/items", json=example(schema, "items_create"), headers=headers)
    assert response.status_code == 201, response.text
    item_id = response.json()["id"]
    for method, path, operation_id in [
        ("PATCH", f"/items/{item_id}", "items_update"),
        ("PUT", f"/items/{item_id}", "items_replace"),
        ("POST", "/items/bulk", "items_bulk_create"),
        ("POST", f"/items/{item_id}/comments", "comments_create"),
        ("POST", "/auth/forgot-password", "auth_forgot_password"),
        ("POST", "/auth/request-verify-token", "auth_request_verify_token"),
    ]:
        body = example(schema, operation_id)
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code in (200, 201, 202), (operation_id, response.text)
    comment_id = await db_scalar("SELECT id FROM comments")
    comment_id = uuid.UUID(str(comment_id))
    body = example(schema, "comments_update")
    response = await client.patch(f"/comments/{comment_id}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    # the transfer's example names a user that does not exist here: a clean 404
    body = example(schema, "items_transfer")
    response = await client.post(f"/items/{item_id}/transfer", json=body, headers=headers)
    assert response.status_code == 404
    assert response.json() == {"detail": ErrorCode.USER_NOT_FOUND.value}


def test_main_responses_carry_examples(schema):
    schemas = schema["components"]["schemas"]
    for name in ("UserRead", "UserPublic", "ItemRead", "CommentRead", "AccessToken", "ErrorBody"):
        assert schemas[name].get("examples"), name


# -- the mechanism, on a small app of its own --


def _small_app() -> FastAPI:
    @raises(Unauthorized())
    async def caller() -> str:
        return "someone"

    @raises(NotFound(ErrorCode.ITEM_NOT_FOUND))
    @raises(Conflict(ErrorCode.CONFLICT), except_methods={"GET"})
    async def thing(thing_id: int, _caller: str = Depends(caller)) -> int:
        return thing_id

    router = APIRouter(tags=["things"], dependencies=[Depends(caller)])

    @router.get("/things/{thing_id}", operation_id="things_read", summary="Read")
    async def read(_thing: int = Depends(thing)) -> None:
        """Read a thing."""

    @router.put(
        "/things/{thing_id}",
        operation_id="things_replace",
        summary="Replace",
        responses={
            **error_responses(BadRequest(ErrorCode.ITEM_ALREADY_OWNED)),
            412: {"description": "Declared by hand"},
        },
    )
    async def replace(body: ErrorBody, _thing: int = Depends(thing)) -> None:
        """Replace a thing."""

    app = FastAPI()
    app.include_router(router)
    openapi.install(app)
    return app


def test_dependencies_declare_their_errors_for_every_route_that_uses_them():
    schema = _small_app().openapi()
    read = schema["paths"]["/things/{thing_id}"]["get"]["responses"]
    replace = schema["paths"]["/things/{thing_id}"]["put"]["responses"]
    assert set(read) == {"200", "401", "404", "422"}  # no 409 for a read
    assert set(replace) == {"200", "400", "401", "404", "409", "412", "413", "422"}
    assert read["401"]["headers"]["WWW-Authenticate"]["schema"] == {"type": "string"}
    assert read["404"]["description"].endswith("`detail`: `Item not found`")
    assert replace["400"]["description"].endswith(
        "`detail`: `The item already belongs to this user`"
    )
    # a status declared by hand still answers the shared shape
    assert replace["412"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    assert replace["412"]["description"] == "Declared by hand"


def test_the_completed_schema_is_built_once(app):
    assert app.openapi() is app.openapi()
