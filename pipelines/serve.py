"""``n2r serve``: exported bundles over HTTP with Ray Serve.

One Serve application (``n2r``) with a :class:`Gateway` ingress and one :class:`BundleModel`
deployment per bundle. The gateway owns HTTP: routing, body size, JSON, and the checks of
:mod:`n2r.inputs` (so a bad request is answered 4xx before it reaches a model replica). A model
replica loads its bundle once and explains inputs in dynamic batches (``serve.batch``): inputs of
concurrent requests are grouped, then bucketed by length and padded per bucket by
:func:`n2r.explain.explain_many` — the same function ``n2r explain`` runs.

Routes: ``POST /v1/{bundle}/explain`` (one input or a list of them; see :mod:`n2r.inputs`),
``GET /v1/{bundle}`` (the metrics card, the config and the replica's batch statistics),
``GET /v1`` (the bundle names), ``GET /healthz``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from n2r.bundle import verify_bundle
from n2r.config import ConfigError, RunConfig
from n2r.data import text_rule_of
from n2r.explain import BUCKET_RATIO, explain_checked
from n2r.inputs import InputError, InputLimits, parse_inputs
from n2r.models import family_of

logger = logging.getLogger(__name__)

APP_NAME = "n2r"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HEALTH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServeOptions:
    """How bundles are served. ``max_batch_size`` inputs per model call (1 turns batching off),
    ``batch_wait_ms`` the longest a first input waits for others, ``max_body_bytes`` the largest
    request body, ``limits`` the largest inputs (:class:`n2r.inputs.InputLimits`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    replicas: int = 1
    max_batch_size: int = 16
    batch_wait_ms: float = 5.0
    device: str = "cpu"
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 1.0
    max_body_bytes: int = 4 << 20
    bucket_ratio: float = BUCKET_RATIO
    limits: InputLimits = field(default_factory=InputLimits)

    def __post_init__(self):
        checks = {"port": 0 < self.port < 65536, "replicas": self.replicas >= 1,
                  "max_batch_size": self.max_batch_size >= 1, "batch_wait_ms": self.batch_wait_ms >= 0,
                  "device": self.device in ("cpu", "cuda"), "cpus_per_replica": self.cpus_per_replica >= 0,
                  "gpus_per_replica": 0 < self.gpus_per_replica <= 1 or self.device != "cuda",
                  "max_body_bytes": self.max_body_bytes >= 1, "bucket_ratio": self.bucket_ratio >= 1}
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"serve option {name}: invalid value {getattr(self, name)!r}")

    @property
    def resources_per_replica(self) -> dict[str, float]:
        """Ray resources of one model replica (the gateway asks for none)."""
        return {"CPU": self.cpus_per_replica, **({"GPU": self.gpus_per_replica} if self.device == "cuda" else {})}


