"""Settings (a JSON file in the per-user config folder), secrets (the OS keyring), and the
environment variables of docs/configuration.md, which override both.

`resolve_config()` turns the three into one frozen `Config` that the rest of the app reads.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actor_trainer import APP_ID
from actor_trainer.core.atomic import atomic_write_json
from actor_trainer.core.errors import ConfigError, CorruptFileError, SecretStoreError
from actor_trainer.core.redact import register as register_secret

log = logging.getLogger(__name__)

RUNPOD_API_ROOT = "https://api.runpod.ai/v2"
KEYRING_SERVICE = APP_ID

WebhookMode = Literal["ngrok", "public", "poll"]
UrlStyle = Literal["s3", "presigned"]
SandboxTiming = Literal["fixed", "scaled"]

#: How long a simulated sandbox run takes: with the default "scaled" timing this is a 2000-step,
#: 512-px, batch-1 run (the default parameters), and other runs scale with steps, resolution and
#: batch like a GPU (sandbox/timing.py); "fixed" makes every run take it (the tests set that).
SANDBOX_SECONDS_DEFAULT = 20.0
SANDBOX_TIMING_DEFAULT: SandboxTiming = "scaled"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_ID, appauthor=False))


def data_home() -> Path:
    return Path(platformdirs.user_data_dir(APP_ID, appauthor=False))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_ID, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_ID, appauthor=False))


# --- GPU classes and prices (the cost estimate, core/estimate.py) -----------------------------------


@dataclass(frozen=True)
class GpuClass:
    """One RunPod Serverless GPU class: what it is, its flex price, and a default training speed.

    `seconds_per_step` is a rough default for a Flux LoRA step at 512 px, batch 1 on that class
    (docs/runpod.md, "Cost and time estimate"); only used before the endpoint has runs to learn from.
    """

    key: str  # RunPod's GPU pool id
    label: str
    memory_gb: int
    usd_per_second: float
    seconds_per_step: float


#: Flex prices per second from RunPod's Serverless pricing table (docs/runpod.md, "Cost and time
#: estimate"); editable in Settings (`gpu_prices`), which also records its own "as of" date.
GPU_PRICES_AS_OF = "2026-12-02"
GPU_CLASSES: dict[str, GpuClass] = {
    g.key: g
    for g in (
        GpuClass("AMPERE_16", "A4000 / A4500 / RTX 4000 16 GB", 16, 0.00016, 4.0),
        GpuClass("AMPERE_24", "A5000 / L4 / 3090 24 GB", 24, 0.00019, 3.0),
        GpuClass("ADA_24", "4090 PRO 24 GB", 24, 0.00031, 1.6),
        GpuClass("AMPERE_48", "A6000 / A40 48 GB", 48, 0.00034, 2.4),
        GpuClass("ADA_48_PRO", "L40 / L40S / 6000 Ada PRO 48 GB", 48, 0.00053, 1.4),
        GpuClass("AMPERE_80", "A100 80 GB", 80, 0.00076, 1.2),
        GpuClass("ADA_80_PRO", "H100 PRO 80 GB", 80, 0.00116, 0.8),
        GpuClass("HOPPER_141", "H200 PRO 141 GB", 141, 0.00155, 0.7),
    )
}
DEFAULT_GPU_CLASS = "AMPERE_24"


def gpu_table(prices: dict[str, float] | None = None) -> dict[str, GpuClass]:
    """The GPU classes with the user's prices (USD per second) applied over the defaults."""
    table = dict(GPU_CLASSES)
    for key, price in (prices or {}).items():
        base = table.get(key)
        if base is not None and price >= 0:
            table[key] = GpuClass(base.key, base.label, base.memory_gb, float(price), base.seconds_per_step)
    return table


