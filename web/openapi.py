"""The OpenAPI 3.1 description of ``/api/v1`` (served at ``/api/v1/openapi.json``). Kept beside
the routes in `web.api`; a test checks that every route is described and every description has
a route, and validates the document."""

from __future__ import annotations

from typing import Any

_FILTER = [
    ("campaign", "Campaign id.", "string"),
    ("country", "Two-letter country code of the campaign.", "string"),
    ("audience", "Audience id (audiences belong to one campaign).", "integer"),
    ("channel", "Channel name.", "string"),
    ("state", "Delivery state.", "string"),
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("elshi")
    except PackageNotFoundError:
        return "0"


def _param(
    name: str, where: str, description: str, kind: str = "string", *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": required or where == "path",
        "schema": {"type": kind},
    }


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}


def _op(
    summary: str,
    *,
    role: str,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    ok: dict[str, Any] | None = None,
    more: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs the permission `{role}` (see docs/web.md).",
        "responses": {"200": ok or _json("OK"), **_ERRORS, **(more or {})},
    }
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    return op


def document() -> dict[str, Any]:
    filters = [_param(n, "query", d, k) for n, d, k in _FILTER]
    post_id = _param("post_id", "path", "Post id.", "integer")
    comment = {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"comment": {"type": "string", "maxLength": 2000}},
                }
            }
        },
    }
    conflict = {"409": {"$ref": "#/components/responses/Refused"}}
    not_found = {"404": {"$ref": "#/components/responses/NotFound"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Elshi workspace API",
            "version": _version(),
            "description": "The web workspace's actions for an office's own systems. Every "
            "call but this document needs `Authorization: Bearer <token>`; a token acts for its "
            "user with that user's roles.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
                "UploadResult": {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean"},
                        "message": {"type": "string"},
                        "campaign": {"type": ["string", "null"]},
                        "problems": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "line": {"type": "integer"},
                                    "column": {"type": "integer"},
                                    "where": {"type": "string"},
                                    "severity": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                        "plan": {"type": "array", "items": {"type": "object"}},
                        "upload_id": {"type": ["integer", "null"]},
                        "version": {"type": ["integer", "null"]},
                        "applied": {"type": "boolean"},
                    },
                },
            },
            "responses": {
                name: _json(text, {"$ref": "#/components/schemas/Error"})
                for name, text in (
                    ("Unauthorized", "No token, or an unknown, revoked or expired one."),
                    ("Forbidden", "The token's user does not have the role this needs."),
                    ("NotFound", "No such thing."),
                    ("Refused", "The rules refused the action; the message says why."),
                )
            },
        },
        "paths": {
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": _json("The OpenAPI document.")},
                }
            },
            "/me": {"get": _op("Who the token acts for, with their roles.", role="any")},
            "/campaigns": {
                "get": _op("Campaigns with their posts and delivery states.", role="campaign.view"),
                "post": _op(
                    "Upload a campaign file (YAML or a spreadsheet): its problems with their "
                    "line, or the plan; with apply=true it is applied too.",
                    role="campaign.plan (campaign.apply with apply=true)",
                    params=[
                        _param("apply", "query", "Apply it when valid.", "boolean"),
                    ],
                    body={
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {
                                        "file": {"type": "string", "format": "binary"},
                                        "media": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "binary"},
                                            "description": "Images and videos the file names "
                                            "(matched by file name).",
                                        },
                                        "base": {
                                            "type": "string",
                                            "description": "For a spreadsheet: the campaign "
                                            "whose current file it extends.",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    ok=_json(
                        "Valid (planned or applied).", {"$ref": "#/components/schemas/UploadResult"}
                    ),
                    more={
                        "400": _json(
                            "Not a campaign file.", {"$ref": "#/components/schemas/UploadResult"}
                        ),
                        "409": _json(
                            "Valid when uploaded but refused on apply.",
                            {"$ref": "#/components/schemas/UploadResult"},
                        ),
                        "422": _json(
                            "Problems in the file; nothing was changed.",
                            {"$ref": "#/components/schemas/UploadResult"},
                        ),
                    },
                ),
            },
            "/campaigns/{campaign_id}": {
                "get": _op(
                    "One campaign: audiences, posts, deliveries.",
                    role="campaign.view",
                    params=[_param("campaign_id", "path", "Campaign id.")],
                    more=not_found,
                )
            },
            "/campaigns/{campaign_id}/file": {
                "get": _op(
                    "The campaign's file as applied (the latest version, or ?version=N).",
                    role="campaign.view",
                    params=[
                        _param("campaign_id", "path", "Campaign id."),
                        _param("version", "query", "Version number.", "integer"),
                    ],
                    ok={
                        "description": "The YAML file.",
                        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                    },
                    more=not_found,
                )
            },
            "/deliveries": {
                "get": _op(
                    "Deliveries in time order, filtered.",
                    role="campaign.view",
                    params=[
                        *filters,
                        _param("from", "query", "Due at or after (ISO date or date-time)."),
                        _param("to", "query", "Due before (ISO date or date-time)."),
                    ],
                )
            },
            "/deliveries/{delivery_id}/{action}": {
                "post": _op(
                    "retry, cancel (with a reason) or resolve (published_url, or not published: "
                    "sent again, or cancelled with cancel=true) one delivery.",
                    role="delivery.retry | delivery.cancel | delivery.resolve",
                    params=[
                        _param("delivery_id", "path", "Delivery id.", "integer"),
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": ["retry", "cancel", "resolve"]},
                        },
                    ],
                    body={
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "reason": {"type": "string"},
                                        "published_url": {
                                            "type": "string",
                                            "description": "resolve: its permalink (the "
                                            "channel's connector reads the post's id from it; "
                                            "another platform's link is refused with 409)",
                                        },
                                        "remote_id": {
                                            "type": "string",
                                            "description": "resolve: the platform's id of the "
                                            "post, when the link cannot say it",
                                        },
                                        "cancel": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    more=conflict,
                )
            },
            "/posts/{post_id}": {
                "get": _op(
                    "A post with each delivery's text as it will be published.",
                    role="campaign.view",
                    params=[post_id],
                    more=not_found,
                )
            },
            "/posts/{post_id}/approve": {
                "post": _op(
                    "Approve a post.",
                    role="post.approve",
                    params=[post_id],
                    body=comment,
                    more={**conflict, **not_found},
                )
            },
            "/posts/{post_id}/reject": {
                "post": _op(
                    "Reject a post (a comment is required).",
                    role="post.reject",
                    params=[post_id],
                    body=comment,
                    more={**conflict, **not_found},
                )
            },
            "/approvals": {
                "get": _op(
                    "Posts waiting for approval, soonest due first: view=mine (the steps the "
                    "token's person may approve, the default), all (any step), or expired "
                    "(their time passed before the chain was complete).",
                    role="campaign.view",
                    params=[
                        {
                            "name": "view",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["mine", "all", "expired"]},
                        },
                        *filters[:4],
                    ],
                )
            },
            "/status": {
                "get": _op(
                    "What `elshi status` shows.",
                    role="status.view",
                    params=[filters[0]],
                )
            },
            "/channels/{name}/resume": {
                "post": _op(
                    "Resume a paused channel.",
                    role="channel.resume",
                    params=[_param("name", "path", "Channel name.")],
                    more=not_found,
                )
            },
            "/pauses": {
                "get": _op("Active pauses (the kill switch).", role="status.view"),
                "post": _op(
                    "Pause everything, a campaign, a country or a channel, with a reason. When "
                    "this answers, nothing covered starts publishing; deliveries whose platform "
                    "call had begun are listed in in_flight.",
                    role="pause.create",
                    body={
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["scope", "reason"],
                                    "properties": {
                                        "scope": {
                                            "type": "string",
                                            "enum": ["all", "campaign", "country", "channel"],
                                        },
                                        "target": {
                                            "type": "string",
                                            "description": "Campaign id, country code or "
                                            "channel name (none for all).",
                                        },
                                        "reason": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    ok=_json("Paused already (nothing changed)."),
                    more={"201": _json("Paused."), **conflict},
                ),
            },
            "/pauses/{pause_id}/overdue": {
                "get": _op(
                    "Deliveries that became overdue under this pause (each needs send or skip "
                    "when resuming).",
                    role="status.view",
                    params=[_param("pause_id", "path", "Pause id.", "integer")],
                    more=not_found,
                )
            },
            "/pauses/{pause_id}/resume": {
                "post": _op(
                    "End a pause, deciding each overdue delivery: send (late, now) or skip.",
                    role="pause.resume",
                    params=[_param("pause_id", "path", "Pause id.", "integer")],
                    body={
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "send": {"type": "array", "items": {"type": "integer"}},
                                        "skip": {"type": "array", "items": {"type": "integer"}},
                                        "send_all": {"type": "boolean"},
                                        "skip_all": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    more=conflict,
                )
            },
            "/reports": {
                "get": _op(
                    "The effectiveness report as JSON (the same as `elshi report --format "
                    "json`), for a campaign, country, audience or channel and a period.",
                    role="report.view",
                    params=[
                        *filters[:4],
                        _param("since", "query", "First day (YYYY-MM-DD) of the period."),
                        _param("until", "query", "Last day (YYYY-MM-DD) of the period, included."),
                        _param(
                            "as_of",
                            "query",
                            "Report time: the figures known by the end of this day (not cut at "
                            "the period's end); default now.",
                        ),
                    ],
                    more=not_found,
                )
            },
            "/audit": {
                "get": _op(
                    "The audit log, newest first.",
                    role="audit.view",
                    params=[
                        _param("actor", "query", "Who, e.g. user:anna."),
                        _param("entity", "query", "What kind: delivery, post, user, session..."),
                        _param("entity_id", "query", "Which one."),
                        _param("since", "query", "From this day (YYYY-MM-DD)."),
                        _param("until", "query", "To this day (YYYY-MM-DD)."),
                        _param("limit", "query", "At most this many (default 200).", "integer"),
                    ],
                )
            },
        },
    }