def bundle_names(specs: list[str]) -> dict[str, Path]:
    """``PATH`` or ``NAME=PATH`` arguments → {name: folder}; the name defaults to the folder's.
    Every bundle is verified against its manifest here, before anything starts."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, eq, path = spec.partition("=")
        if not eq or "/" in name:
            path, name = spec, Path(spec.rstrip("/")).name
        if not NAME.match(name):
            raise ConfigError(f"bundle name {name!r} (from {spec!r}): use letters, digits, '.', '_' or '-' "
                              "(or give NAME=PATH)")
        if name in named:
            raise ConfigError(f"bundle name {name!r} given twice ({named[name]} and {path}); give NAME=PATH")
        verify_bundle(path)
        named[name] = Path(path).resolve()
    if not named:
        raise ConfigError("n2r serve: give at least one bundle folder")
    return named


def bundle_card(name: str, path: Path) -> dict[str, Any]:
    """What ``GET /v1/{name}`` answers (without the live batch statistics)."""
    cfg = RunConfig.from_yaml(path / "config.yaml")
    kind = family_of(cfg.model).data_kind
    return {"name": name, "kind": kind, "encoder": cfg.model.encoder, "data": cfg.data.name,
            "objective": cfg.objective.name, "metrics": json.loads((path / "metrics.json").read_text()),
            "selection": cfg.model.eval_selection, "config": cfg.to_dict(), "in_channels": cfg.model.in_channels,
            "text_rule": text_rule_of(cfg.data)}


@serve.deployment(max_ongoing_requests=256)
class BundleModel:
    """One bundle on one replica: explains checked inputs in dynamic batches."""

    def __init__(self, path: str, options: dict[str, Any]):
        from n2r.bundle import load_bundle

        self.bundle = load_bundle(path, device=options["device"])
        self.bucket_ratio = options["bucket_ratio"]
        self.explain_batch.set_max_batch_size(options["max_batch_size"])
        self.explain_batch.set_batch_wait_timeout_s(options["batch_wait_ms"] / 1000)
        self.batch_sizes: Counter[int] = Counter()
        self.busy_s = 0.0

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def explain_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Inputs the gateway checked (:func:`n2r.inputs.parse_inputs`), explained together."""
        self.batch_sizes[len(items)] += 1
        start = time.perf_counter()
        try:
            return [r.to_json() for r in explain_checked(self.bundle, items, self.bucket_ratio)]
        finally:
            self.busy_s += time.perf_counter() - start

    async def explain(self, item: dict[str, Any]) -> dict[str, Any]:
        return await self.explain_batch(item)

    def stats(self) -> dict[str, Any]:
        """Batches this replica ran: how many, of which sizes, inputs in all, seconds busy."""
        return {"batches": sum(self.batch_sizes.values()), "inputs": sum(k * v for k, v in self.batch_sizes.items()),
                "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())}, "busy_s": self.busy_s}

    def ping(self) -> str:
        return "ok"


def error(status: int, message: str, field: str | None = None, **headers: str) -> JSONResponse:
    body = {"error": message, **({"field": field} if field else {})}
    return JSONResponse(body, status_code=status, headers=headers or None)


@serve.deployment(max_ongoing_requests=1024, ray_actor_options={"num_cpus": 0})
class Gateway:
    """HTTP ingress: routes, limits and input checks; forwards each input to its bundle's model."""

    def __init__(self, models: dict[str, Any], cards: dict[str, dict[str, Any]], options: dict[str, Any]):
        self.models = models
        self.cards = cards
        self.max_body_bytes = options["max_body_bytes"]
        limits = InputLimits(**options["limits"])
        self.limits = {name: limits.for_bundle(RunConfig.from_dict(card["config"])) for name, card in cards.items()}

    async def __call__(self, request: Request) -> JSONResponse:
        parts = [p for p in request.url.path.split("/") if p]
        if parts == ["healthz"]:
            return await self._only(request, "GET") or await self.health()
        if parts == ["v1"]:
            return await self._only(request, "GET") or JSONResponse({"bundles": sorted(self.models)})
        if len(parts) in (2, 3) and parts[0] == "v1" and (len(parts) == 2 or parts[2] == "explain"):
            name = parts[1]
            if name not in self.models:
                return error(404, f"no bundle named {name!r} (served: {', '.join(sorted(self.models))})", "bundle")
            if len(parts) == 2:
                return await self._only(request, "GET") or await self.card(name)
            return await self._only(request, "POST") or await self.explain(name, request)
        return error(404, f"no route {request.url.path} (routes: POST /v1/{{bundle}}/explain, GET /v1/{{bundle}}, "
                          "GET /v1, GET /healthz)")

    @staticmethod
    async def _only(request: Request, method: str) -> JSONResponse | None:
        if request.method == method:
            return None
        return error(405, f"{request.method} not allowed here; use {method}", Allow=method)

    async def health(self) -> JSONResponse:
        async def ping(name: str) -> str:
            try:
                return await asyncio.wait_for(self.models[name].ping.remote(), HEALTH_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - any failure is what the health check reports
                return f"unavailable: {type(exc).__name__}"
        states = dict(zip(self.models, await asyncio.gather(*(ping(n) for n in self.models))))
        ok = all(state == "ok" for state in states.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "bundles": states}, status_code=200 if ok else 503)

    async def card(self, name: str) -> JSONResponse:
        card = {**self.cards[name], "limits": asdict(self.limits[name])}
        card["serving"] = await self.models[name].stats.remote()
        return JSONResponse(card)

    async def explain(self, name: str, request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return error(413, f"request body of {declared} bytes, more than the limit of {self.max_body_bytes}", "body")
        body = bytearray()
        async for chunk in request.stream():          # read no further than the limit (chunked bodies too)
            body += chunk
            if len(body) > self.max_body_bytes:
                return error(413, f"request body over the limit of {self.max_body_bytes} bytes", "body")
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error(400, f"the body is not valid JSON ({getattr(exc, 'msg', exc)})", "body")
        except RecursionError:                         # e.g. thousands of nested arrays
            return error(400, "the body nests JSON arrays or objects too deeply to parse", "body")
        card = self.cards[name]
        try:
            items, many = parse_inputs(payload, card["kind"], self.limits[name], card["in_channels"],
                                       card["text_rule"])
        except InputError as exc:
            return error(exc.status, exc.message, exc.field)
        try:
            results = await asyncio.gather(*(self.models[name].explain.remote(item) for item in items))
        except Exception as exc:  # noqa: BLE001 - a failed model call is a 500 naming it, never a crash
            logger.exception("explaining with %s failed", name)
            return error(500, f"the model failed on this request: {type(exc).__name__}: {exc}")
        return JSONResponse(results if many else results[0])


def build_app(bundles: dict[str, Path], options: ServeOptions):
    """The Serve application for ``bundles`` ({name: verified folder})."""
    shared = {"device": options.device, "limits": asdict(options.limits), "bucket_ratio": options.bucket_ratio,
              "max_batch_size": options.max_batch_size, "batch_wait_ms": options.batch_wait_ms,
              "max_body_bytes": options.max_body_bytes}
    models = {name: BundleModel.options(name=f"bundle-{name}", num_replicas=options.replicas,
                                        ray_actor_options={"num_cpus": options.cpus_per_replica,
                                                           "num_gpus": options.resources_per_replica.get("GPU", 0)},
                                        max_ongoing_requests=max(256, 4 * options.max_batch_size)
                                        ).bind(str(path), shared)
              for name, path in bundles.items()}
    cards = {name: bundle_card(name, path) for name, path in bundles.items()}
    return Gateway.options(name="gateway").bind(models, cards, shared)


def start(bundles: dict[str, Path], options: ServeOptions) -> str:
    """Start Serve's HTTP proxy on ``options.host:port`` and deploy the bundles (Ray must be up);
    returns the base URL. Returns once every replica has loaded its bundle."""
    serve.start(http_options={"host": options.host, "port": options.port})
    serve.run(build_app(bundles, options), name=APP_NAME, route_prefix="/")
    return f"http://{options.host}:{options.port}"


def stop() -> None:
    serve.shutdown()