class Settings(BaseModel):
    """What the user chose in Settings. Never holds a secret."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    data_dir: str | None = None
    runpod_endpoint_id: str | None = None
    runpod_api_root: str = RUNPOD_API_ROOT
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    url_style: UrlStyle = "s3"
    webhook_mode: WebhookMode = "ngrok"
    public_url: str | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int | None = Field(default=None, ge=0, le=65535)
    ngrok_path: str | None = None
    ngrok_region: str | None = None
    #: the domain the tunnel asks ngrok for: a reserved (paid) domain the user typed, or empty for
    #: "the account's dev domain, remembered after the first start" (docs/configuration.md)
    ngrok_domain: str | None = None
    #: written by the app, not typed: the domain ngrok gave the last tunnel, asked for again at the
    #: next start so the webhook URL stays the same across restarts (runtime_tunnel.py)
    ngrok_remembered_domain: str | None = None
    poll_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    sandbox_duration_s: float = Field(default=SANDBOX_SECONDS_DEFAULT, ge=0.5, le=3600.0)
    user_id: str = "actor_maker_user"
    theme: Literal["system", "light", "dark"] = "system"
    #: the endpoint's GPU class (a key of GPU_CLASSES) and the user's prices over the defaults
    gpu_class: str = DEFAULT_GPU_CLASS
    #: USD per second, by GPU class (0 or more; edited in Settings → GPU prices)
    gpu_prices: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(default_factory=dict)
    gpu_prices_as_of: str | None = None  # when the user's prices were checked (None: the defaults' date)
    #: "scaled" (the default): sandbox_duration_s is a 2000-step 512-px batch-1 run and others scale
    #: with steps, resolution and batch; "fixed": every sandbox run takes it (sandbox/timing.py)
    sandbox_timing: SandboxTiming = SANDBOX_TIMING_DEFAULT
    #: the worker contract spoken to the endpoint: "auto" (the highest version its workers stated,
    #: core/contract_memory.py), or "1"/"2" to override it (docs/worker-contract.md)
    worker_contract: Literal["auto", "1", "2"] = "auto"

    @classmethod
    def path(cls, folder: Path | None = None) -> Path:
        return (folder or config_dir()) / "settings.json"

    @classmethod
    def load(cls, folder: Path | None = None) -> Settings:
        """The saved settings, or defaults when none were saved. A corrupt file is an error."""
        path = cls.path(folder)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        try:
            return cls.model_validate(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise CorruptFileError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise CorruptFileError(path, f"{where}: {first.get('msg')}") from exc

    def save(self, folder: Path | None = None) -> None:
        atomic_write_json(self.path(folder), self.model_dump(mode="json"))


# --- secrets ------------------------------------------------------------------------------------

#: secret name → the environment variable that overrides it (headless use, tests, pipelines)
SECRET_ENV = {
    "runpod_api_key": "RUNPOD_API_KEY",
    "s3_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "ngrok_authtoken": "NGROK_AUTHTOKEN",
}
SECRET_LABELS = {
    "runpod_api_key": "RunPod API key",
    "s3_secret_access_key": "S3 secret access key",
    "ngrok_authtoken": "ngrok auth token",
}
# Backends that store secrets in a plain file or not at all: we never write through them silently.
_UNSAFE_BACKENDS = ("fail", "null", "plaintext", "PlaintextKeyring", "chainer")

NO_KEYRING_HINT = (
    "No OS keyring is available (on a headless Linux box there is often none). Set the "
    "environment variables instead: RUNPOD_API_KEY, AWS_SECRET_ACCESS_KEY, NGROK_AUTHTOKEN — "
    "or install and unlock a Secret Service keyring (GNOME Keyring, KWallet)."
)


class Secrets:
    """Secrets from the environment first, then the OS keyring. Never from a plain file."""

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        self.service = service

    def backend_name(self) -> str:
        import keyring

        backend = keyring.get_keyring()
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def keyring_usable(self) -> bool:
        import keyring
        from keyring.backends import chainer

        backend = keyring.get_keyring()
        if isinstance(backend, chainer.ChainerBackend):
            return any(not _is_unsafe(b) for b in backend.backends)
        return not _is_unsafe(backend)

    def get(self, name: str) -> str | None:
        """The secret, registered with `redact` so that no output or stored text ever shows it."""
        env = SECRET_ENV.get(name)
        value = os.environ[env] if env and os.environ.get(env) else self._keyring_get(name)
        register_secret(value)
        return value

    def source(self, name: str) -> str | None:
        """Where the secret comes from ("environment", "keyring") or None when it is not set."""
        env = SECRET_ENV.get(name)
        if env and os.environ.get(env):
            return "environment"
        return "keyring" if self._keyring_get(name) else None

    def _keyring_get(self, name: str) -> str | None:
        if not self.keyring_usable():
            return None
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(self.service, name)
        except KeyringError as exc:
            log.warning("keyring read of %s failed: %s", name, type(exc).__name__)
            return None

    def set(self, name: str, value: str | None) -> None:
        """Store (or, with None/"", delete) a secret in the OS keyring."""
        if name not in SECRET_ENV:
            raise ValueError(f"unknown secret {name!r}")
        if not self.keyring_usable():
            raise SecretStoreError(f"Cannot store the {SECRET_LABELS[name]}: no OS keyring.", NO_KEYRING_HINT)
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            if value:
                keyring.set_password(self.service, name, value)
            else:
                try:
                    keyring.delete_password(self.service, name)
                except PasswordDeleteError:
                    pass
        except KeyringError as exc:
            raise SecretStoreError(
                f"The OS keyring refused to store the {SECRET_LABELS[name]} ({type(exc).__name__}).",
                "Unlock your keyring and try again, or use the environment variables.",
            ) from exc


def _is_unsafe(backend: object) -> bool:
    module = type(backend).__module__.rsplit(".", 1)[-1]
    name = type(backend).__name__
    return module in _UNSAFE_BACKENDS or name in _UNSAFE_BACKENDS or getattr(backend, "priority", 1) <= 0


# --- the resolved configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class StorageConfig:
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    access_key_id: str | None
    secret_access_key: str | None = field(repr=False)  # never in a repr (printed configs, tracebacks)
    url_style: UrlStyle


@dataclass(frozen=True)
class Config:
    """Everything the services need, with the environment applied. Holds secrets: never log it."""

    data_dir: Path
    data_dir_is_default: bool
    sandbox: bool
    runpod_base_url: str | None  # None in sandbox mode until the sandbox has started
    runpod_api_key: str | None = field(repr=False)
    endpoint_label: str  # "SANDBOX" or the endpoint id
    storage: StorageConfig | None  # None: the sandbox's local bucket
    webhook_mode: WebhookMode
    public_url: str | None
    webhook_host: str
    webhook_port: int
    ngrok_authtoken: str | None = field(repr=False)
    ngrok_path: Path | None
    ngrok_region: str | None
    poll_seconds: float
    sandbox_duration_s: float
    user_id: str
    #: things the user should know about this configuration (shown by the CLI and the console)
    warnings: tuple[str, ...] = ()
    gpu_class: str = DEFAULT_GPU_CLASS
    gpu_prices: dict[str, float] = field(default_factory=dict)  # the user's, over GPU_CLASSES
    gpu_prices_as_of: str = GPU_PRICES_AS_OF
    sandbox_timing: SandboxTiming = SANDBOX_TIMING_DEFAULT
    worker_contract: Literal["auto", "1", "2"] = "auto"  # ACTOR_TRAINER_WORKER_CONTRACT over the setting
    #: the ngrok token is still to be read (`resolve_config(ngrok_token_later=True)`; the services do it)
    ngrok_token_pending: bool = False

    def with_ngrok_token(self, secrets: Secrets | None = None) -> Config:
        """This configuration with the ngrok token read, if it was left for later (blocking: the keyring)."""
        if not self.ngrok_token_pending:
            return self
        token = (secrets or Secrets()).get("ngrok_authtoken")
        return replace(self, ngrok_authtoken=token, ngrok_token_pending=False)

    def describe(self) -> str:
        """One safe line for logs and the status bar (no secrets)."""
        where = "SANDBOX (simulated RunPod, local bucket)" if self.sandbox else f"RunPod endpoint {self.endpoint_label}"
        return f"{where}; library {self.data_dir}; webhook mode {self.webhook_mode}"


def resolve_config(
    settings: Settings, secrets: Secrets | None = None, *, data_dir: Path | None = None, ngrok_token_later: bool = False
) -> Config:
    """The settings with the environment and secrets applied. The keyring is asked only for what is used:
    the RunPod key with an endpoint, the S3 secret with a bucket, the ngrok token unless `ngrok_token_later`
    (then `Config.with_ngrok_token`, behind the app's first paint: keyring costs ~0.2 s to load)."""
    env = os.environ
    secrets = secrets or Secrets()

    chosen_dir = (
        data_dir
        or _env_path("ACTOR_TRAINER_DATA_DIR")
        or (Path(settings.data_dir).expanduser() if settings.data_dir else None)
    )
    library = chosen_dir or data_home() / "library"

    endpoint_id = env.get("RUNPOD_ENDPOINT_ID") or settings.runpod_endpoint_id
    api_key = secrets.get("runpod_api_key") if endpoint_id else None  # no endpoint: the sandbox either way
    sandbox = not (endpoint_id and api_key)
    warnings: list[str] = []
    if endpoint_id and not api_key:
        where = "" if secrets.keyring_usable() else " " + NO_KEYRING_HINT
        warnings.append(
            f"RunPod endpoint {endpoint_id} is set but no API key was found, so the SANDBOX is used. "
            f"Set RUNPOD_API_KEY or store the key in Settings.{where}"
        )
    api_root = env.get("ACTOR_TRAINER_RUNPOD_BASE_URL") or settings.runpod_api_root
    base_url = None if sandbox else f"{api_root.rstrip('/')}/{endpoint_id}"

    bucket = env.get("ACTOR_TRAINER_S3_BUCKET") or settings.s3_bucket
    storage = None
    if bucket:
        storage = StorageConfig(
            bucket=bucket,
            prefix=env.get("ACTOR_TRAINER_S3_PREFIX", settings.s3_prefix),
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or settings.s3_endpoint_url,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or settings.s3_region,
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or settings.s3_access_key_id,
            secret_access_key=secrets.get("s3_secret_access_key"),
            url_style=settings.url_style,
        )
    elif not sandbox:
        raise ConfigError(
            "A RunPod endpoint is configured but no bucket: the worker could not download the training data.",
            "Set the S3 bucket in Settings (or ACTOR_TRAINER_S3_BUCKET).",
        )

    mode_text = env.get("ACTOR_TRAINER_WEBHOOK_MODE") or settings.webhook_mode
    if mode_text not in ("ngrok", "public", "poll"):
        raise ConfigError(
            f"ACTOR_TRAINER_WEBHOOK_MODE={mode_text!r} is not a webhook mode.",
            "Use ngrok, public or poll.",
        )
    mode: WebhookMode = mode_text  # type: ignore[assignment]
    public_url = env.get("ACTOR_TRAINER_PUBLIC_URL") or settings.public_url
    if mode == "public" and not public_url:
        raise ConfigError(
            "Webhook mode is 'public' but no public URL is set.",
            "Set ACTOR_TRAINER_PUBLIC_URL (or the public URL in Settings) to the base URL that reaches this app.",
        )

    port_text = env.get("ACTOR_TRAINER_WEBHOOK_PORT")
    try:
        port = int(port_text) if port_text else (settings.webhook_port or 0)
        poll = float(env.get("ACTOR_TRAINER_POLL_SECONDS") or settings.poll_seconds)
        sandbox_seconds = float(env.get("ACTOR_TRAINER_SANDBOX_SECONDS") or settings.sandbox_duration_s)
    except ValueError as exc:
        raise ConfigError(f"Invalid number in the environment: {exc}.", "Fix the variable and try again.") from exc
    if poll <= 0:
        raise ConfigError("ACTOR_TRAINER_POLL_SECONDS must be positive.", "Use e.g. 30.")

    ngrok_later = ngrok_token_later and not env.get(SECRET_ENV["ngrok_authtoken"])
    return Config(
        data_dir=library,
        data_dir_is_default=chosen_dir is None,
        sandbox=sandbox,
        runpod_base_url=base_url,
        runpod_api_key=None if sandbox else api_key,
        endpoint_label="SANDBOX" if sandbox else str(endpoint_id),
        storage=storage,
        webhook_mode=mode,
        public_url=public_url,
        webhook_host=env.get("ACTOR_TRAINER_WEBHOOK_HOST") or settings.webhook_host,
        webhook_port=port,
        ngrok_authtoken=None if ngrok_later else secrets.get("ngrok_authtoken"),
        ngrok_path=Path(settings.ngrok_path) if settings.ngrok_path else None,
        ngrok_region=settings.ngrok_region,
        poll_seconds=poll,
        sandbox_duration_s=sandbox_seconds,
        user_id=settings.user_id,
        warnings=tuple(warnings),
        gpu_class=env.get("ACTOR_TRAINER_GPU_CLASS") or settings.gpu_class,
        gpu_prices=dict(settings.gpu_prices),
        gpu_prices_as_of=settings.gpu_prices_as_of or GPU_PRICES_AS_OF,
        sandbox_timing=_env_choice(  # type: ignore[arg-type]
            "ACTOR_TRAINER_SANDBOX_TIMING",
            settings.sandbox_timing,
            ("scaled", "fixed"),
            "Use scaled (a run's time follows its steps, resolution and batch) or fixed.",
        ),
        ngrok_token_pending=ngrok_later,
        worker_contract=_env_choice(  # type: ignore[arg-type]
            "ACTOR_TRAINER_WORKER_CONTRACT", settings.worker_contract, ("auto", "1", "2"), "Use auto, 1 or 2."
        ),
    )


def _env_choice(name: str, setting: str, choices: tuple[str, ...], hint: str) -> str:
    """The environment variable `name` when set (one of `choices`, any case), else the setting."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return setting
    if value.strip().lower() not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}.", hint)
    return value.strip().lower()


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None
